// grad_norm and clip_grad_norm: the global norm, scaling only above max_norm, and non-finite
// gradients returned untouched (NaN and infinity), on every backend.
// Not here: the optimizers (test_adamw.cpp, test_muon.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/optim/clip.hpp>

#include "optim/helpers.hpp"

using namespace recur;
using Catch::Contains;

namespace {

template <class B>
void check_clip() {
    INFO(B::name);
    Tensor<B> a = test::parameter<B>({0, 0}, {2}), b = test::parameter<B>({0}, {1, 1}), none = test::parameter<B>({5}, {1});
    const std::vector<named_parameter<B>> params{{"a", &a}, {"b", &b}, {"none", &none}};
    CHECK(grad_norm(params) == 0);  // no gradients yet

    test::set_grad(a, {3, 4});
    test::set_grad(b, {12});
    CHECK(grad_norm(params) == 13);
    CHECK(clip_grad_norm(params, 20.0) == 13);  // below max_norm: untouched
    CHECK(a.grad().template to_host<double>() == std::vector<double>{3, 4});

    CHECK(clip_grad_norm(params, 6.5) == 13);
    const double f = 6.5 / (13 + 1e-6);
    CHECK(a.grad().template to_host<double>()[0] == Approx(3 * f).epsilon(1e-6));
    CHECK(a.grad().template to_host<double>()[1] == Approx(4 * f).epsilon(1e-6));
    CHECK(b.grad().template to_host<double>()[0] == Approx(12 * f).epsilon(1e-6));
    CHECK(grad_norm(params) == Approx(6.5).epsilon(1e-6));

    for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
        test::set_grad(a, {3, 4});
        test::set_grad(b, {bad});
        const auto a_before = test::bits(a.grad().template to_host<float>());
        const auto b_before = test::bits(b.grad().template to_host<float>());
        const double norm = clip_grad_norm(params, 1.0);
        CHECK_FALSE(std::isfinite(norm));
        CHECK(std::isnan(norm) == std::isnan(bad));
        CHECK(test::bits(a.grad().template to_host<float>()) == a_before);
        CHECK(test::bits(b.grad().template to_host<float>()) == b_before);
    }
    CHECK_THROWS_WITH(clip_grad_norm(params, 0.0), Contains("max_norm"));
}

}  // namespace

TEST_CASE("clip_grad_norm returns the global norm, scales above max_norm, leaves non-finite gradients", "[optim][clip]") {
    check_clip<reference>();
    check_clip<reference64>();
    check_clip<cpu>();
}

TEST_CASE("grad_norm sums large gradients in double on every backend", "[optim][clip]") {
    const std::int64_t n = 100003;  // several blocks, threaded on cpu
    std::vector<double> g(static_cast<std::size_t>(n));
    double want = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
        g[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 1e3);  // exact in f32
        want += g[i] * g[i];
    }
    want = std::sqrt(want);
    Tensor<reference> r = test::parameter<reference>(std::vector<double>(g.size(), 0.0), {n});
    Tensor<cpu> c = test::parameter<cpu>(std::vector<double>(g.size(), 0.0), {n});
    test::set_grad(r, g);
    test::set_grad(c, g);
    CHECK(grad_norm<reference>({{"g", &r}}) == Approx(want).epsilon(1e-13));
    CHECK(grad_norm<cpu>({{"g", &c}}) == Approx(want).epsilon(1e-13));
}
