// Tensors: creation, host round trips, dtype conversion, views (reshape, slice, transpose), contiguous().
// Not here: the pool (test_storage.cpp) and gradients (autograd/).
#include <catch2/catch.hpp>

#include <numeric>

#include <recur/backends/reference.hpp>

using namespace recur;
using B = reference;
using Catch::Contains;

namespace {
Tensor<B> iota(const Shape& s) {
    std::vector<float> v(static_cast<std::size_t>(s.numel()));
    std::iota(v.begin(), v.end(), 0.0f);
    return Tensor<B>::from_host(v, s);
}
}  // namespace

TEST_CASE("tensors are created with contiguous strides and round-trip through the host", "[tensor]") {
    const auto t = iota({2, 3, 4});
    CHECK(t.dim() == 3);
    CHECK(t.numel() == 24);
    CHECK(t.strides() == Shape{12, 4, 1});
    CHECK(t.is_contiguous());
    CHECK(t.to_host<float>()[23] == 23.0f);
    CHECK(Tensor<B>::full({2, 2}, 1.5).to_host<double>() == std::vector<double>{1.5, 1.5, 1.5, 1.5});
    CHECK(Tensor<B>::zeros({0, 3}).numel() == 0);
    CHECK_THROWS_WITH(Tensor<B>::from_host(std::vector<float>{1, 2, 3}, {2, 2}), Contains("3 values") && Contains("(2, 2)"));
    CHECK_THROWS_WITH(Tensor<B>::zeros({1, 1, 1, 1, 1}), Contains("5 dimensions"));
    CHECK_THROWS_WITH(t.data<double>(), Contains("holds f32") && Contains("f64"));
    CHECK_THROWS_WITH(t.item(), Contains("24 elements"));
}

TEST_CASE("bf16 and f16 storage convert to and from f32", "[tensor]") {
    const std::vector<float> v{1.0f, -0.5f, 3.140625f, 1e-3f, 65504.0f};
    const auto t = Tensor<B>::from_host(v, {5});
    const auto h = t.to(dtype::f16), b = t.to(dtype::bf16);
    CHECK(h.dtype() == dtype::f16);
    CHECK(b.buffer().bytes() >= 10);
    const auto hv = h.to_host<float>(), bv = b.to(dtype::f32).to_host<float>();
    for (std::size_t i = 0; i < v.size(); ++i) {
        CHECK(hv[i] == Approx(v[i]).epsilon(1e-3));
        CHECK(bv[i] == Approx(v[i]).epsilon(1e-2));
    }
    CHECK(bv[2] == 3.140625f);  // exactly representable in bf16
    CHECK(Tensor<B>::full({3}, 2.5, dtype::bf16).to_host<float>() == std::vector<float>{2.5f, 2.5f, 2.5f});
    CHECK(Tensor<B>::from_host(std::vector<std::int32_t>{1, -7}, {2}).to(dtype::f32).to_host<float>() ==
          std::vector<float>{1.0f, -7.0f});
}

TEST_CASE("reshape, slice and transpose are views, contiguous copies only when needed", "[tensor]") {
    const auto t = iota({2, 3, 4});
    const auto r = t.reshape({6, 4});
    CHECK(r.buffer() == t.buffer());

    const auto s = t.slice(1, 1, 2);  // (2, 2, 4): rows 1..2 of each batch
    CHECK(s.shape() == Shape{2, 2, 4});
    CHECK(s.buffer() == t.buffer());
    CHECK_FALSE(s.is_contiguous());
    CHECK(s.to_host<float>() == std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23});

    const auto tr = t.transpose();  // (2, 4, 3)
    CHECK(tr.shape() == Shape{2, 4, 3});
    CHECK(tr.strides() == Shape{12, 1, 4});
    CHECK(tr.buffer() == t.buffer());
    const auto c = tr.contiguous();
    CHECK(c.is_contiguous());
    CHECK(c.buffer() != t.buffer());
    CHECK(c.to_host<float>()[0 * 3 + 1] == 4.0f);   // [0][0][1] = t[0][1][0]
    CHECK(c.to_host<float>()[1 * 3 + 2] == 9.0f);   // [0][1][2] = t[0][2][1]
    CHECK(t.contiguous().buffer() == t.buffer());   // already contiguous: no copy

    const auto last = t.slice(-1, 3, 1).reshape({2, 3});  // non-contiguous reshape copies
    CHECK(last.to_host<float>() == std::vector<float>{3, 7, 11, 15, 19, 23});
}
