// The cuda backend end to end against the reference backend: the keyed state noise (the same values
// for the same keys), the optimizer kernels through their tensors, a tiny recurrent model trained for
// a few steps with Muon + AdamW (loss per step and final parameters), and greedy decoding through the
// KV cache (the same tokens). Without a CUDA device every check is skipped, never passed; the file
// still compiles every model, training and decoding path for cuda. Not here: op-level checks
// (test_cuda.cu's op table), timings (scripts/gpu_check.sh).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <recur/backends/cuda.hpp>
#include <recur/backends/reference.hpp>
#include <recur/infer/generate.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/train/trainer.hpp>

#include "support/compare.hpp"
#include "support/skip.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using gpu = recur::cuda;
using ref = recur::reference;

namespace {

bool has_device() { return test::require_capability(cuda_available(), "a CUDA device"); }

std::vector<double> widened(const std::vector<float>& v) { return {v.begin(), v.end()}; }

}  // namespace

// Outside the unnamed namespace: trainer needs restore(), which these tests never call, and nvcc
// warns about unused functions with internal linkage.
namespace cuda_model_test {

/// Random tokens with next-token targets: row i of step s is a pure function of (s, i).
struct random_tokens {
    std::int64_t vocab = 11;
    std::int64_t drawn = 0;
    struct batch_t {
        std::vector<std::int32_t> ids, targets;
    };
    batch_t next(std::int64_t, std::int64_t batch, std::int64_t seq) {
        batch_t b;
        for (std::int64_t row = 0; row < batch; ++row) {
            rng gen(1000 + static_cast<std::uint64_t>(drawn++));
            std::vector<std::int32_t> tokens(static_cast<std::size_t>(seq + 1));
            for (auto& t : tokens) t = static_cast<std::int32_t>(gen.next() % static_cast<std::uint64_t>(vocab));
            b.ids.insert(b.ids.end(), tokens.begin(), tokens.end() - 1);
            b.targets.insert(b.targets.end(), tokens.begin() + 1, tokens.end());
        }
        return b;
    }
    nlohmann::json cursor() const { return {{"drawn", drawn}}; }
    void restore(const nlohmann::json& j) { drawn = j.at("drawn").get<std::int64_t>(); }
};

}  // namespace cuda_model_test

namespace {

using cuda_model_test::random_tokens;

model_config small_config() {
    return test::tiny_config({.vocab = 11, .d = 32, .heads = 4, .kv_heads = 2, .ffn = 48, .layers = 3, .seq = 16,
                              .init_std = 0.1});
}

train_config small_run() {
    train_config t;
    t.steps = 5;
    t.batch = 4;
    t.seq = 12;
    t.micro_batches = 2;
    t.curriculum.max = 3;
    t.curriculum.warmup_fraction = 0.5;
    t.backprop.max = 2;
    t.checkpoint_every = 0;
    t.log_every = 1000;  // into a string nobody reads
    return t;
}

/// Per-step losses and the final parameters of a tiny recurrent model (truncated-normal state noise,
/// so the keyed draw is part of it) trained with Muon + AdamW on backend B.
template <class B>
std::pair<std::vector<double>, std::vector<float>> train_small() {
    Recurrent<B> model(small_config(), 1, 1, 1, recurrence_options{}, 7);
    random_tokens data;
    muon_adamw_options o;
    o.muon.lr = 0.02;
    o.adamw.lr = 3e-3;
    muon_adamw<B> opt(named_parameters<B>(model), o);
    std::ostringstream log;
    trainer<B, Recurrent<B>, random_tokens, muon_adamw<B>> t(model, data, opt, small_run(), log);
    std::vector<double> losses;
    for (int s = 0; s < 5; ++s) losses.push_back(t.step().loss);
    std::vector<float> params;
    model.visit_parameters("", [&](const std::string&, Tensor<B>& p) {
        const auto v = p.template to_host<float>();
        params.insert(params.end(), v.begin(), v.end());
    });
    return {losses, params};
}

}  // namespace

TEST_CASE("cuda: the keyed state noise is the reference's for the same keys", "[cuda][random]") {
    if (!has_device()) return;
    const std::int64_t batch = 3, t = 17, c = 129;
    auto got = Tensor<gpu>::zeros({batch, t, c});
    auto want = Tensor<ref>::zeros({batch, t, c});
    const keyed_truncated_normal_args<float> args{.batch = batch, .t = t, .c = c, .base = 0x5eedull, .pos0 = 11, .std = 0.7};
    auto a = args;
    a.out = got.data<float>();
    kernels::keyed_truncated_normal<gpu>::run(a);
    a.out = want.data<float>();
    kernels::keyed_truncated_normal<ref>::run(a);
    CHECK(test::relative_error(widened(got.to_host<float>()), widened(want.to_host<float>())) < 1e-6);
}

