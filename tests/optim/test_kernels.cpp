// The cpu optimizer kernels (sum_squares, adamw_update, muon_momentum, muon_update) against the reference ones on
// random inputs at odd sizes, threaded ones included, and a muon_adamw step of a model on both.
// Not here: the update rules themselves (test_adamw.cpp, test_muon.cpp prove the reference right).
#include <catch2/catch.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/optim/muon_adamw.hpp>

#include "optim/helpers.hpp"
#include "support/compare.hpp"

using namespace recur;

namespace {

std::vector<float> random_values(std::int64_t n, rng& gen, double lo = -2, double hi = 2) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(lo + (hi - lo) * gen.uniform());
    return v;
}

std::vector<double> widened(const std::vector<float>& v) { return {v.begin(), v.end()}; }

/// Runs `run` for each backend on copies of the same random w, m, v and g, and compares what it
/// leaves in w, m and v.
template <class Run>
void compare(std::int64_t n, Run run) {
    rng gen(static_cast<std::uint64_t>(n));
    const auto w = random_values(n, gen), m = random_values(n, gen), v = random_values(n, gen, 0, 1),
               g = random_values(n, gen);
    auto wr = w, mr = m, vr = v, wc = w, mc = m, vc = v;
    run.template operator()<reference>(wr.data(), mr.data(), vr.data(), g.data(), n);
    run.template operator()<cpu>(wc.data(), mc.data(), vc.data(), g.data(), n);
    CHECK(test::relative_error(widened(wc), widened(wr)) < 1e-6);
    CHECK(test::relative_error(widened(mc), widened(mr)) < 1e-6);
    CHECK(test::relative_error(widened(vc), widened(vr)) < 1e-6);
}

}  // namespace

TEST_CASE("cpu optimizer kernels match the reference ones", "[optim][cpu]") {
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 33, 257, 100003);
    DYNAMIC_SECTION("n=" << n) {
        SECTION("sum_squares") {
            rng gen(1);
            const auto g = random_values(n, gen);
            double ref = 0, got = 0;
            kernels::sum_squares<reference>::run({.out = &ref, .x = g.data(), .n = n});
            kernels::sum_squares<cpu>::run({.out = &got, .x = g.data(), .n = n});
            CHECK(got == Approx(ref).epsilon(1e-13));
        }
        SECTION("adamw_update") {
            adamw_coefficients c;
            c.decay = 1 - 1e-3 * 0.1;
            c.step_size = 1e-3 / (1 - 0.9 * 0.9);
            c.inv_sqrt_bias2 = 1 / std::sqrt(1 - 0.95 * 0.95);
            compare(n, [&]<class B>(float* w, float* m, float* v, const float* g, std::int64_t count) {
                kernels::adamw_update<B>::run({.w = w, .m = m, .v = v, .g = g, .n = count, .coefficients = c});
            });
        }
        SECTION("muon_momentum") {
            compare(n, []<class B>(float*, float* m, float* u, const float* g, std::int64_t count) {
                kernels::muon_momentum<B>::run({.m = m, .u = u, .g = g, .n = count, .beta = 0.95f});
            });
        }
        SECTION("muon_update") {
            compare(n, []<class B>(float* w, float*, float*, const float* x, std::int64_t count) {
                kernels::muon_update<B>::run({.w = w, .x = x, .n = count, .decay = 0.9999f, .step = 0.02f});
            });
        }
    }
}

TEST_CASE("a muon_adamw step on cpu matches the reference", "[optim][cpu]") {
    auto r = test::tiny_model<reference>(4);
    auto c = test::tiny_model<cpu>(4);
    const auto pr = named_parameters<reference>(r);
    const auto pc = named_parameters<cpu>(c);
    muon_adamw_options o;
    o.muon.lr = 0.05;
    o.adamw.lr = 0.05;
    muon_adamw<reference> opt_r(pr, o);
    muon_adamw<cpu> opt_c(pc, o);
    for (int step = 0; step < 2; ++step) {
        test::forward_backward(r);
        test::forward_backward(c);
        opt_r.step();
        opt_c.step();
        opt_r.zero_grad();
        opt_c.zero_grad();
    }
    REQUIRE(pr.size() == pc.size());
    for (std::size_t i = 0; i < pr.size(); ++i) {
        INFO(pr[i].name);
        CHECK(test::relative_error(pc[i].tensor->to_host<double>(), pr[i].tensor->to_host<double>()) < 1e-4);
    }
}
