// The cuda backend against the reference: the op table (tests/ops/op_check.hpp) on every case (cuda
// has every kernel; checked without a GPU), and its memory: host round trips and allocation failure. Without a CUDA device the device checks are skipped and ctest reports them
// as skipped (support/skip.hpp), never as passed. Not here: timings.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <recur/backends/cuda.hpp>
#include <recur/backends/reference.hpp>

#include "ops/op_check.hpp"
#include "support/skip.hpp"

namespace {

using recur::Shape;
using recur::Tensor;
using gpu = recur::cuda;
using ref = recur::reference;

/// True where a CUDA device answers; otherwise the running test is marked skipped.
bool has_device() { return recur::test::require_capability(recur::cuda_available(), "a CUDA device"); }

std::vector<float> random_values(const Shape& shape, std::uint64_t seed) {
    recur::rng gen(seed);
    std::vector<float> v(static_cast<std::size_t>(shape.numel()));
    for (auto& x : v) x = static_cast<float>(gen.normal());
    return v;
}

}  // namespace

TEST_CASE("cuda: implements every kernel contract, so the op table runs every case on it", "[cuda][kernels]") {
    INFO(recur::test::coverage_report<gpu>());
    CHECK(recur::missing_kernels<gpu>().empty());
}

namespace {
recur::test::backend_profile cuda_profile() {
    recur::test::backend_profile profile;  // cuBLAS computes f32, bf16 and tf32 (tensor cores)
    profile.reduced_precision_tolerance = 1e-3;
    return profile;
}
}  // namespace

TEST_CASE("cuda: matches the reference on every case of the op table it has kernels for, f32", "[cuda][op_table]") {
    if (!has_device()) return;
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 33, 257);
    recur::test::check_op_table<gpu>(n, recur::matmul_precision::f32, cuda_profile());
}

TEST_CASE("cuda: bf16 and tf32 GEMM cases of the op table match the reference's rounded operands", "[cuda][op_table]") {
    if (!has_device()) return;
    const auto n = GENERATE(as<std::int64_t>{}, 1, 7, 33, 257);
    for (const auto p : {recur::matmul_precision::bf16, recur::matmul_precision::tf32})
        recur::test::check_op_table<gpu>(n, p, cuda_profile());
}

TEST_CASE("cuda: host -> device -> host round trips in every storage dtype", "[cuda]") {
    if (!has_device()) return;
    for (const Shape& shape : {Shape{1}, Shape{3, 5, 7}, Shape{2, 3, 4, 5}, Shape{0, 3}}) {
        INFO("shape " << shape);
        const auto values = random_values(shape, 1);
        CHECK(Tensor<gpu>::from_host(values, shape).to_host() == values);
        const auto bf16 = Tensor<gpu>::from_host(std::span<const float>(values), shape, recur::dtype::bf16);
        CHECK(bf16.to_host() == Tensor<ref>::from_host(std::span<const float>(values), shape, recur::dtype::bf16).to_host());
    }
    const std::vector<std::int32_t> ids = {3, -1, 7, 2147483647, 0, -2147483647 - 1};
    CHECK(Tensor<gpu>::from_host(ids, {2, 3}).to_host<std::int32_t>() == ids);
    CHECK(Tensor<gpu>::full({2, 2}, 9.0, recur::dtype::i32).to_host<std::int32_t>() == std::vector<std::int32_t>(4, 9));
    CHECK(Tensor<gpu>::full({7}, -1.25, recur::dtype::bf16).to_host() == std::vector<float>(7, -1.25f));
}

TEST_CASE("cuda: allocation failure throws recur::error naming the CUDA error", "[cuda]") {
    if (!has_device()) return;
    CHECK_THROWS_WITH(gpu::allocate(std::size_t{1} << 52), Catch::Contains("cudaMalloc") && Catch::Contains("cudaError"));
}
