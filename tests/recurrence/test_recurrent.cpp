// Recurrent<B, Prelude, Core, Coda>: whole-model finite-difference gradients with truncated backprop,
// pass-through retrofit equals the pruned LlamaModel, memory grows with k not n, cpu vs reference,
// the initial state's noise, traces, bad surgery specs.
// Not here: the (n, k) sampler (test_sampler.cpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>

#include "support/compare.hpp"
#include "support/gradcheck.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;

namespace {

model_config tiny_config(double init_std = 0.3) {
    return test::tiny_config({.vocab = 13, .seq = 16, .init_std = init_std});
}

template <class B>
std::pair<Tensor<B>, Tensor<B>> tokens() {
    const std::vector<std::int32_t> ids{1, 5, 2, 9, 3, 12, 7, 0, 10, 4}, targets{5, 2, 9, 3, 11, 7, 0, -100, 4, 6};
    return {Tensor<B>::from_host(ids, {2, 5}), Tensor<B>::from_host(targets, {2, 5})};
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
    return m;
}

}  // namespace

TEST_CASE("a tiny Recurrent model's gradients (r = 3, k = 2) match finite differences in double", "[recurrence][gradcheck]") {
    using B = reference64;
    Recurrent<B> m(tiny_config(), 1, 1, 1, recurrence_options{}, 7);
    const auto [ids, targets] = tokens<B>();
    // Truncated backprop differentiates the last k iterations with s_n held fixed, so the finite
    // differences perturb the weights with the warm state s_n frozen at its unperturbed value.
    recurrence_trace<B> trace;
    backward(cross_entropy(m.forward(ids, {1, 2}, 5, &trace), targets));
    const Tensor<B> warm = trace.warm_state;
    const auto params = named_parameters<B>(m);
    CHECK(params.size() == 1 + 9 + 1 + 9 + 9 + 1 + 1);  // embed, 3 blocks of 9, adapter, norm, head
    const auto results = test::finite_difference_check(
        params, [&] { return cross_entropy(m.forward(ids, {0, 2}, 5, nullptr, warm), targets).item(); });
    for (const auto& r : results) {
        INFO(r.name << ": relative error " << r.relative_error);
        CHECK(r.relative_error < 1e-6);
        CHECK(r.numeric_norm > 0);
    }
}

TEST_CASE("additive injection and zero or copied initial states are differentiable too", "[recurrence][gradcheck]") {
    using B = reference64;
    for (const auto init : {state_init::zeros, state_init::copy_embedding}) {
        recurrence_options o;
        o.init = init;
        o.inject = injection::additive;
        Recurrent<B> m(tiny_config(), 1, 1, 1, o, 8);
        const auto [ids, targets] = tokens<B>();
        recurrence_trace<B> trace;
        backward(cross_entropy(m.forward(ids, {1, 2}, 0, &trace), targets));
        const Tensor<B> warm = trace.warm_state;
        const auto results = test::finite_difference_check(
            named_parameters<B>(m), [&] { return cross_entropy(m.forward(ids, {0, 2}, 0, nullptr, warm), targets).item(); }, 16);
        for (const auto& r : results) {
            INFO(r.name << ": relative error " << r.relative_error);
            CHECK(r.relative_error < 1e-6);
        }
    }
}

TEST_CASE("pass-through retrofit at r = 1 equals the LlamaModel with the unused layers removed", "[recurrence]") {
    using B = cpu;
    auto c = tiny_config(0.1);
    c.n_layers = 5;
    c.tie_embeddings = true;  // the recurrent head must become an untied copy
    const LlamaModel<B> source(c, 3);
    recurrence_options o;
    o.adapter = adapter_init::passthrough;
    const auto rec = retrofit(source, surgery_spec{{0}, {2, 3}, {4}}, o, 1);

    LlamaModel<B> pruned = source;  // drop layer 1
    pruned.layers.blocks.erase(pruned.layers.blocks.begin() + 1);
    pruned.layers.index.erase(pruned.layers.index.begin() + 1);

    const auto [ids, targets] = tokens<B>();
    no_grad off;
    const auto want = pruned.forward(ids).to_host<float>();
    const auto got = rec.forward(ids, 1).to_host<float>();
    CHECK(max_abs_diff(got, want) < 1e-5);
    // pass-through ignores the state, so until training moves the adapter every r gives the same logits
    CHECK(max_abs_diff(rec.forward(ids, 3).to_host<float>(), want) < 1e-5);
    // a randomly initialised adapter is a different function
    const auto random_adapter = retrofit(source, surgery_spec{{0}, {2, 3}, {4}}, recurrence_options{}, 1);
    CHECK(max_abs_diff(random_adapter.forward(ids, 1).to_host<float>(), want) > 1e-3);

    // The copy owns its weights: changing it leaves the source alone.
    auto params = named_parameters<B>(const_cast<std::remove_const_t<decltype(rec)>&>(rec));
    CHECK(params.back().name == "lm_head.weight");
    CHECK(params.back().tensor->buffer() != source.embed_tokens.weight.buffer());
    CHECK(params[1].name == "model.prelude.0.input_layernorm.weight");
}

