// The cpu backend against the reference backend on every op: outputs and gradients on random inputs
// at odd sizes (1, 7, 33, 257), relative error < 1e-4.
// Not here: gradient correctness itself (test_gradcheck.cpp proves the reference right).
#include <catch2/catch.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>

#include "ops/op_cases.hpp"
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
