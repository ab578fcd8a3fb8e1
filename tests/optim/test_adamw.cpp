// AdamW: three steps (with lr multipliers) equal the closed form per step in double, on every
// backend; parameters without a gradient stay; bad options throw.
// Not here: state files (test_state.cpp), cpu kernels against the reference (test_kernels.cpp).
#include <catch2/catch.hpp>

#include <cmath>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/optim/adamw.hpp>

#include "optim/helpers.hpp"
#include "support/compare.hpp"

using namespace recur;
using Catch::Contains;

namespace {

template <class B>
void check_adamw_by_hand(double tolerance) {
    const std::vector<double> w0{0.5, -0.25, 1.0, 2.0, -1.5, 0.125}, b0{0.1, -0.2, 0.3};
    const std::vector<std::vector<double>> gw{{0.1, -0.2, 0.3, 0.0, 1.0, -2.0},
                                              {-0.5, 0.25, 0.3, 1e-3, -1.0, 0.5},
                                              {2.0, -0.1, 0.0, 0.4, 0.2, -0.3}},
        gb{{1.0, 0.0, -1.0}, {0.5, 0.5, 0.5}, {-0.3, 0.2, 0.1}};
    const double multipliers[3] = {1.0, 0.5, 2.0};
    adamw_options o;
    o.lr = 0.01;
    o.weight_decay = 0.1;

    // By hand: torch.optim.AdamW's closed form, step t = 1, 2, 3.
    auto expect = [&](std::vector<double> w, const std::vector<std::vector<double>>& grads) {
        std::vector<double> m(w.size(), 0.0), v(w.size(), 0.0);
        for (int t = 1; t <= 3; ++t) {
            const double lr = o.lr * multipliers[t - 1];
            for (std::size_t i = 0; i < w.size(); ++i) {
                const double g = grads[static_cast<std::size_t>(t - 1)][i];
                w[i] *= 1 - lr * o.weight_decay;
                m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
                v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
                const double m_hat = m[i] / (1 - std::pow(o.beta1, t)), v_hat = v[i] / (1 - std::pow(o.beta2, t));
                w[i] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
            }
        }
        return w;
    };

    Tensor<B> w = test::parameter<B>(w0, {2, 3}), b = test::parameter<B>(b0, {3}), frozen = test::parameter<B>({7}, {1});
    adamw<B> opt({{"w", &w}, {"b", &b}, {"frozen", &frozen}}, o);
    for (std::size_t t = 0; t < 3; ++t) {
        test::set_grad(w, gw[t]);
        test::set_grad(b, gb[t]);
        opt.step(multipliers[t]);
    }
    INFO(B::name);
    CHECK(opt.steps() == 3);
    CHECK(test::relative_error(w.template to_host<double>(), expect(w0, gw)) < tolerance);
    CHECK(test::relative_error(b.template to_host<double>(), expect(b0, gb)) < tolerance);
    CHECK(frozen.template to_host<double>() == std::vector<double>{7});
}

}  // namespace

TEST_CASE("three AdamW steps equal torch's closed form per step", "[optim][adamw]") {
    check_adamw_by_hand<reference64>(1e-14);
    check_adamw_by_hand<reference>(1e-6);
    check_adamw_by_hand<cpu>(1e-6);
}

TEST_CASE("AdamW's defaults are those of docs/method.md section 7", "[optim][adamw]") {
    const adamw_options o;
    CHECK(o.beta1 == 0.9);
    CHECK(o.beta2 == 0.95);
    CHECK(o.eps == 1e-8);
    CHECK(o.lr == 5e-5);
    CHECK(o.weight_decay == 1e-4);
}

TEST_CASE("AdamW zero_grad keeps the buffers, bad parameters and options throw", "[optim][adamw]") {
    Tensor<reference> w = test::parameter<reference>({1, 2}, {2});
    test::set_grad(w, {3, 4});
    const void* buffer = w.grad().raw_data();
    adamw<reference> opt({{"w", &w}});
    opt.zero_grad();
    CHECK(w.grad().to_host<double>() == std::vector<double>{0, 0});
    CHECK(w.grad().raw_data() == buffer);

    Tensor<reference> other = test::parameter<reference>({1}, {1});
    CHECK_THROWS_WITH(adamw<reference>({{"w", &w}, {"w", &other}}), Contains("two parameters are named 'w'"));
    Tensor<reference> undefined;
    CHECK_THROWS_WITH(adamw<reference>({{"u", &undefined}}), Contains("'u' is undefined"));
    Tensor<reference> strided = Tensor<reference>::zeros({2, 3}).transpose();
    CHECK_THROWS_WITH(adamw<reference>({{"t", &strided}}), Contains("'t'") && Contains("not contiguous"));
    adamw_options o;
    o.beta2 = 1.0;
    CHECK_THROWS_WITH(adamw<reference>({{"w", &w}}, o), Contains("beta2"));

    // A parameter replaced by one of another shape is caught at the next step.
    w = test::parameter<reference>({1, 2, 3}, {3});
    test::set_grad(w, {1, 1, 1});
    CHECK_THROWS_WITH(opt.step(), Contains("'w'") && Contains("(3)") && Contains("(2)"));
}
