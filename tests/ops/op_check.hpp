// Runs the op table (op_table.hpp) on one optimized backend against the reference backend: every case
// at sizes n = 1, 7, 33, 257, with contiguous inputs and with every input a strided view, in each GEMM
// precision the case lists; outputs and gradients (after one backward, and after a second one that
// accumulates onto the first) within the case's tolerance. A case the backend lacks a kernel for is
// not run, and coverage_report lists it. Instantiated by test_backends.cpp (cpu) and tests/cuda (cuda).
// Not here: the cases (op_table.hpp) or finite differences (test_gradcheck.cpp).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <recur/backends/reference.hpp>

#include "ops/op_table.hpp"
#include "support/compare.hpp"
#include "support/skip.hpp"

namespace recur::test {

enum class input_layout {
    contiguous,  ///< each input is its own leaf
    strided,     ///< each input is a view of columns [1, 1 + last) of a leaf 3 columns wider
};

inline const char* layout_name(input_layout l) { return l == input_layout::contiguous ? "contiguous" : "strided"; }

/// Random leaves for a case's input shapes (wider ones under input_layout::strided), drawn from gen.
template <class B>
std::vector<Tensor<B>> make_leaves(const std::vector<Shape>& shapes, input_layout layout, rng& gen, bool grad) {
    std::vector<Tensor<B>> leaves;
    for (Shape s : shapes) {
        if (layout == input_layout::strided && s.dim() > 0) s[s.dim() - 1] += 3;
        leaves.push_back(randn<B>(s, gen));
        if (grad) leaves.back().set_requires_grad();
    }
    return leaves;
}

/// The tensors a case reads: the leaves, or (strided) recorded views into them, made anew for each
/// forward pass so that every backward reaches the leaves.
template <class B>
std::vector<Tensor<B>> input_views(const std::vector<Tensor<B>>& leaves, const std::vector<Shape>& shapes,
                                   input_layout layout) {
    if (layout == input_layout::contiguous) return leaves;
    std::vector<Tensor<B>> views;
    for (std::size_t i = 0; i < leaves.size(); ++i)
        views.push_back(shapes[i].dim() > 0 ? leaves[i].slice(-1, 1, shapes[i].last()) : leaves[i]);
    return views;
}

/// A case's output and its inputs' gradients: after one backward, then after a second that adds on.
struct case_result {
    std::vector<double> out;
    std::vector<std::vector<double>> grads, accumulated;
};

template <class B, class Case>
case_result run_case(const Case& c, input_layout layout, std::uint64_t seed) {
    rng gen(seed);
    const bool grad = c.options.has_backward;
    const std::vector<Tensor<B>> leaves = make_leaves<B>(c.inputs, layout, gen, grad);
    std::vector<Tensor<B>> views = input_views(leaves, c.inputs, layout);
    const Tensor<B> out = c.template run<B>(views);
    case_result r{out.template to_host<double>(), {}, {}};
    if (!grad) return r;
    const Tensor<B> dout = randn<B>(out.shape(), gen);
    backward(out, dout);
    for (const auto& t : leaves) r.grads.push_back(t.grad().template to_host<double>());
    views = input_views(leaves, c.inputs, layout);
    backward(c.template run<B>(views), dout);
    for (const auto& t : leaves) r.accumulated.push_back(t.grad().template to_host<double>());
    return r;
}

/// How a backend answers a GEMM precision.
enum class gemm_support {
    computes,        ///< computes it exactly as the reference's rounding describes
    refuses,         ///< throws recur::error naming the precision (never computes another)
    lacks_hardware,  ///< this machine cannot run it (the check is skipped, and says so)
};

/// What differs between backends when checked against the reference.
struct backend_profile {
    std::function<gemm_support(matmul_precision)> gemm = [](matmul_precision) { return gemm_support::computes; };
    double reduced_precision_tolerance = 1e-5;  ///< bf16 / tf32 against the reference's rounded operands
};

inline void check_close(const std::vector<double>& got, const std::vector<double>& want, double tolerance) {
    REQUIRE(got.size() == want.size());
    const double err = relative_error(got, want);
    INFO("relative error " << err << ", tolerance " << tolerance);
    CHECK(err < tolerance);
}

inline void check_same_result(const case_result& got, const case_result& want, double tolerance) {
    {
        INFO("output");
        check_close(got.out, want.out, tolerance);
    }
    REQUIRE(got.grads.size() == want.grads.size());
    for (std::size_t i = 0; i < want.grads.size(); ++i) {
        INFO("gradient of input " << i);
        check_close(got.grads[i], want.grads[i], tolerance);
        INFO("after a second backward accumulated onto it");
        check_close(got.accumulated[i], want.accumulated[i], tolerance);
    }
}

/// One case in one layout at GEMM precision p on backend B against the reference.
template <class B, class Case>
void check_case(const Case& c, input_layout layout, matmul_precision p, const backend_profile& profile) {
    constexpr std::uint64_t seed = 99;
    const gemm_support support = p == matmul_precision::f32 ? gemm_support::computes : profile.gemm(p);
    if (support == gemm_support::lacks_hardware) {
        require_capability(false, "a " + std::string(matmul_precision_name(p)) + " GEMM on " + std::string(B::name));
        return;
    }
    const matmul_precision_scope scope(p);
    if (support == gemm_support::refuses) {
        CHECK_THROWS_WITH(run_case<B>(c, layout, seed), Catch::Contains(std::string(matmul_precision_name(p))));
        return;
    }
    const case_result want = run_case<reference>(c, layout, seed);
    const case_result got = run_case<B>(c, layout, seed);
    check_same_result(got, want, p == matmul_precision::f32 ? c.options.tolerance : profile.reduced_precision_tolerance);
    if (p != matmul_precision::f32) {  // the operands really were rounded
        const matmul_precision_scope f32(matmul_precision::f32);
        const double from_f32 = relative_error(got.out, run_case<B>(c, layout, seed).out);
        INFO("relative distance from the f32 result " << from_f32);
        CHECK(from_f32 > (p == matmul_precision::bf16 ? 1e-5 : 1e-6));
        CHECK(from_f32 < 2e-2);
    }
}

/// Every case of the table that lists GEMM precision p, on backend B against the reference at size
/// n (one Catch2 section per case and layout). One test case per precision, so that a precision this
/// machine cannot run is reported skipped without hiding the others.
template <class B>
void check_op_table(std::int64_t n, matmul_precision p, const backend_profile& profile) {
    for (const auto& c : op_cases<reference, B>(n)) {
        if (!c.template runs_on<B>()) continue;  // listed by coverage_report
        const auto& ps = c.options.precisions;
        if (std::find(ps.begin(), ps.end(), p) == ps.end()) continue;
        for (const input_layout layout : {input_layout::contiguous, input_layout::strided})
            DYNAMIC_SECTION(c.name << " n=" << n << ' ' << layout_name(layout) << ' ' << matmul_precision_name(p)) {
                check_case<B>(c, layout, p, profile);
            }
    }
}

/// One line per backend: how many of the table's cases it runs, and each case it cannot run with the
/// kernels it lacks. Printed as a Catch2 warning so that it shows in every test log.
template <class B>
std::string coverage_report() {
    const auto cases = op_cases<reference, B>(7);
    const auto missing = missing_kernels<B>();
    std::map<std::string, std::vector<std::string>> not_run;  // missing kernel -> cases
    std::size_t runs = 0;
    for (const auto& c : cases) {
        if (c.template runs_on<B>()) {
            ++runs;
            continue;
        }
        for (const auto& k : c.kernels)
            if (std::find(missing.begin(), missing.end(), k) != missing.end()) not_run[std::string(k)].push_back(c.name);
    }
    std::ostringstream os;
    os << B::name << " runs " << runs << " of " << cases.size() << " op cases";
    for (const auto& [kernel, names] : not_run) {
        os << "\n  not run, no '" << kernel << "' kernel:";
        for (const auto& name : names) os << ' ' << name;
    }
    os << "\n" << B::name << " lacks " << missing.size() << " of " << kernel_inventory<B>().size() << " kernels:";
    for (const auto& k : missing) os << ' ' << k;
    if (missing.empty()) os << " none";
    return os.str();
}

}  // namespace recur::test