TEST_CASE("activation memory of a training step grows with k, not with n", "[recurrence][memory]") {
    using B = cpu;
    auto c = tiny_config(0.05);
    c.d_model = 64;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.ffn_dim = 128;
    c.max_seq_len = 64;
    Recurrent<B> m(c, 1, 2, 1, recurrence_options{}, 2);
    rng gen(4);
    std::vector<std::int32_t> ids(4 * 64), targets(4 * 64);
    for (auto& x : ids) x = static_cast<std::int32_t>(gen.next() % 13);
    for (auto& x : targets) x = static_cast<std::int32_t>(gen.next() % 13);
    const auto ti = Tensor<B>::from_host(ids, {4, 64}), tt = Tensor<B>::from_host(targets, {4, 64});
    auto& pool = storage_pool<B>::instance();
    auto high_water = [&](iteration_split split) {
        backward(m.loss(ti, tt, split));  // allocates the gradient buffers once
        zero_grad<B>(m);
        const auto base = pool.stats().bytes_in_use;
        pool.reset_peak();
        backward(m.loss(ti, tt, split));
        zero_grad<B>(m);
        return static_cast<double>(pool.stats().peak_bytes_in_use - base);
    };
    const double shallow = high_water({0, 4}), deep = high_water({28, 4});
    INFO("activation high-water mark: n=0,k=4 " << shallow << " bytes; n=28,k=4 " << deep << " bytes");
    CHECK(deep <= 1.1 * shallow);
    CHECK(high_water({0, 8}) > 1.5 * shallow);  // and it does grow with k
}

TEST_CASE("cpu and reference give the same Recurrent loss and gradients", "[recurrence][cpu]") {
    const auto c = tiny_config(0.1);
    Recurrent<reference> ref(c, 1, 2, 1, recurrence_options{}, 9);
    Recurrent<cpu> fast(c, 1, 2, 1, recurrence_options{}, 9);
    const auto [ir, tr] = tokens<reference>();
    const auto [ic, tc] = tokens<cpu>();
    const auto lr = ref.loss(ir, tr, {2, 2}, 3);
    const auto lc = fast.loss(ic, tc, {2, 2}, 3);
    CHECK(lc.item() == Approx(lr.item()).epsilon(1e-5));
    backward(lr);
    backward(lc);
    test::check_same_gradients<reference, cpu>(ref, fast, 1e-4);
}

TEST_CASE("the trace reports the final state and per-iteration relative change", "[recurrence]") {
    using B = reference;
    Recurrent<B> m(tiny_config(0.1), 1, 1, 1, recurrence_options{}, 1);
    const auto [ids, targets] = tokens<B>();
    recurrence_trace<B> trace;
    no_grad off;
    m.forward(ids, {3, 2}, 0, &trace);
    CHECK(trace.final_state.shape() == Shape{2, 5, 16});
    REQUIRE(trace.relative_change.size() == 5);
    for (double r : trace.relative_change) CHECK((r > 0 && std::isfinite(r)));
    // identical step -> identical state noise -> identical logits; another step differs
    const auto a = m.forward(ids, {1, 1}, 4).to_host<float>();
    CHECK(max_abs_diff(a, m.forward(ids, {1, 1}, 4).to_host<float>()) == 0);
    CHECK(max_abs_diff(a, m.forward(ids, {1, 1}, 5).to_host<float>()) > 0);
}

TEST_CASE("the initial state is truncated normal noise keyed by row and position, the same on one thread or two", "[recurrence]") {
    using B = cpu;
    Recurrent<B> m(tiny_config(0.1), 1, 1, 1, recurrence_options{}, 1);
    const std::int64_t c = m.config.d_model;
    const auto e = Tensor<B>::zeros({8, 128, c});  // enough values to be drawn in parallel
    const auto s = m.initial_state(e, 7).to_host<float>();
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto serial = m.initial_state(e, 7).to_host<float>();
    omp_set_num_threads(threads);
    CHECK(max_abs_diff(s, serial) == 0);
    // A token on its own at position 100 gets row (0, 100) of the full draw.
    const auto alone = m.initial_state(Tensor<B>::zeros({1, 1, c}), 7, 100).to_host<float>();
    CHECK(max_abs_diff(alone, std::vector<float>(s.begin() + 100 * c, s.begin() + 101 * c)) == 0);
    CHECK(max_abs_diff(s, m.initial_state(e, 8).to_host<float>()) > 0);
    // N(0, 2 / (5 d)) cut at 3 standard deviations: the cut leaves 0.9866 of the standard deviation.
    const double sd = std::sqrt(2.0 / (5.0 * static_cast<double>(c)));
    double sum = 0, squares = 0, largest = 0;
    for (float x : s) sum += x, squares += double(x) * x, largest = std::max(largest, std::abs(double(x)));
    const double n = static_cast<double>(s.size()), mean = sum / n;
    CHECK(std::abs(mean) < 0.05 * sd);
    CHECK(std::sqrt(squares / n - mean * mean) == Approx(0.9866 * sd).epsilon(0.03));
    CHECK(largest <= 3 * sd * (1 + 1e-6));
    CHECK(largest > 2.5 * sd);
}

