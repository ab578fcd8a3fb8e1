// Finite-difference gradient checks of every case of the op table in double precision on the
// reference backend, with contiguous inputs and with strided views as inputs.
// Not here: backend comparisons (test_backends.cpp) and error cases (test_errors.cpp).
#include <catch2/catch.hpp>

#include <cmath>

#include <recur/backends/reference.hpp>

#include "ops/op_check.hpp"

using namespace recur;
using B = reference64;

namespace {

/// loss = sum(out * r) for a fixed random r, so every output element's gradient matters.
double weighted_loss(const test::op_case<B>& c, const std::vector<Tensor<B>>& leaves, test::input_layout layout,
                     const Tensor<B>& r) {
    no_grad guard;
    std::vector<Tensor<B>> views = test::input_views(leaves, c.inputs, layout);
    return sum(mul(c.run(views), r)).item();
}

void check_gradients(const test::op_case<B>& c, std::int64_t n, test::input_layout layout) {
    rng gen(1234);
    const std::vector<Tensor<B>> leaves = test::make_leaves<B>(c.inputs, layout, gen, true);
    std::vector<Tensor<B>> views = test::input_views(leaves, c.inputs, layout);
    const Tensor<B> out = c.run(views);
    const Tensor<B> r = randn<B>(out.shape(), gen);
    backward(sum(mul(out, r)));

    const double h = 1e-5;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        INFO("op " << c.name << ", input " << i << " of shape " << c.inputs[i] << ", " << test::layout_name(layout));
        REQUIRE(leaves[i].grad().defined());
        const std::vector<double> analytic = leaves[i].grad().to_host<double>();
        std::vector<double> numeric(analytic.size());
        double* p = leaves[i].data<double>();
        for (std::size_t e = 0; e < numeric.size(); ++e) {
            const double x0 = p[e];
            p[e] = x0 + h;
            const double up = weighted_loss(c, leaves, layout, r);
            p[e] = x0 - h;
            const double down = weighted_loss(c, leaves, layout, r);
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
    std::size_t checked = 0;
    for (const auto& c : test::op_cases<B>(n)) {
        if (!c.options.has_backward || !c.options.gradcheck) continue;
        ++checked;
        for (const auto layout : {test::input_layout::contiguous, test::input_layout::strided})
            DYNAMIC_SECTION(c.name << " n=" << n << ' ' << test::layout_name(layout)) { check_gradients(c, n, layout); }
    }
    CHECK(checked >= 35);
}
