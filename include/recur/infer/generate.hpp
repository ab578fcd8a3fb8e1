// generate(): a batch of prompts of different lengths -> new tokens, through one decoder (prefill each
// prompt, then decode all unfinished rows together), with sampling, stop rules and statistics.
// Not here: the cached forward itself (decoder.hpp) or tokenization (io/tokenizer.hpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

#include <recur/core/random.hpp>
#include <recur/infer/decoder.hpp>
#include <recur/infer/sampling.hpp>

namespace recur {

struct generation_options {
    std::int64_t max_new_tokens = 256;
    std::vector<std::int32_t> stop_tokens;  ///< a row ends when it samples one (it is not returned)
    sampling_options sampling;               ///< temperature 0: greedy
    decode_options decode;
    /// Optional extra stop rule, asked after every new token: (prompt index, tokens so far) -> stop.
    std::function<bool(std::size_t, std::span<const std::int32_t>)> stop_when;
};

/// How many recurrence iterations the generated tokens used.
struct iteration_stats {
    double mean = 0;
    std::int64_t min = 0, max = 0;
    std::map<std::int64_t, std::int64_t> histogram;  ///< iterations -> tokens
};

struct generation_result {
    std::vector<std::vector<std::int32_t>> tokens;      ///< new tokens per prompt (stop token excluded)
    std::vector<std::vector<std::int64_t>> iterations;  ///< per new token: iterations behind its distribution
    std::int64_t prompt_tokens = 0, generated_tokens = 0;
    std::int64_t decoded_tokens = 0;  ///< tokens fed through decoder::step (the first new token comes from prefill)
    double prefill_seconds = 0, decode_seconds = 0;
    std::int64_t cache_bytes = 0;  ///< KV cache allocated at the end
    std::int64_t cache_slots = 0;  ///< core slots allocated (0 for an ordinary model)
    std::int64_t r = 1;            ///< iterations per token the decoder ran at most (1 for an ordinary model)

    iteration_stats iteration_summary() const {
        iteration_stats s;
        std::int64_t total = 0, count = 0;
        for (const auto& row : iterations)
            for (const auto it : row) {
                ++s.histogram[it];
                total += it;
                ++count;
            }
        if (count == 0) return s;
        s.mean = static_cast<double>(total) / static_cast<double>(count);
        s.min = s.histogram.begin()->first;
        s.max = s.histogram.rbegin()->first;
        return s;
    }
    /// Tokens per second of incremental decoding (prefill excluded).
    double decode_tokens_per_second() const {
        return decode_seconds > 0 ? static_cast<double>(decoded_tokens) / decode_seconds : 0.0;
    }
};

/// Generates up to max_new_tokens after each prompt (each at least one token). Row i samples with its
/// own generator seeded by (sampling.seed, i), so a prompt's output does not depend on the others.
template <Backend B, class Model>
generation_result generate(const Model& m, const std::vector<std::vector<std::int32_t>>& prompts,
                           const generation_options& o) {
    using clock = std::chrono::steady_clock;
    o.sampling.validate();
    check(!prompts.empty(), "recur::generate: no prompts");
    check(o.max_new_tokens >= 0, "recur::generate: max_new_tokens must be >= 0, got ", o.max_new_tokens);
    std::int64_t longest = 0;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        check(!prompts[i].empty(), "recur::generate: prompt ", i, " is empty (start it with BOS)");
        for (const auto id : prompts[i])
            check(id >= 0 && id < m.config.vocab_size, "recur::generate: prompt ", i, " holds token ", id,
                  " outside the vocabulary [0, ", m.config.vocab_size, ")");
        longest = std::max(longest, std::ssize(prompts[i]));
    }
    check(longest <= m.config.max_seq_len, "recur::generate: a prompt of ", longest, " tokens exceeds max_seq_len ",
          m.config.max_seq_len);
    const std::int64_t capacity = std::min(m.config.max_seq_len, std::max<std::int64_t>(longest + o.max_new_tokens, 1));
    const auto n = prompts.size();
    decoder<B, Model> dec(m, o.decode, static_cast<std::int64_t>(n), capacity);

    generation_result res;
    res.tokens.resize(n);
    res.iterations.resize(n);
    std::vector<rng> gens;
    for (std::size_t i = 0; i < n; ++i) gens.emplace_back(keyed::mix(o.sampling.seed, i));
    std::vector<std::pair<float, std::int32_t>> scratch;
    std::vector<std::int64_t> active;
    std::vector<std::int32_t> next;
    // Samples row i's next token from its logits; queues it for the next step unless the row is finished.
    auto take = [&](std::size_t i, std::span<const float> logits, std::int64_t iterations) {
        const std::int32_t t = sample_token(logits, o.sampling, gens[i], &scratch);
        if (std::find(o.stop_tokens.begin(), o.stop_tokens.end(), t) != o.stop_tokens.end()) return;
        res.tokens[i].push_back(t);
        res.iterations[i].push_back(iterations);
        if (std::ssize(res.tokens[i]) >= o.max_new_tokens || dec.length(static_cast<std::int64_t>(i)) >= capacity) return;
        if (o.stop_when && o.stop_when(i, res.tokens[i])) return;
        active.push_back(static_cast<std::int64_t>(i));
        next.push_back(t);
    };

    const auto t0 = clock::now();
    for (std::size_t i = 0; i < n; ++i) {
        const Tensor<B> logits = dec.prefill(static_cast<std::int64_t>(i), prompts[i]);
        res.prompt_tokens += std::ssize(prompts[i]);
        if (o.max_new_tokens > 0) take(i, logits.template to_host<float>(), dec.options().r);
    }
    const auto t1 = clock::now();
    const auto v = static_cast<std::size_t>(m.config.vocab_size);
    while (!active.empty()) {
        const std::vector<std::int64_t> rows = std::exchange(active, {});
        const std::vector<std::int32_t> tokens = std::exchange(next, {});
        const std::vector<float> logits = dec.step(rows, tokens).template to_host<float>();
        const auto its = dec.last_iterations();
        res.decoded_tokens += std::ssize(rows);
        for (std::size_t j = 0; j < rows.size(); ++j)
            take(static_cast<std::size_t>(rows[j]), std::span<const float>(logits).subspan(j * v, v), its[j]);
    }
    const auto t2 = clock::now();
    for (const auto& row : res.tokens) res.generated_tokens += std::ssize(row);
    res.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
    res.decode_seconds = std::chrono::duration<double>(t2 - t1).count();
    res.cache_bytes = dec.cache().bytes();
    res.cache_slots = dec.cache().core_slots();
    res.r = dec.options().r;
    return res;
}

}  // namespace recur
