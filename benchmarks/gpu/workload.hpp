// The GPU check's workloads, written once for any backend (scripts/gpu_check.sh runs them on cuda;
// expected.cpp runs the same ones on cpu here and commits their losses): train model S or M from a
// seed on structured synthetic tokens and keep each step's loss; time training steps of a shape
// (tokens/s and credited model FLOPs per second); time greedy decoding at a depth r. Not here: the
// cuBLAS peak or the JSON report (check.cu), the command line of the expected losses (expected.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/infer/generate.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/recur.hpp>
#include <recur/train/flops.hpp>
#include <recur/train/trainer.hpp>

namespace recur::gpu_check {

/// A recurrent model shape with the batch it is trained at.
struct shape {
    std::string name;
    model_config config;
    std::int64_t prelude = 2, core = 2, coda = 2, batch = 8, seq = 256, micro_batches = 1;
};

/// Model "S" of the benchmarks (benchmarks/README.md): vocab 4096, d 256, ffn 704, (2, 2, 2), B 8, T 256.
inline shape model_s() {
    shape s;
    s.name = "S";
    s.config.vocab_size = 4096, s.config.d_model = 256, s.config.ffn_dim = 704;
    s.config.n_heads = 8, s.config.n_kv_heads = 4, s.config.max_seq_len = 256;
    return s;
}

/// Model "M": vocab 8192, d 512, ffn 1408, (2, 4, 2), B 4, T 256.
inline shape model_m() {
    shape s;
    s.name = "M", s.core = 4, s.batch = 4;
    s.config.vocab_size = 8192, s.config.d_model = 512, s.config.ffn_dim = 1408;
    s.config.n_heads = 8, s.config.n_kv_heads = 4, s.config.max_seq_len = 256;
    return s;
}

/// TinyLlama-1.1B's dimensions (vocab 32000, d 2048, 32 heads, 4 kv heads, ffn 5632) retrofitted as
/// (4, 8, 4) layers, T 1024, one sequence per micro-batch.
inline shape tinyllama_1b() {
    shape s;
    s.name = "tinyllama-1.1B (4, 8, 4)";
    s.prelude = 4, s.core = 8, s.coda = 4, s.batch = 4, s.seq = 1024, s.micro_batches = 4;
    s.config.vocab_size = 32000, s.config.d_model = 2048, s.config.ffn_dim = 5632;
    s.config.n_heads = 32, s.config.n_kv_heads = 4, s.config.max_seq_len = 2048;
    s.config.rope.theta = 10000;
    return s;
}

/// Tokens with structure a model learns within a few steps: each row is a walk t_{i+1} = (a t_i + b +
/// noise) mod 256 over the first 256 ids (so the loss falls from log V at once), with (a, b) drawn per
/// row. Row j of the whole stream is a pure function of (seed, j).
struct synthetic_tokens {
    std::int64_t vocab = 4096;
    std::uint64_t seed = 1;
    std::int64_t drawn = 0;