TEST_CASE("cuda: sum_squares and the AdamW and Muon updates match the reference", "[cuda][optim]") {
    if (!has_device()) return;
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 257, 100003);
    rng gen(static_cast<std::uint64_t>(n));
    std::vector<float> w(static_cast<std::size_t>(n)), m(w.size()), v(w.size()), g(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        w[i] = static_cast<float>(gen.normal()), m[i] = static_cast<float>(gen.normal());
        v[i] = static_cast<float>(gen.uniform()), g[i] = static_cast<float>(gen.normal());
    }
    // Runs update(w, m, v, g) on tensors of backend B and returns what it leaves in w, m and v.
    const auto run = [&]<class B>(auto update) {
        auto tw = Tensor<B>::from_host(w, {n}), tm = Tensor<B>::from_host(m, {n}), tv = Tensor<B>::from_host(v, {n});
        const auto tg = Tensor<B>::from_host(g, {n});
        update.template operator()<B>(tw.template data<float>(), tm.template data<float>(), tv.template data<float>(),
                                      tg.template data<float>());
        return std::vector<std::vector<float>>{tw.template to_host<float>(), tm.template to_host<float>(),
                                               tv.template to_host<float>()};
    };
    const auto compare = [&](auto update) {
        const auto want = run.template operator()<ref>(update), got = run.template operator()<gpu>(update);
        for (std::size_t i = 0; i < 3; ++i) CHECK(test::relative_error(widened(got[i]), widened(want[i])) < 1e-6);
    };
    SECTION("sum_squares") {
        auto got = Tensor<gpu>::zeros({1}, dtype::f64);
        kernels::sum_squares<gpu>::run({.out = got.data<double>(), .x = Tensor<gpu>::from_host(g, {n}).data<float>(), .n = n});
        double want = 0;
        kernels::sum_squares<ref>::run({.out = &want, .x = g.data(), .n = n});
        CHECK(got.to_host<double>()[0] == Approx(want).epsilon(1e-12));
    }
    SECTION("adamw_update") {
        adamw_coefficients c;
        c.decay = 1 - 1e-3 * 0.1;
        c.step_size = 1e-3 / (1 - 0.9 * 0.9);
        c.inv_sqrt_bias2 = 1 / std::sqrt(1 - 0.95 * 0.95);
        compare([c, n]<class B>(float* tw, float* tm, float* tv, const float* tg) {
            kernels::adamw_update<B>::run({.w = tw, .m = tm, .v = tv, .g = tg, .n = n, .coefficients = c});
        });
    }
    SECTION("muon_momentum and muon_update") {
        compare([n]<class B>(float* tw, float* tm, float* tv, const float* tg) {
            kernels::muon_momentum<B>::run({.m = tm, .u = tv, .g = tg, .n = n, .beta = 0.95f});
            kernels::muon_update<B>::run({.w = tw, .x = tv, .n = n, .decay = 0.999f, .step = 0.02f});
        });
    }
}

TEST_CASE("cuda: a tiny recurrent model trains like on the reference, step by step", "[cuda][train]") {
    if (!has_device()) return;
    const auto [want_losses, want_params] = train_small<ref>();
    const auto [got_losses, got_params] = train_small<gpu>();
    REQUIRE(got_losses.size() == want_losses.size());
    for (std::size_t s = 0; s < got_losses.size(); ++s) {
        INFO("step " << s + 1);
        CHECK(got_losses[s] == Approx(want_losses[s]).epsilon(1e-4));
    }
    // Five Muon steps amplify f32 rounding differences a little (Newton-Schulz is not contractive).
    CHECK(test::relative_error(widened(got_params), widened(want_params)) < 1e-3);
}

TEST_CASE("cuda: greedy decoding through the KV cache gives the reference's tokens", "[cuda][infer]") {
    if (!has_device()) return;
    const auto config = small_config();
    generation_options o;
    o.max_new_tokens = 10;
    o.decode.r = 4;
    const std::vector<std::vector<std::int32_t>> prompts = {{1, 5, 7}, {2, 3, 4, 9, 10, 1}};
    const auto want = generate<ref>(Recurrent<ref>(config, 1, 1, 1, recurrence_options{}, 3), prompts, o);
    const auto got = generate<gpu>(Recurrent<gpu>(config, 1, 1, 1, recurrence_options{}, 3), prompts, o);
    CHECK(got.tokens == want.tokens);
}
