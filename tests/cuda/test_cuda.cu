// The cuda backend against the reference backend: copies, fills, matmul on views and batches,
// add/mul with broadcast, scale, and their backward. Exits with 77 (skipped) when there is no GPU.
// Not here: timings (benchmarks/) or ops that have no cuda kernel yet.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <recur/backends/cuda.hpp>
#include <recur/backends/reference.hpp>

namespace {

using recur::Shape;
using recur::Tensor;
using gpu = recur::cuda;
using ref = recur::reference;

constexpr double tolerance = 1e-4;

std::vector<float> random_values(const Shape& shape, std::uint64_t seed) {
    recur::rng gen(seed);
    std::vector<float> v(static_cast<std::size_t>(shape.numel()));
    for (auto& x : v) x = static_cast<float>(gen.normal());
    return v;
}

/// max |x - y| relative to max |y| (y is the reference).
double rel_err(const std::vector<float>& x, const std::vector<float>& y) {
    REQUIRE(x.size() == y.size());
    double diff = 0, scale = 1e-30;
    for (std::size_t i = 0; i < x.size(); ++i) {
        diff = std::max(diff, std::abs(static_cast<double>(x[i]) - y[i]));
        scale = std::max(scale, std::abs(static_cast<double>(y[i])));
    }
    return diff / scale;
}

template <class B>
Tensor<B> leaf(const Shape& shape, std::uint64_t seed, bool requires_grad = false) {
    Tensor<B> t = Tensor<B>::from_host(random_values(shape, seed), shape);
    if (requires_grad) t.set_requires_grad();
    return t;
}

/// How a matmul operand is viewed from its leaf: optionally its columns [1, 1 + cols), then transposed.
struct operand {
    Shape stored;
    bool transpose = false;
    std::int64_t cols = -1;

    template <class B>
    Tensor<B> view(const Tensor<B>& t) const {
        Tensor<B> v = cols >= 0 ? t.slice(-1, 1, cols) : t;
        return transpose ? v.transpose() : v;
    }
};

struct matmul_case {
    std::string name;
    operand a, b;
};

const std::vector<matmul_case> matmul_cases = {
    {"1x1", {{1, 1}}, {{1, 1}}},
    {"plain", {{5, 7}}, {{7, 3}}},
    {"odd sizes", {{65, 129}}, {{129, 33}}},
    {"transposed a", {{7, 5}, true}, {{7, 3}}},
    {"transposed b", {{5, 7}}, {{3, 7}, true}},
    {"both transposed", {{7, 5}, true}, {{3, 7}, true}},
    {"sliced a (ld > cols)", {{5, 10}, false, 7}, {{7, 3}}},
    {"sliced, transposed b", {{5, 7}}, {{9, 7}, true, 3}},
    {"batched 3-d", {{3, 5, 7}}, {{3, 7, 4}}},
    {"batched 4-d", {{2, 3, 5, 7}}, {{2, 3, 7, 4}}},
    {"batched, transposed a", {{3, 7, 5}, true}, {{3, 7, 4}}},
    {"batched, transposed b", {{3, 5, 7}}, {{3, 4, 7}, true}},
    {"shared 2-d b", {{3, 5, 7}}, {{7, 4}}},
    {"shared 2-d a", {{5, 7}}, {{2, 3, 7, 4}}},
    {"shared transposed b", {{2, 5, 7}}, {{4, 7}, true}},
};

}  // namespace

TEST_CASE("cuda: host -> device -> host round trips", "[cuda]") {
    for (const Shape& shape : {Shape{1}, Shape{3, 5, 7}, Shape{2, 3, 4, 5}, Shape{0, 3}}) {
        INFO("shape " << shape);
        const auto values = random_values(shape, 1);
        CHECK(Tensor<gpu>::from_host(values, shape).to_host() == values);
        const auto bf16 = Tensor<gpu>::from_host(std::span<const float>(values), shape, recur::dtype::bf16);
        CHECK(bf16.to_host() == Tensor<ref>::from_host(std::span<const float>(values), shape, recur::dtype::bf16).to_host());
    }
    const std::vector<std::int32_t> ids = {3, -1, 7, 2147483647, 0, -2147483647 - 1};
    CHECK(Tensor<gpu>::from_host(ids, {2, 3}).to_host<std::int32_t>() == ids);
}

TEST_CASE("cuda: fill, strided copies and device copies", "[cuda]") {
    CHECK(Tensor<gpu>::full({3, 5}, 2.5).to_host() == std::vector<float>(15, 2.5f));
    CHECK(Tensor<gpu>::full({7}, -1.25, recur::dtype::bf16).to_host() == std::vector<float>(7, -1.25f));
    CHECK(Tensor<gpu>::full({2, 2}, 9.0, recur::dtype::i32).to_host<std::int32_t>() == std::vector<std::int32_t>(4, 9));

    const Shape shape{2, 3, 4, 5};
    const auto d = leaf<gpu>(shape, 2);
    const auto r = leaf<ref>(shape, 2);
    CHECK(d.transpose().to_host() == r.transpose().to_host());
    CHECK(d.slice(1, 1, 2).slice(-1, 2, 3).to_host() == r.slice(1, 1, 2).slice(-1, 2, 3).to_host());

    const auto copy = Tensor<gpu>::empty(shape);
    gpu::copy(copy.raw_data(), d.raw_data(), static_cast<std::size_t>(shape.numel()) * sizeof(float));
    CHECK(copy.to_host() == d.to_host());

    const auto dst = Tensor<gpu>::full({4, 3}, 1.0);
    Tensor<gpu>::copy_into(dst, leaf<gpu>({3, 4}, 3).transpose(), true);
    const auto expect = Tensor<ref>::full({4, 3}, 1.0);
    Tensor<ref>::copy_into(expect, leaf<ref>({3, 4}, 3).transpose(), true);
    CHECK(rel_err(dst.to_host(), expect.to_host()) < tolerance);
}

