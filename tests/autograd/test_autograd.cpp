// Tape autograd: no_grad records nothing, leaves accumulate with +=, zero_grad, views carry gradients,
// activations are released as backward consumes them.
// Not here: per-op gradient correctness (ops/test_gradcheck.cpp).
#include <catch2/catch.hpp>

#include <recur/backends/reference.hpp>

using namespace recur;
using B = reference;

TEST_CASE("no_grad records nothing and its results need no gradient", "[autograd]") {
    auto x = Tensor<B>::full({3}, 2.0).set_requires_grad();
    tape::of<B>().clear();
    {
        no_grad guard;
        auto y = mul(x, x);
        CHECK_FALSE(y.requires_grad());
        CHECK(tape::of<B>().size() == 0);
    }
    CHECK(is_grad_enabled());
    auto y = mul(x, x);
    CHECK(y.requires_grad());
    CHECK(tape::of<B>().size() == 1);
    tape::of<B>().clear();
}

TEST_CASE("leaf gradients accumulate with += across backward calls, zero_grad resets them", "[autograd]") {
    auto x = Tensor<B>::from_host(std::vector<float>{1, 2, 3}, {3}).set_requires_grad();
    backward(sum(mul(x, x)));  // d/dx = 2x
    CHECK(x.grad().to_host<float>() == std::vector<float>{2, 4, 6});
    backward(sum(scale(x, 3.0)));  // += 3
    CHECK(x.grad().to_host<float>() == std::vector<float>{5, 7, 9});
    x.zero_grad();
    CHECK(x.grad().to_host<float>() == std::vector<float>{0, 0, 0});
    backward(sum(x));
    CHECK(x.grad().to_host<float>() == std::vector<float>{1, 1, 1});
}

TEST_CASE("a tensor used twice gets both contributions", "[autograd]") {
    auto x = Tensor<B>::from_host(std::vector<float>{1, -2}, {2}).set_requires_grad();
    auto y = add(mul(x, x), scale(x, 5.0));  // 2x + 5
    backward(sum(y));
    CHECK(x.grad().to_host<float>() == std::vector<float>{7, 1});
}

TEST_CASE("gradients flow back through slice, transpose and reshape views", "[autograd]") {
    auto x = Tensor<B>::from_host(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3}).set_requires_grad();
    auto parts = split(x, {1, 2});                       // (2, 1) and (2, 2)
    auto y = add(scale(parts[0], 10.0).reshape({2}),     // column 0 weighted 10
                 sum(parts[1].transpose().contiguous()));  // columns 1, 2 weighted 1
    backward(sum(y));
    CHECK(x.grad().to_host<float>() == std::vector<float>{10, 2, 2, 10, 2, 2});
}

namespace {
/// A test op that records how many bytes the pool holds when its backward runs.
struct probe_op {
    static constexpr std::string_view name = "probe";
    std::size_t* seen;
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        *seen = storage_pool<B>::instance().stats().bytes_in_use;
        g.accumulate(0, std::move(dy));
    }
};
Tensor<B> probe(const Tensor<B>& x, std::size_t* seen) {
    Tensor<B> y = scale(x, 1.0).detach();
    if (recording(x)) record(probe_op{seen}, y, x);
    return y;
}
}  // namespace

TEST_CASE("saved activations are released as backward consumes the tape", "[autograd]") {
    auto& pool = storage_pool<B>::instance();
    auto x = Tensor<B>::full({256, 256}, 0.5).set_requires_grad();
    std::size_t at_probe = 0;
    const std::size_t before = pool.stats().bytes_in_use;
    Tensor<B> h = probe(x, &at_probe);  // recorded first, so its backward runs last
    for (int i = 0; i < 8; ++i) h = silu(h);  // each silu saves its (256, 256) input
    auto loss = sum(h);
    h = Tensor<B>();
    const std::size_t after_forward = pool.stats().bytes_in_use;
    CHECK(after_forward >= before + 8 * 256 * 256 * sizeof(float));
    backward(loss);
    // By the time the first op's backward runs, the eight later nodes and their inputs are gone:
    // what is left is the probe's output gradient, x's own buffers and a few scalars.
    CHECK(at_probe < before + 3 * 256 * 256 * sizeof(float));
    CHECK(tape::of<B>().size() == 0);
}

TEST_CASE("a leaf can be the loss itself and backward seeds it with one", "[autograd]") {
    auto x = Tensor<B>::full({1}, 4.0).set_requires_grad();
    backward(x);
    CHECK(x.grad().item() == 1.0);
}

TEST_CASE("graphs recorded on different backends do not interfere", "[autograd]") {
    auto x = Tensor<reference>::full({2}, 3.0).set_requires_grad();
    auto y = Tensor<reference64>::full({2}, 5.0).set_requires_grad();
    auto lx = sum(mul(x, x));
    auto ly = sum(mul(y, y));  // recorded between lx's forward and its backward
    backward(lx);
    CHECK(tape::of<reference64>().size() > 0);  // ly's graph is still there
    backward(ly);
    CHECK(x.grad().to_host<double>() == std::vector<double>{6, 6});
    CHECK(y.grad().to_host<double>() == std::vector<double>{10, 10});
}
