// The op table on every host backend: cpu against the reference on every case (op_check.hpp), the
// kernels each backend lacks, has_kernel itself, and the GEMM precision names and TF32 rounding.
// Not here: gradient correctness itself (test_gradcheck.cpp proves the reference right); cuda (tests/cuda).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>

#include "ops/op_check.hpp"

using namespace recur;

namespace {
test::backend_profile cpu_profile() {
    test::backend_profile p;
    p.gemm = [](matmul_precision precision) {
        if (precision == matmul_precision::tf32) return test::gemm_support::refuses;  // no TF32 on a CPU
        return cpu_has_bf16_matmul() ? test::gemm_support::computes : test::gemm_support::lacks_hardware;
    };
    return p;
}
}  // namespace

TEST_CASE("cpu matches the reference on every case of the op table, f32", "[cpu][op_table]") {
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 33, 257);
    test::check_op_table<cpu>(n, matmul_precision::f32, cpu_profile());
}

TEST_CASE("cpu matches the reference's bf16-rounded GEMMs on every GEMM case of the op table", "[cpu][op_table][bf16]") {
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 33, 257);
    test::check_op_table<cpu>(n, matmul_precision::bf16, cpu_profile());
}

TEST_CASE("cpu refuses TF32 GEMMs by name on every GEMM case of the op table", "[cpu][op_table][tf32]") {
    test::check_op_table<cpu>(33, matmul_precision::tf32, cpu_profile());
}

TEST_CASE("the kernels each backend lacks and the op cases it therefore cannot run", "[kernels][op_table]") {
    for (const std::string& report : {test::coverage_report<cpu>(), test::coverage_report<reference64>()}) WARN(report);
    CHECK(missing_kernels<reference>().empty());
    CHECK(missing_kernels<reference64>().empty());
    CHECK(missing_kernels<cpu>().empty());
    // every case of the table runs on the host backends
    for (const auto& c : test::op_cases<reference, cpu>(7)) {
        INFO(c.name);
        CHECK(c.runs_on<reference>());
        CHECK(c.runs_on<cpu>());
    }
}

namespace test_backends {
/// A host backend with no kernels at all, and one with only the copy family (borrowed from the
/// reference): what a new backend looks like on its first day.
struct no_kernels : host_memory {
    using scalar = float;
    static constexpr std::string_view name = "no_kernels";
};
struct copies_only : host_memory {
    using scalar = float;
    static constexpr std::string_view name = "copies_only";
};
}  // namespace test_backends

template <>
struct recur::kernels::fill<test_backends::copies_only> : fill<reference> {};
template <>
struct recur::kernels::copy_strided<test_backends::copies_only> : copy_strided<reference> {};
template <>
struct recur::kernels::add_into<test_backends::copies_only> : add_into<reference> {};

TEST_CASE("has_kernel says which backend implements a kernel, without instantiating a missing one", "[kernels]") {
    using test_backends::copies_only;
    using test_backends::no_kernels;
    STATIC_REQUIRE(has_kernel<reference, kernels::gemm>);
    STATIC_REQUIRE(has_kernel<reference64, kernels::rms_norm>);
    STATIC_REQUIRE(has_kernel<cpu, kernels::gemm>);
    STATIC_REQUIRE(has_kernel<cpu, kernels::rms_norm>);
    STATIC_REQUIRE_FALSE(has_kernel<no_kernels, kernels::gemm>);
    STATIC_REQUIRE_FALSE(has_kernel<no_kernels, kernels::rms_norm>);
    STATIC_REQUIRE(has_kernel<copies_only, kernels::copy_strided>);
    STATIC_REQUIRE_FALSE(has_kernel<copies_only, kernels::gemm>);
    STATIC_REQUIRE(kernel_name<kernels::rms_norm> == "rms_norm");
    CHECK(missing_kernels<no_kernels>().size() == kernel_inventory<no_kernels>().size());
    CHECK(missing_kernels<copies_only>().size() + 3 == kernel_inventory<copies_only>().size());
    CHECK(kernel_inventory<cpu>().size() >= 20);
}

TEST_CASE("a backend with only the copy kernels compiles against the whole table and runs its copy cases",
          "[kernels][op_table]") {
    using test_backends::copies_only;
    using test_backends::no_kernels;
    for (const auto& c : test::op_cases<reference, no_kernels>(3)) CHECK_FALSE(c.runs_on<no_kernels>());
    std::size_t runs = 0;
    for (const auto& c : test::op_cases<reference, copies_only>(5)) {
        if (!c.runs_on<copies_only>()) continue;
        ++runs;
        INFO(c.name);
        CHECK(c.kernels.empty());
        for (const auto layout : {test::input_layout::contiguous, test::input_layout::strided})
            test::check_same_result(test::run_case<copies_only>(c, layout, 5), test::run_case<reference>(c, layout, 5), 1e-12);
    }
    CHECK(runs >= 6);  // views, slices, concat, dtype round trip
    WARN(test::coverage_report<copies_only>());
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

TEST_CASE("TensorFloat-32 rounding is to nearest even on 10 mantissa bits", "[tf32]") {
    CHECK(f32_round_to_tf32(1.0f) == 1.0f);
    CHECK(f32_round_to_tf32(1.0f + 0x1p-11f) == 1.0f);                       // a tie rounds to the even mantissa
    CHECK(f32_round_to_tf32(1.0f + 0x1p-10f + 0x1p-11f) == 1.0f + 0x1p-9f);  // a tie rounds up to even
    CHECK(f32_round_to_tf32(1.0f + 0x1p-11f + 0x1p-20f) == 1.0f + 0x1p-10f);
    CHECK(f32_round_to_tf32(-3.0f) == -3.0f);
    CHECK(std::isnan(f32_round_to_tf32(std::numeric_limits<float>::quiet_NaN())));
    CHECK(std::isinf(f32_round_to_tf32(std::numeric_limits<float>::infinity())));
}
