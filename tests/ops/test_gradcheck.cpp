// Finite-difference gradient checks of every op in double precision on the reference backend.
// Not here: backend comparisons (test_cpu_vs_reference.cpp) and error cases (test_errors.cpp).
#include <catch2/catch.hpp>

#include <cmath>

#include <recur/backends/reference.hpp>

#include "ops/op_cases.hpp"
#include "support/compare.hpp"

using namespace recur;
using B = reference64;

namespace {

/// loss = sum(out * r) for a fixed random r, so every output element's gradient matters.
double weighted_loss(const test::op_case<B>& c, std::vector<Tensor<B>>& in, const Tensor<B>& r) {
    no_grad guard;
    return sum(mul(c.run(in), r)).item();
}

void check_gradients(const test::op_case<B>& c, std::int64_t n) {
    rng gen(1234);
    std::vector<Tensor<B>> in;
    for (const auto& s : c.inputs) in.push_back(randn<B>(s, gen).set_requires_grad());
    const Tensor<B> out = c.run(in);
    const Tensor<B> r = randn<B>(out.shape(), gen);
    backward(sum(mul(out, r)));

    const double h = 1e-5;
    for (std::size_t i = 0; i < in.size(); ++i) {
        INFO("op " << c.name << ", input " << i << " of shape " << in[i].shape());
        REQUIRE(in[i].grad().defined());
        const std::vector<double> analytic = in[i].grad().to_host<double>();
        std::vector<double> numeric(analytic.size());
        double* p = in[i].data<double>();
        for (std::size_t e = 0; e < numeric.size(); ++e) {
            const double x0 = p[e];
            p[e] = x0 + h;
            const double up = weighted_loss(c, in, r);
            p[e] = x0 - h;
            const double down = weighted_loss(c, in, r);
            p[e] = x0;
            numeric[e] = (up - down) / (2 * h);
        }
        const double scale = std::max({test::norm(analytic), test::norm(numeric), 1e-12});
        const double rel = test::distance(analytic, numeric) / scale;
        INFO("relative error " << rel << " (|analytic| " << test::norm(analytic) << ")");
        CHECK(rel < 1e-6);
        // Vacuous if the loss ignored this input (legitimately so for attention over a single key).
        if (n > 1) CHECK(test::norm(numeric) > 0);
    }
    CHECK(tape::of<B>().size() == 0);
}

}  // namespace

TEST_CASE("every op's backward matches central finite differences in double", "[gradcheck]") {
    const auto n = GENERATE(as<std::int64_t>{}, 1, 3, 5);
    for (const auto& c : test::op_cases<B>(n)) {
        DYNAMIC_SECTION(c.name << " n=" << n) { check_gradients(c, n); }
    }
}
