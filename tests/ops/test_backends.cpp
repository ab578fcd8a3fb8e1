// The cpu backend against the reference backend on every op: outputs and gradients on random inputs
// at odd sizes (1, 7, 33, 257), relative error < 1e-4.
// Not here: gradient correctness itself (test_gradcheck.cpp proves the reference right).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>

#include "ops/op_cases.hpp"
#include "support/bf16.hpp"
#include "support/compare.hpp"

using namespace recur;

namespace {

template <class B>
struct run_result {
    std::vector<double> out;
    std::vector<std::vector<double>> grads;
};

template <class B>
run_result<B> run_on(const test::op_case<reference, cpu>& c, std::uint64_t seed) {
    rng gen(seed);
    std::vector<Tensor<B>> in;
    for (const auto& s : c.inputs) in.push_back(randn<B>(s, gen).set_requires_grad());
    const Tensor<B> out = c.template run<B>(in);
    const Tensor<B> r = randn<B>(out.shape(), gen);
    backward(sum(mul(out, r)));
    run_result<B> res{out.template to_host<double>(), {}};
    for (auto& t : in) res.grads.push_back(t.grad().template to_host<double>());
    return res;
}

}  // namespace

TEST_CASE("cpu backend matches the reference backend on every op", "[cpu]") {
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 33, 257);
    for (const auto& c : test::op_cases<reference, cpu>(n)) {
        DYNAMIC_SECTION(c.name << " n=" << n) {
            const auto want = run_on<reference>(c, 99);
            const auto got = run_on<cpu>(c, 99);
            REQUIRE(got.out.size() == want.out.size());
            CHECK(test::relative_error(got.out, want.out) < 1e-4);
            for (std::size_t i = 0; i < want.grads.size(); ++i) {
                INFO("gradient of input " << i);
                REQUIRE(got.grads[i].size() == want.grads[i].size());
                CHECK(test::relative_error(got.grads[i], want.grads[i]) < 1e-4);
            }
        }
    }
}

TEST_CASE("under matmul_precision::bf16 the cpu GEMMs match the reference's bf16-rounded products", "[cpu][bf16]") {
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 33, 257);
    for (const auto& c : test::op_cases<reference, cpu>(n)) {
        if (c.name.rfind("matmul", 0) != 0 && c.name.rfind("linear", 0) != 0) continue;
        DYNAMIC_SECTION(c.name << " n=" << n) {
            if (!test::cpu_runs_bf16("cpu bf16 GEMMs")) return;
            const auto exact = run_on<cpu>(c, 99);
            const matmul_precision_scope bf16(matmul_precision::bf16);
            const auto got = run_on<cpu>(c, 99);
            const auto want = run_on<reference>(c, 99);
            REQUIRE(got.out.size() == want.out.size());
            CHECK(test::relative_error(got.out, want.out) < 1e-5);
            // The operands really were rounded: about 2^-9 relative error per operand against f32.
            const double from_f32 = test::relative_error(got.out, exact.out);
            CHECK(from_f32 > 1e-5);
            CHECK(from_f32 < 2e-2);
            for (std::size_t i = 0; i < want.grads.size(); ++i) {
                INFO("gradient of input " << i);
                CHECK(test::relative_error(got.grads[i], want.grads[i]) < 1e-5);
            }
        }
    }
}

TEST_CASE("matmul precision names parse, and a bad one is named", "[bf16]") {
    CHECK(parse_matmul_precision("f32") == matmul_precision::f32);
    CHECK(parse_matmul_precision("bf16") == matmul_precision::bf16);
    CHECK(parse_matmul_precision("tf32") == matmul_precision::tf32);
    CHECK(matmul_precision_name(matmul_precision::tf32) == "tf32");
    CHECK_THROWS_WITH(parse_matmul_precision("fp8"), Catch::Contains("'fp8'") && Catch::Contains("f32, bf16 or tf32"));
    {
        const matmul_precision_scope scope(matmul_precision::bf16);
        CHECK(get_matmul_precision() == matmul_precision::bf16);
    }
    CHECK(get_matmul_precision() == matmul_precision::f32);
}

TEST_CASE("matmul_precision::tf32: the reference rounds operands to TensorFloat-32, the cpu backend refuses it", "[cpu][tf32]") {
    CHECK(f32_round_to_tf32(1.0f) == 1.0f);
    CHECK(f32_round_to_tf32(1.0f + 0x1p-11f) == 1.0f);               // a tie rounds to the even mantissa
    CHECK(f32_round_to_tf32(1.0f + 0x1p-10f + 0x1p-11f) == 1.0f + 0x1p-9f);  // a tie rounds up to even
    CHECK(f32_round_to_tf32(1.0f + 0x1p-11f + 0x1p-20f) == 1.0f + 0x1p-10f);
    CHECK(f32_round_to_tf32(-3.0f) == -3.0f);
    CHECK(std::isnan(f32_round_to_tf32(std::numeric_limits<float>::quiet_NaN())));
    CHECK(std::isinf(f32_round_to_tf32(std::numeric_limits<float>::infinity())));
    for (const auto& c : test::op_cases<reference, cpu>(33)) {
        if (c.name.rfind("matmul", 0) != 0) continue;
        DYNAMIC_SECTION(c.name) {
            const auto exact = run_on<reference>(c, 7);
            const matmul_precision_scope tf32(matmul_precision::tf32);
            const auto rounded = run_on<reference>(c, 7);
            // 10 mantissa bits: about 2^-11 relative error per operand against f32, far below bf16's 2^-8.
            const double from_f32 = test::relative_error(rounded.out, exact.out);
            CHECK(from_f32 > 1e-6);
            CHECK(from_f32 < 3e-3);
            CHECK_THROWS_WITH(run_on<cpu>(c, 7), Catch::Contains("tf32") && Catch::Contains("use f32 or bf16"));
        }
    }
}

namespace {
struct backend_without_kernels {
    using scalar = float;
};
}  // namespace

TEST_CASE("has_kernel says which backend implements a kernel, without instantiating a missing one", "[kernels]") {
    STATIC_REQUIRE(has_kernel<reference, kernels::gemm>);
    STATIC_REQUIRE(has_kernel<reference64, kernels::rms_norm>);
    STATIC_REQUIRE(has_kernel<cpu, kernels::gemm>);
    STATIC_REQUIRE(has_kernel<cpu, kernels::rms_norm>);
    STATIC_REQUIRE_FALSE(has_kernel<backend_without_kernels, kernels::gemm>);
    STATIC_REQUIRE_FALSE(has_kernel<backend_without_kernels, kernels::rms_norm>);
}
