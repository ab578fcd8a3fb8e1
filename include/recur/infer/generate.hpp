// generate(): a batch of prompts of different lengths -> new tokens, through one decoder (prefill each
// prompt, then decode all unfinished rows together), with sampling, stop rules, self-speculative
// decoding and statistics. Not here: the cached forward itself (decoder.hpp) or tokenization
// (io/tokenizer.hpp).
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

/// Self-speculative decoding of a recurrent model (docs/method.md section 11): each round drafts
/// `lookahead` tokens greedily at `draft_r` iterations, feeds them once at the full r, and keeps the
/// longest prefix the full-depth predictions agree with plus the full-depth token after it; every row
/// accepts its own prefix. Greedy only, with cache "full", no adaptive exit and no continuous
/// compute: then every token is the full-depth prediction, and the output equals plain decoding.
struct speculation_options {
    std::int64_t draft_r = 0;    ///< iterations per drafted token, in [1, r); 0: off
    std::int64_t lookahead = 4;  ///< tokens drafted per round (fewer near max_new_tokens or the capacity)
};

struct generation_options {
    std::int64_t max_new_tokens = 256;
    std::vector<std::int32_t> stop_tokens;  ///< a row ends when it samples one (it is not returned)
    sampling_options sampling;               ///< temperature 0: greedy
    decode_options decode;
    speculation_options speculation;
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
    /// Tokens the decode phase produced (the first new token of a row comes from its prefill).
    std::int64_t decoded_tokens = 0;
    /// Self-speculative decoding: rounds (one full-depth pass each), tokens drafted, drafts accepted.
    std::int64_t verify_passes = 0, drafted_tokens = 0, accepted_tokens = 0;
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
    /// The share of drafted tokens the full depth agreed with (0 without speculation).
    double acceptance_rate() const {
        return drafted_tokens > 0 ? static_cast<double>(accepted_tokens) / static_cast<double>(drafted_tokens) : 0.0;
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
    if (o.speculation.draft_r != 0) {
        const char* who = "recur::generate: self-speculative decoding ";
        check(RecurrentModel<Model>, who, "needs a recurrent model");
        check(o.speculation.draft_r >= 1 && o.speculation.draft_r < dec.options().r, who, "needs a draft r in [1, ",
              dec.options().r, "), got ", o.speculation.draft_r);
        check(o.speculation.lookahead >= 1, who, "needs a lookahead >= 1, got ", o.speculation.lookahead);
        check(o.sampling.temperature == 0, who, "is greedy (temperature 0), got temperature ", o.sampling.temperature);
        check(o.decode.cache.sharing == cache_sharing::full, who, "needs cache 'full', got '", o.decode.cache.name(), "'");
        check(o.decode.exit.criterion == exit_criterion::none, who, "does not combine with an adaptive exit");
        check(!o.decode.continuous, who, "does not combine with continuous compute");
    }

    generation_result res;
    res.tokens.resize(n);
    res.iterations.resize(n);
    std::vector<rng> gens;
    for (std::size_t i = 0; i < n; ++i) gens.emplace_back(keyed::mix(o.sampling.seed, i));
    std::vector<std::pair<float, std::int32_t>> scratch;
    std::vector<std::int64_t> active;
    std::vector<std::int32_t> next;
    // Records row i's new token t, which would go to position `at`; true when the row goes on after it.
    auto emit = [&](std::size_t i, std::int32_t t, std::int64_t iterations, std::int64_t at) {
        if (std::find(o.stop_tokens.begin(), o.stop_tokens.end(), t) != o.stop_tokens.end()) return false;
        res.tokens[i].push_back(t);
        res.iterations[i].push_back(iterations);
        if (std::ssize(res.tokens[i]) >= o.max_new_tokens || at >= capacity) return false;
        return !(o.stop_when && o.stop_when(i, res.tokens[i]));
    };
    // Samples row i's next token from its logits; queues it for the next step unless the row is finished.
    auto take = [&](std::size_t i, std::span<const float> logits, std::int64_t iterations) {
        const std::int32_t t = sample_token(logits, o.sampling, gens[i], &scratch);
        if (!emit(i, t, iterations, dec.length(static_cast<std::int64_t>(i)))) return;
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
    const auto logits_of = [v](const std::vector<float>& all, std::size_t k) { return std::span<const float>(all).subspan(k * v, v); };
    const std::int64_t draft_r = o.speculation.draft_r;
    std::vector<std::int64_t> before;
    std::vector<std::int32_t> drafts, draft_in, verify_in;
    while (!active.empty()) {
        const std::vector<std::int64_t> rows = std::exchange(active, {});
        const std::vector<std::int32_t> tokens = std::exchange(next, {});
        if (draft_r == 0) {
            const std::vector<float> logits = dec.step(rows, tokens).template to_host<float>();
            const auto its = dec.last_iterations();
            res.decoded_tokens += std::ssize(rows);
            for (std::size_t j = 0; j < rows.size(); ++j) take(static_cast<std::size_t>(rows[j]), logits_of(logits, j), its[j]);
            continue;
        }
        // A round of self-speculation: k drafts per row at draft_r, then one pass of k + 1 tokens at r.
        const std::size_t n_rows = rows.size();
        std::int64_t k = o.speculation.lookahead;
        before.clear();
        for (const auto row : rows) {
            const auto made = std::ssize(res.tokens[static_cast<std::size_t>(row)]);
            k = std::min({k, o.max_new_tokens - made - 1, capacity - dec.length(row) - 1});
            before.push_back(dec.length(row));
        }
        k = std::max<std::int64_t>(k, 0);
        const auto ku = static_cast<std::size_t>(k);
        drafts.assign(n_rows * ku, 0);
        draft_in = tokens;
        for (std::size_t d = 0; d < ku; ++d) {
            const std::vector<float> logits = dec.extend(rows, draft_in, 1, false, draft_r).template to_host<float>();
            for (std::size_t j = 0; j < n_rows; ++j)
                drafts[j * ku + d] = draft_in[j] = sample_token(logits_of(logits, j), o.sampling, gens[static_cast<std::size_t>(rows[j])], &scratch);
        }
        verify_in.clear();
        for (std::size_t j = 0; j < n_rows; ++j) {
            dec.rewind(rows[j], before[j]);
            verify_in.push_back(tokens[j]);
            verify_in.insert(verify_in.end(), drafts.begin() + static_cast<std::ptrdiff_t>(j * ku),
                             drafts.begin() + static_cast<std::ptrdiff_t>((j + 1) * ku));
        }
        const std::vector<float> logits = dec.extend(rows, verify_in, k + 1, true).template to_host<float>();
        ++res.verify_passes;
        res.drafted_tokens += static_cast<std::int64_t>(n_rows) * k;
        for (std::size_t j = 0; j < n_rows; ++j) {
            const auto i = static_cast<std::size_t>(rows[j]);
            std::int64_t kept = 0;  // inputs whose cache entries stay: those up to the last prediction used
            for (std::size_t d = 0; d <= ku; ++d) {
                // The full-depth prediction after input d, to go to position kept after it.
                const std::int32_t t = sample_token(logits_of(logits, j * (ku + 1) + d), o.sampling, gens[i], &scratch);
                kept = static_cast<std::int64_t>(d) + 1;
                ++res.decoded_tokens;
                if (!emit(i, t, dec.options().r, before[j] + kept)) break;
                if (d < ku && t == drafts[j * ku + d]) {
                    ++res.accepted_tokens;
                    continue;
                }
                active.push_back(rows[j]);
                next.push_back(t);
                break;
            }
            dec.rewind(rows[j], before[j] + kept);
        }
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