    struct batch_t {
        std::vector<std::int32_t> ids, targets;
    };
    batch_t next(std::int64_t, std::int64_t batch, std::int64_t seq) {
        batch_t out;
        out.ids.reserve(static_cast<std::size_t>(batch * seq));
        out.targets.reserve(out.ids.capacity());
        for (std::int64_t row = 0; row < batch; ++row) {
            rng gen(seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(drawn++));
            const auto v = static_cast<std::uint64_t>(std::min<std::int64_t>(vocab, 256));
            const std::uint64_t a = 1 + gen.next() % 7, b = gen.next() % v;
            std::uint64_t t = gen.next() % v;
            std::vector<std::int32_t> walk(static_cast<std::size_t>(seq + 1));
            for (auto& w : walk) {
                w = static_cast<std::int32_t>(t);
                t = (a * t + b + (gen.next() % 8 == 0 ? gen.next() % 3 : 0)) % v;
            }
            out.ids.insert(out.ids.end(), walk.begin(), walk.end() - 1);
            out.targets.insert(out.targets.end(), walk.begin() + 1, walk.end());
        }
        return out;
    }
    nlohmann::json cursor() const { return {{"seed", seed}, {"drawn", drawn}}; }
    void restore(const nlohmann::json& j) {
        seed = j.at("seed").get<std::uint64_t>();
        drawn = j.at("drawn").get<std::int64_t>();
    }
};

/// Muon + AdamW at learning rates that move a small model within 20 steps.
inline muon_adamw_options check_optimizer() {
    muon_adamw_options o;
    o.muon.lr = 0.02;
    o.adamw.lr = 3e-3;
    return o;
}

/// The run both backends train: curriculum up to r = 4, backprop depth 2, Muon + AdamW, no files.
inline train_config check_run(const shape& s, std::int64_t steps) {
    train_config t;
    t.steps = steps;
    t.batch = s.batch;
    t.seq = s.seq;
    t.micro_batches = s.micro_batches;
    t.lr.warmup_fraction = 0.1;
    t.curriculum.max = 4;
    t.curriculum.warmup_fraction = 0.5;
    t.backprop.max = 2;
    t.checkpoint_every = 0;
    t.log_every = 1000;  // into a string nobody reads
    return t;
}

template <Backend B>
Recurrent<B> build(const shape& s, std::uint64_t seed) {
    return Recurrent<B>(s.config, s.prelude, s.core, s.coda, recurrence_options{}, seed);
}

/// Each step's mean loss over `steps` steps of check_run from `seed` (same model, data and draws on
/// every backend).
template <Backend B>
std::vector<double> train_losses(const shape& s, std::int64_t steps, std::uint64_t seed) {
    auto model = build<B>(s, seed);
    synthetic_tokens data{.vocab = s.config.vocab_size, .seed = seed};
    muon_adamw<B> opt(named_parameters<B>(model), check_optimizer());
    std::ostringstream log;
    trainer<B, Recurrent<B>, synthetic_tokens, muon_adamw<B>> t(model, data, opt, check_run(s, steps), log);
    std::vector<double> losses;
    for (std::int64_t i = 0; i < steps; ++i) losses.push_back(t.step().loss);
    return losses;
}

/// Training speed of `model` over `timed` steps after `warmup` (every step returns its loss to the
/// host, so each step's time includes all of its device work).
struct train_speed {
    double tokens_per_s = 0, model_flops_per_s = 0, seconds_per_step = 0, last_loss = 0;
};

template <Backend B>
train_speed time_training(Recurrent<B>& model, const shape& s, std::int64_t warmup, std::int64_t timed) {
    synthetic_tokens data{.vocab = s.config.vocab_size};
    muon_adamw<B> opt(named_parameters<B>(model), muon_adamw_options{});
    std::ostringstream log;
    trainer<B, Recurrent<B>, synthetic_tokens, muon_adamw<B>> t(model, data, opt, check_run(s, warmup + timed), log);
    for (std::int64_t i = 0; i < warmup; ++i) t.step();
    const double tokens0 = static_cast<double>(t.tokens_seen()), flops0 = t.flops_spent();
    const auto start = std::chrono::steady_clock::now();
    train_speed out;
    for (std::int64_t i = 0; i < timed; ++i) out.last_loss = t.step().loss;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.tokens_per_s = (static_cast<double>(t.tokens_seen()) - tokens0) / seconds;
    out.model_flops_per_s = (t.flops_spent() - flops0) / seconds;
    out.seconds_per_step = seconds / static_cast<double>(timed);
    return out;
}

/// Greedy decode tokens/s of one prompt at depth r (prefill excluded).
template <Backend B>
double decode_tokens_per_s(const Recurrent<B>& model, std::int64_t r, std::int64_t new_tokens) {
    generation_options o;
    o.max_new_tokens = new_tokens;
    o.decode.r = r;
    const std::vector<std::vector<std::int32_t>> prompt = {{1, 2, 3, 4, 5, 6, 7, 8}};
    return generate<B>(model, prompt, o).decode_tokens_per_second();
}

}  // namespace recur::gpu_check
