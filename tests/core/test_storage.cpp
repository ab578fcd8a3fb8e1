// The caching pool: repeated identical computations allocate nothing new; statistics add up.
// Not here: tensor semantics (test_tensor.cpp).
#include <catch2/catch.hpp>

#include <recur/backends/reference.hpp>

using namespace recur;
using B = reference;

namespace {
double train_like_step(const Tensor<B>& w, const Tensor<B>& x) {
    auto h = silu(linear(x, w));
    auto loss = mean(mul(h, h));
    backward(loss);
    return loss.item();
}
}  // namespace

TEST_CASE("repeating the same forward and backward allocates nothing new", "[storage]") {
    rng gen(7);
    auto w = randn<B>({16, 8}, gen).set_requires_grad();
    const auto x = randn<B>({4, 5, 8}, gen);
    train_like_step(w, x);  // warms the pool
    w.zero_grad();
    auto& pool = storage_pool<B>::instance();
    const auto before = pool.stats();
    for (int i = 0; i < 3; ++i) {
        train_like_step(w, x);
        w.zero_grad();
    }
    const auto after = pool.stats();
    CHECK(after.fresh_allocations == before.fresh_allocations);
    CHECK(after.bytes_reserved == before.bytes_reserved);
    CHECK(after.bytes_in_use == before.bytes_in_use);
}

TEST_CASE("pool statistics track bytes in use and the high-water mark", "[storage]") {
    auto& pool = storage_pool<B>::instance();
    pool.reset_peak();
    const auto base = pool.stats().bytes_in_use;
    {
        auto a = Tensor<B>::empty({1000});
        auto b = Tensor<B>::empty({1000});
        CHECK(pool.stats().bytes_in_use >= base + 8000);
    }
    CHECK(pool.stats().bytes_in_use == base);
    CHECK(pool.stats().peak_bytes_in_use >= base + 8000);
    pool.trim();
    CHECK(pool.stats().bytes_reserved == pool.stats().bytes_in_use);
}