TEST_CASE("cuda: allocation failure throws recur::error naming the CUDA error", "[cuda]") {
    CHECK_THROWS_WITH(gpu::allocate(std::size_t{1} << 52), Catch::Contains("cudaMalloc") && Catch::Contains("cudaError"));
}

TEST_CASE("cuda: matmul matches the reference", "[cuda]") {
    std::uint64_t seed = 10;
    for (const auto& c : matmul_cases) {
        INFO(c.name << ": a " << c.a.stored << ", b " << c.b.stored);
        const auto ad = leaf<gpu>(c.a.stored, seed), bd = leaf<gpu>(c.b.stored, seed + 1);
        const auto ar = leaf<ref>(c.a.stored, seed), br = leaf<ref>(c.b.stored, seed + 1);
        seed += 2;
        const auto yd = recur::matmul(c.a.view(ad), c.b.view(bd));
        const auto yr = recur::matmul(c.a.view(ar), c.b.view(br));
        REQUIRE(yd.shape() == yr.shape());
        CHECK(rel_err(yd.to_host(), yr.to_host()) < tolerance);
    }
}

TEST_CASE("cuda: matmul backward matches the reference, and gradients accumulate", "[cuda]") {
    std::uint64_t seed = 100;
    for (const auto& c : matmul_cases) {
        INFO(c.name << ": a " << c.a.stored << ", b " << c.b.stored);
        const auto ad = leaf<gpu>(c.a.stored, seed, true), bd = leaf<gpu>(c.b.stored, seed + 1, true);
        const auto ar = leaf<ref>(c.a.stored, seed, true), br = leaf<ref>(c.b.stored, seed + 1, true);
        for (int step = 1; step <= 2; ++step) {  // the second step adds onto existing gradients
            INFO("step " << step);
            const auto yd = recur::matmul(c.a.view(ad), c.b.view(bd));
            const auto yr = recur::matmul(c.a.view(ar), c.b.view(br));
            recur::backward(yd, leaf<gpu>(yd.shape(), seed + 2));
            recur::backward(yr, leaf<ref>(yr.shape(), seed + 2));
            CHECK(rel_err(ad.grad().to_host(), ar.grad().to_host()) < tolerance);
            CHECK(rel_err(bd.grad().to_host(), br.grad().to_host()) < tolerance);
        }
        seed += 3;
    }
}

TEST_CASE("cuda: add, mul and scale match the reference, forward and backward", "[cuda]") {
    const std::vector<std::pair<Shape, Shape>> shapes = {
        {{2, 3, 5}, {5}}, {{5}, {2, 3, 5}}, {{2, 3, 5}, {2, 3, 5}}, {{3, 5}, {1, 5}}, {{4, 1, 6}, {6}}, {{7}, {1}},
    };
    std::uint64_t seed = 200;
    for (const auto& [sa, sb] : shapes) {
        for (const bool is_mul : {false, true}) {
            INFO((is_mul ? "mul " : "add ") << sa << " and " << sb);
            const auto ad = leaf<gpu>(sa, seed, true), bd = leaf<gpu>(sb, seed + 1, true);
            const auto ar = leaf<ref>(sa, seed, true), br = leaf<ref>(sb, seed + 1, true);
            const auto yd = is_mul ? ad * bd : ad + bd;
            const auto yr = is_mul ? ar * br : ar + br;
            REQUIRE(yd.shape() == yr.shape());
            CHECK(rel_err(yd.to_host(), yr.to_host()) < tolerance);
            recur::backward(yd, leaf<gpu>(yd.shape(), seed + 2));
            recur::backward(yr, leaf<ref>(yr.shape(), seed + 2));
            CHECK(rel_err(ad.grad().to_host(), ar.grad().to_host()) < tolerance);
            CHECK(rel_err(bd.grad().to_host(), br.grad().to_host()) < tolerance);
            seed += 3;
        }
    }

    const auto xd = leaf<gpu>({3, 7, 5}, 300, true);
    const auto xr = leaf<ref>({3, 7, 5}, 300, true);
    const auto yd = 0.37 * xd.transpose();
    const auto yr = 0.37 * xr.transpose();
    CHECK(rel_err(yd.to_host(), yr.to_host()) < tolerance);
    recur::backward(yd, leaf<gpu>(yd.shape(), 301));
    recur::backward(yr, leaf<ref>(yr.shape(), 301));
    CHECK(rel_err(xd.grad().to_host(), xr.grad().to_host()) < tolerance);
}

int main(int argc, char* argv[]) {
    if (!recur::cuda_available()) {
        std::cout << "no CUDA device: skipping\n";
        return 77;
    }
    return Catch::Session().run(argc, argv);
}
