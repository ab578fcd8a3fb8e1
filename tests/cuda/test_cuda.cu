// The cuda backend against the reference: copies, fills, matmul on views and batches, add/mul/scale,
// forward and backward; exits with 77 (skipped) without a GPU. Not here: timings, ops with no cuda kernel.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <span>
#include <string>
#include <utility>
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
    {"sliced, transposed b", {{5, 7}}, {{3, 9}, true, 7}},
    {"batched 3-d", {{3, 5, 7}}, {{3, 7, 4}}},
    {"batched 4-d", {{2, 3, 5, 7}}, {{2, 3, 7, 4}}},
    {"batched, transposed a", {{3, 7, 5}, true}, {{3, 7, 4}}},
    {"batched, transposed b", {{3, 5, 7}}, {{3, 4, 7}, true}},
    {"shared 2-d b", {{3, 5, 7}}, {{7, 4}}},
    {"shared 2-d a", {{5, 7}}, {{2, 3, 7, 4}}},
    {"shared transposed b", {{2, 5, 7}}, {{4, 7}, true}},
};

/// Leaves of `shapes` needing gradients, y = f(leaves), backward from y with a random seed, `steps`
/// times (later steps add onto the gradients). Returns y and every leaf's gradient after each step.
/// One backend at a time: the tape is per thread, and backward() replays all of it.
template <class B, class F>
std::vector<std::vector<float>> forward_backward(const std::vector<Shape>& shapes, std::uint64_t seed, int steps, F f) {
    std::vector<Tensor<B>> x;
    for (const Shape& shape : shapes) x.push_back(leaf<B>(shape, seed++, true));
    std::vector<std::vector<float>> out;
    for (int step = 0; step < steps; ++step) {
        const Tensor<B> y = f(x);
        recur::backward(y, leaf<B>(y.shape(), seed));
        out.push_back(y.to_host());
        for (const auto& t : x) out.push_back(t.grad().to_host());
    }
    return out;
}

/// forward_backward on cuda against the same on the reference.
template <class F>
void check_against_reference(const std::vector<Shape>& shapes, std::uint64_t seed, int steps, F f) {
    const auto d = forward_backward<gpu>(shapes, seed, steps, f);
    const auto r = forward_backward<ref>(shapes, seed, steps, f);
    REQUIRE(d.size() == r.size());
    const std::size_t per_step = shapes.size() + 1;
    for (std::size_t i = 0; i < r.size(); ++i) {
        INFO("step " << i / per_step + 1 << ", " << (i % per_step == 0 ? std::string("output")
                                                     : "gradient of input " + std::to_string(i % per_step - 1)));
        CHECK(rel_err(d[i], r[i]) < tolerance);
    }
}

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

TEST_CASE("cuda: matmul forward and backward match the reference on views and batches", "[cuda]") {
    std::uint64_t seed = 100;
    for (const auto& c : matmul_cases) {
        INFO(c.name << ": a " << c.a.stored << ", b " << c.b.stored);
        check_against_reference({c.a.stored, c.b.stored}, seed += 3, 2,
                                [&](const auto& x) { return recur::matmul(c.a.view(x[0]), c.b.view(x[1])); });
    }
}

TEST_CASE("cuda: add and mul with broadcast match the reference, forward and backward", "[cuda]") {
    const std::vector<std::pair<Shape, Shape>> shapes = {
        {{2, 3, 5}, {5}}, {{5}, {2, 3, 5}}, {{2, 3, 5}, {2, 3, 5}}, {{3, 5}, {1, 5}}, {{4, 1, 6}, {6}}, {{7}, {1}},
        {{300, 257}, {257}},  // more than one block of threads
    };
    std::uint64_t seed = 200;
    for (const auto& [sa, sb] : shapes) {
        INFO("a " << sa << ", b " << sb);
        check_against_reference({sa, sb}, seed += 3, 2, [](const auto& x) { return x[0] + x[1]; });
        check_against_reference({sa, sb}, seed += 3, 2, [](const auto& x) { return x[0] * x[1]; });
    }
}

TEST_CASE("cuda: scale matches the reference, forward and backward", "[cuda]") {
    check_against_reference({{3, 7, 5}}, 300, 2, [](const auto& x) { return 0.37 * x[0].transpose(); });
}

/// Called by main.cpp (compiled by the host compiler, so nvcc does not compile Catch's runner).
bool recur_test_has_cuda_device() { return recur::cuda_available(); }
