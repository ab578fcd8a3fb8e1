// Bad shapes, dtypes and indices: every op throws recur::error naming itself and the shapes involved.
// Not here: file and config errors (io tests, later).
#include <catch2/catch.hpp>

#include <recur/backends/reference.hpp>

using namespace recur;
using B = reference;
using Catch::Contains;

namespace {
Tensor<B> z(const Shape& s) { return Tensor<B>::zeros(s); }
Tensor<B> ids(std::vector<std::int32_t> v) { return Tensor<B>::from_host(v, {static_cast<std::int64_t>(v.size())}); }
}  // namespace

TEST_CASE("matmul rejects mismatched inner and batch dims", "[errors]") {
    REQUIRE_THROWS_WITH(matmul(z({2, 3}), z({4, 5})), Contains("recur::matmul") && Contains("(2, 3)") && Contains("(4, 5)"));
    REQUIRE_THROWS_WITH(matmul(z({2, 2, 3}), z({3, 3, 5})), Contains("batch") && Contains("(2, 2, 3)") && Contains("(3, 3, 5)"));
    REQUIRE_THROWS_AS(matmul(z({3}), z({3, 2})), recur::error);
    REQUIRE_THROWS_WITH(matmul(z({2, 3}), Tensor<B>::zeros({3, 2}, dtype::bf16)), Contains("bf16"));
}

TEST_CASE("linear rejects a weight that does not match the input", "[errors]") {
    REQUIRE_THROWS_WITH(linear(z({2, 5}), z({4, 6})), Contains("recur::linear") && Contains("(2, 5)") && Contains("(4, 6)"));
    REQUIRE_THROWS_WITH(linear(z({2, 5}), z({4, 5}), z({3})), Contains("bias") && Contains("(3)"));
}

TEST_CASE("add and mul reject shapes that do not broadcast", "[errors]") {
    REQUIRE_THROWS_WITH(add(z({2, 3}), z({2})), Contains("recur::add") && Contains("(2, 3)") && Contains("(2)"));
    REQUIRE_THROWS_WITH(mul(z({4, 3}), z({2, 3})), Contains("recur::mul") && Contains("(4, 3)") && Contains("(2, 3)"));
}

TEST_CASE("concat and split reject inconsistent shapes", "[errors]") {
    REQUIRE_THROWS_WITH(concat({z({2, 3}), z({3, 3})}), Contains("recur::concat") && Contains("(3, 3)") && Contains("(2, 3)"));
    REQUIRE_THROWS_WITH(split(z({2, 8}), {3, 4}), Contains("recur::split") && Contains("(2, 8)"));
}

TEST_CASE("embedding rejects ids outside the table and non-i32 ids", "[errors]") {
    REQUIRE_THROWS_WITH(embedding(ids({0, 5}), z({5, 4})), Contains("recur::embedding") && Contains("id 5") && Contains("5 rows"));
    REQUIRE_THROWS_WITH(embedding(ids({-1}), z({5, 4})), Contains("id -1"));
    REQUIRE_THROWS_WITH(embedding(z({2}), z({5, 4})), Contains("i32"));
}

TEST_CASE("rms_norm rejects a weight of the wrong size", "[errors]") {
    REQUIRE_THROWS_WITH(rms_norm(z({2, 6}), z({5}), 1e-5), Contains("recur::rms_norm") && Contains("(2, 6)") && Contains("(5)"));
}

TEST_CASE("rope rejects wrong ranks, head dims and positions beyond the table", "[errors]") {
    const rope_table<B> table({}, 8, 16);
    REQUIRE_THROWS_WITH(rope(z({2, 4, 8}), table), Contains("recur::rope") && Contains("(2, 4, 8)"));
    REQUIRE_THROWS_WITH(rope(z({1, 4, 2, 6}), table), Contains("head dim") && Contains("(1, 4, 2, 6)"));
    REQUIRE_THROWS_WITH(rope(z({1, 4, 2, 8}), table, 13), Contains("positions [13, 17)"));
    REQUIRE_THROWS_WITH(rope_table<B>({}, 7, 16), Contains("even"));
}

TEST_CASE("silu and swiglu reject mismatched inputs", "[errors]") {
    REQUIRE_THROWS_WITH(swiglu(z({2, 4}), z({2, 5})), Contains("recur::swiglu") && Contains("(2, 4)") && Contains("(2, 5)"));
    REQUIRE_THROWS_WITH(silu(Tensor<B>::zeros({3}, dtype::i32)), Contains("recur::silu") && Contains("i32"));
}

TEST_CASE("attention rejects bad head counts and lengths", "[errors]") {
    REQUIRE_THROWS_WITH(attention(z({1, 4, 6, 8}), z({1, 4, 4, 8}), z({1, 4, 4, 8})),
                        Contains("recur::attention") && Contains("4 kv heads do not divide 6"));
    REQUIRE_THROWS_WITH(attention(z({1, 4, 2, 8}), z({1, 4, 2, 4}), z({1, 4, 2, 4})), Contains("(1, 4, 2, 8)") && Contains("(1, 4, 2, 4)"));
    REQUIRE_THROWS_WITH(attention(z({1, 5, 2, 8}), z({1, 4, 2, 8}), z({1, 4, 2, 8})), Contains("Tk >= Tq"));
    REQUIRE_THROWS_WITH(attention(z({4, 2, 8}), z({4, 2, 8}), z({4, 2, 8})), Contains("4-d"));
}

TEST_CASE("cross_entropy rejects targets outside the vocabulary and mismatched shapes", "[errors]") {
    REQUIRE_THROWS_WITH(cross_entropy(z({3, 5}), ids({0, 5, 1})), Contains("recur::cross_entropy") && Contains("target 5"));
    REQUIRE_THROWS_WITH(cross_entropy(z({3, 5}), ids({0, 1})), Contains("(2)") && Contains("(3, 5)"));
    // the ignore index itself is fine
    CHECK(cross_entropy(z({3, 5}), ids({0, default_ignore_index, 4})).item() == Approx(std::log(5.0)));
}

TEST_CASE("views reject impossible reshapes, slices and transposes", "[errors]") {
    REQUIRE_THROWS_WITH(z({2, 3}).reshape({4, 2}), Contains("recur::reshape") && Contains("(2, 3)") && Contains("(4, 2)"));
    REQUIRE_THROWS_WITH(z({2, 3}).slice(1, 2, 2), Contains("recur::slice") && Contains("(2, 3)"));
    REQUIRE_THROWS_WITH(z({2, 3}).slice(2, 0, 1), Contains("dimension 2"));
    REQUIRE_THROWS_WITH(z({3}).transpose(), Contains("recur::transpose") && Contains("(3)"));
}

TEST_CASE("backward needs a scalar root or a seed of its shape", "[errors]") {
    auto x = z({2, 2}).set_requires_grad();
    auto y = scale(x, 2.0);
    REQUIRE_THROWS_WITH(backward(y), Contains("seed") && Contains("(2, 2)"));
    tape::of<B>().clear();
    REQUIRE_THROWS_WITH(backward(z({1})), Contains("does not require gradients"));
}
