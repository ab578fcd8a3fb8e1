// One table of op test cases shared by the gradient checks (reference64) and the backend comparisons
// (cpu vs reference): each case names its random inputs and builds an output from them, generically.
// Not here: the checking itself (test_gradcheck.cpp, test_cpu_vs_reference.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include <recur/recur.hpp>

namespace recur::test {

template <class Vec>
using backend_of = typename Vec::value_type::backend_type;

/// A named computation on random inputs of the given shapes; `fns` holds it once per backend.
template <class... Bs>
struct op_case {
    std::string name;
    std::vector<Shape> inputs;
    std::tuple<std::function<Tensor<Bs>(std::vector<Tensor<Bs>>&)>...> fns;

    template <class B>
    Tensor<B> run(std::vector<Tensor<B>>& in) const {
        return std::get<std::function<Tensor<B>(std::vector<Tensor<B>>&)>>(fns)(in);
    }
};

template <class... Bs, class F>
op_case<Bs...> make_case(std::string name, std::vector<Shape> inputs, F f) {
    return {std::move(name), std::move(inputs), {std::function<Tensor<Bs>(std::vector<Tensor<Bs>>&)>(f)...}};
}

/// i32 ids 0 <= id < vocab in a fixed pattern with repeats (so scatter-add is exercised).
template <class B>
Tensor<B> pattern_ids(const Shape& shape, std::int64_t vocab, std::int32_t ignore_every = 0) {
    std::vector<std::int32_t> ids(static_cast<std::size_t>(shape.numel()));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ids[i] = static_cast<std::int32_t>((i * 7 + 3) % static_cast<std::size_t>(vocab));
        if (ignore_every && i % static_cast<std::size_t>(ignore_every) == 1) ids[i] = default_ignore_index;
    }
    return Tensor<B>::from_host(ids, shape);
}

/// Every op, at size n in some dimension of each case (n = 1, 7, 33, 257 in backend comparisons).
template <class... Bs>
std::vector<op_case<Bs...>> op_cases(std::int64_t n) {
    const std::int64_t m = n + 2;
    std::vector<op_case<Bs...>> c;
    auto push = [&](std::string name, std::vector<Shape> shapes, auto f) {
        c.push_back(make_case<Bs...>(std::move(name), std::move(shapes), f));
    };
    // matmul: batched, shared operand on either side, transposed views, 4-d
    push("matmul_batched", {{2, n, 5}, {2, 5, 3}}, [](auto& x) { return matmul(x[0], x[1]); });
    push("matmul_shared_b", {{2, n, m}, {m, 3}}, [](auto& x) { return matmul(x[0], x[1]); });
    push("matmul_shared_a", {{3, n}, {2, n, 4}}, [](auto& x) { return matmul(x[0], x[1]); });
    push("matmul_transposed_views", {{2, 5, n}, {2, 3, 5}},
        [](auto& x) { return matmul(x[0].transpose(), x[1].transpose()); });
    push("matmul_4d", {{2, 2, n, 4}, {2, 2, 4, 3}}, [](auto& x) { return matmul(x[0], x[1]); });
    push("matmul_transposed_shared_b", {{2, n, 4}, {5, 4}}, [](auto& x) { return matmul(x[0], x[1].transpose()); });
    // linear in the (out, in) layout
    push("linear_bias", {{2, 3, n}, {7, n}, {7}}, [](auto& x) { return linear(x[0], x[1], x[2]); });
    push("linear_no_bias", {{n, 5}, {4, 5}}, [](auto& x) { return linear(x[0], x[1]); });
    // broadcasting element-wise
    push("add_same_shape", {{n, 6}, {n, 6}}, [](auto& x) { return add(x[0], x[1]); });
    push("add_broadcast", {{2, n, 6}, {6}}, [](auto& x) { return add(x[0], x[1]); });
    push("add_broadcast_swapped", {{n, 6}, {2, n, 6}}, [](auto& x) { return add(x[0], x[1]); });
    push("mul_same_shape", {{n, 6}, {n, 6}}, [](auto& x) { return mul(x[0], x[1]); });
    push("mul_broadcast", {{2, n, 6}, {n, 6}}, [](auto& x) { return mul(x[0], x[1]); });
    push("mul_broadcast_swapped", {{6}, {n, 6}}, [](auto& x) { return mul(x[0], x[1]); });
    push("scale", {{n, 5}}, [](auto& x) { return scale(x[0], -1.75); });
    push("sum", {{n, 5}}, [](auto& x) { return sum(x[0]); });
    push("mean", {{2, n}}, [](auto& x) { return mean(x[0]); });
    // views
    push("reshape", {{2, n, 6}}, [n](auto& x) { return x[0].reshape({2 * n, 3, 2}); });
    push("slice", {{2, n, 6}}, [](auto& x) { return x[0].slice(-1, 1, 4); });
    push("transpose_contiguous", {{2, n, 5}}, [n](auto& x) { return x[0].transpose().contiguous().reshape({2, 5 * n}); });
    push("slice_of_transpose", {{2, n, 5}}, [n](auto& x) { return x[0].transpose().slice(1, 1, 3).reshape({2, 3 * n}); });
    // concat and split on the last dim
    push("concat", {{2, n, 3}, {2, n, 5}, {2, n, 1}}, [](auto& x) { return concat({x[0], x[1], x[2]}); });
    push("split", {{2, n, 8}}, [](auto& x) {
        auto parts = split(x[0], {3, 5});
        return concat({mul(parts[1], parts[1]), parts[0]});
    });
    // embedding (ids repeat, so rows accumulate)
    push("embedding", {{n + 3, 5}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return embedding(pattern_ids<B>({2, n}, n + 3), x[0]);
    });
    // normalisation and activations
    push("rms_norm", {{2, n, 6}, {6}}, [](auto& x) { return rms_norm(x[0], x[1], 1e-5); });
    push("silu", {{2, n, 5}}, [](auto& x) { return silu(x[0]); });
    push("swiglu", {{2, n, 5}, {2, n, 5}}, [](auto& x) { return swiglu(x[0], x[1]); });
    // rotary embeddings: both layouts, an offset, Llama-3 scaling
    push("rope_half", {{2, n, 3, 8}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return rope(x[0], rope_table<B>({10000.0, rope_layout::half, {}}, 8, n));
    });
    push("rope_interleaved_offset", {{1, n, 2, 6}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return rope(x[0], rope_table<B>({500.0, rope_layout::interleaved, {}}, 6, n + 5), 5);
    });
    push("rope_llama3_scaling", {{1, n, 1, 8}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return rope(x[0], rope_table<B>({500000.0, rope_layout::half, llama3_rope_scaling{8, 1, 4, 32}}, 8, n));
    });
    // attention: grouped-query heads, equal lengths and queries at the end of a longer key sequence
    push("attention_gqa", {{2, n, 4, 8}, {2, n, 2, 8}, {2, n, 2, 8}},
        [](auto& x) { return attention(x[0], x[1], x[2]); });
    push("attention_mha_offset", {{1, n, 2, 4}, {1, n + 3, 2, 4}, {1, n + 3, 2, 4}},
        [](auto& x) { return attention(x[0], x[1], x[2], 0.3); });
    // cross-entropy with ignored targets, mean and per token
    push("cross_entropy_mean", {{2, n, 7}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return cross_entropy(x[0], pattern_ids<B>({2, n}, 7, 3));
    });
    push("cross_entropy_per_token", {{n, 11}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return cross_entropy_per_token(x[0], pattern_ids<B>({n}, 11, 4));
    });
    return c;
}

}  // namespace recur::test