TEST_CASE("the cpu state noise kernel draws the reference's values, redraws beyond 3 included", "[recurrence][cpu]") {
    // The cpu kernel runs the first attempt on SIMD batches (keys and cosines; the log lane by lane)
    // and redraws the rare values beyond the cut one by one; the reference is keyed::truncated_normal.
    for (const std::int64_t c : {3, 8, 13, 64}) {
        INFO("c = " << c);
        const std::int64_t batch = 3, t = 200, n = batch * t * c;
        std::vector<float> got(static_cast<std::size_t>(n)), want(got.size());
        kernels::keyed_truncated_normal<cpu>::run(
            {.out = got.data(), .batch = batch, .t = t, .c = c, .base = 12345, .pos0 = 7, .std = 0.5});
        kernels::keyed_truncated_normal<reference>::run(
            {.out = want.data(), .batch = batch, .t = t, .c = c, .base = 12345, .pos0 = 7, .std = 0.5});
        std::int64_t beyond = 0;  // values whose first attempt fell beyond 3 and was redrawn
        for (std::int64_t i = 0; i < batch; ++i)
            for (std::int64_t j = 0; j < t; ++j)
                for (std::int64_t k = 0; k < c; ++k) {
                    const std::size_t at = static_cast<std::size_t>((i * t + j) * c + k);
                    const std::uint64_t key = keyed::mix(keyed::row_key(12345, i, 7 + j), static_cast<std::uint64_t>(k));
                    const double u1 = 1.0 - keyed::uniform(keyed::mix(key, 0)), u2 = keyed::uniform(keyed::mix(key, 1));
                    beyond += std::abs(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2)) > 3.0;
                    CHECK(std::abs(want[at]) <= 1.5f);
                    if (std::abs(got[at] - want[at]) > 2e-7f * std::abs(want[at])) {
                        INFO("(" << i << ", " << j << ", " << k << ")");
                        CHECK(got[at] == want[at]);
                    }
                }
        if (c >= 13) CHECK(beyond > 0);
    }
}

TEST_CASE("forward_at gives forward(ids, r) for every r of a sweep from one pass", "[recurrence]") {
    using B = cpu;
    Recurrent<B> m(tiny_config(0.1), 1, 2, 1, recurrence_options{}, 2);
    const auto [ids, targets] = tokens<B>();
    no_grad off;
    const std::vector<std::int64_t> rs{1, 2, 5, 8};
    const auto all = m.forward_at(ids, rs, 3);
    REQUIRE(all.size() == rs.size());
    for (std::size_t i = 0; i < rs.size(); ++i) {
        INFO("r = " << rs[i]);
        CHECK(max_abs_diff(all[i].to_host<float>(), m.forward(ids, {0, rs[i]}, 3).to_host<float>()) == 0);
    }
    CHECK_THROWS_WITH(m.forward_at(ids, {}), Contains("no iteration counts"));
    CHECK_THROWS_WITH(m.forward_at(ids, {2, 2}), Contains("strictly increasing"));
    CHECK_THROWS_WITH(m.forward_at(ids, {0, 1}), Contains(">= 1"));
}

TEST_CASE("bad surgery specs and iteration counts are rejected", "[recurrence][errors]") {
    using B = reference;
    auto c = tiny_config();
    c.n_layers = 4;
    const LlamaModel<B> source(c, 1);
    CHECK_THROWS_WITH(retrofit(source, {{0}, {4}, {}}, {}, 1), Contains("layer 4") && Contains("4 layers"));
    CHECK_THROWS_WITH(retrofit(source, {{1}, {0}, {3}}, {}, 1), Contains("increasing"));
    CHECK_THROWS_WITH(retrofit(source, {{0}, {2, 2}, {3}}, {}, 1), Contains("unique"));
    CHECK_THROWS_WITH(retrofit(source, {{0}, {}, {3}}, {}, 1), Contains("at least one layer"));
    Recurrent<B> m(tiny_config(), 1, 1, 1, {}, 1);
    const auto [ids, targets] = tokens<B>();
    CHECK_THROWS_WITH(m.forward(ids, iteration_split{0, 0}), Contains("n + k >= 1"));
}
