// The op table: every op test case written once (as ggml's test-backend-ops does): its name, the
// kernels it runs (forward and backward), its random inputs' shapes at a size n, the computation,
// its tolerance against the reference, the GEMM precisions it runs in, and whether it has a backward.
// The same table drives the finite-difference gradient checks (reference64, test_gradcheck.cpp) and
// every optimized backend against the reference (op_check.hpp: cpu in test_backends.cpp, cuda in
// tests/cuda). A case runs on a backend only where that backend has every kernel the case names; the
// others are listed as not run. Not here: the checks themselves (op_check.hpp, test_gradcheck.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <recur/kernels/inventory.hpp>
#include <recur/recur.hpp>

namespace recur::test {

/// The kernels a case runs beyond the copy family every backend has (fill, copy_strided, add_into).
template <template <class> class... K>
struct needs {};

/// What a case is checked with; defaults suit an f32 op with a backward.
struct case_options {
    double tolerance = 1e-4;  ///< relative error against the reference, f32 GEMMs
    std::vector<matmul_precision> precisions = {matmul_precision::f32};  ///< runs once per precision
    bool has_backward = true;  ///< false: forward only (conversions, no-grad tensors)
    bool gradcheck = true;     ///< false: too large for finite differences (exists to exercise tiling)
};

/// One row of the table: a named computation on random inputs, held once per backend in Bs (an
/// empty function where that backend lacks a kernel the case needs, so it is never instantiated).
template <class... Bs>
struct op_case {
    std::string name;
    std::vector<std::string_view> kernels;  ///< the names of the kernels it needs
    std::vector<Shape> inputs;
    case_options options;
    std::tuple<std::function<Tensor<Bs>(std::vector<Tensor<Bs>>&)>...> fns;

    template <class B>
    bool runs_on() const {
        return static_cast<bool>(std::get<std::function<Tensor<B>(std::vector<Tensor<B>>&)>>(fns));
    }
    template <class B>
    Tensor<B> run(std::vector<Tensor<B>>& in) const {
        return std::get<std::function<Tensor<B>(std::vector<Tensor<B>>&)>>(fns)(in);
    }
};

/// f for backend B where B has every kernel in K and the copy family; otherwise an empty function
/// (f is then never instantiated for B, so a missing kernel's static_assert never fires).
template <class B, template <class> class... K, class F>
std::function<Tensor<B>(std::vector<Tensor<B>>&)> case_function(const F& f) {
    constexpr bool copies = has_kernel<B, kernels::fill> && has_kernel<B, kernels::copy_strided> &&
                            has_kernel<B, kernels::add_into>;
    if constexpr (copies && (has_kernel<B, K> && ...)) return f;
    else return {};
}

template <class... Bs, template <class> class... K, class F>
op_case<Bs...> make_case(std::string name, needs<K...>, std::vector<Shape> inputs, F f, case_options options) {
    return {std::move(name), {kernel_name<K>...}, std::move(inputs), std::move(options),
            {case_function<Bs, K...>(f)...}};
}

template <class Vec>
using backend_of = typename Vec::value_type::backend_type;

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

/// Every op, at size n in some dimension of each case (n = 1, 7, 33, 257 in backend comparisons,
/// 1, 3, 5 in gradient checks), once per backend of Bs.
template <class... Bs>
std::vector<op_case<Bs...>> op_cases(std::int64_t n) {
    namespace k = kernels;
    const std::int64_t m = n + 2;
    const case_options gemm_options{.precisions = {matmul_precision::f32, matmul_precision::bf16, matmul_precision::tf32}};
    const case_options forward_only{.has_backward = false};
    const case_options large_options{.gradcheck = false};
    case_options large_gemm_options = gemm_options;
    large_gemm_options.gradcheck = false;
    std::vector<op_case<Bs...>> c;
    auto push = [&]<template <class> class... K>(std::string name, needs<K...> kernels_needed, std::vector<Shape> shapes, auto f,
                                                 case_options options = {}) {
        c.push_back(make_case<Bs...>(std::move(name), kernels_needed, std::move(shapes), f, std::move(options)));
    };
    // matmul: batched, shared operand on either side, transposed views, 4-d, in every GEMM precision
    push("matmul_batched", needs<k::gemm>{}, {{2, n, 5}, {2, 5, 3}}, [](auto& x) { return matmul(x[0], x[1]); }, gemm_options);
    push("matmul_shared_b", needs<k::gemm>{}, {{2, n, m}, {m, 3}}, [](auto& x) { return matmul(x[0], x[1]); }, gemm_options);
    push("matmul_shared_a", needs<k::gemm>{}, {{3, n}, {2, n, 4}}, [](auto& x) { return matmul(x[0], x[1]); }, gemm_options);
    push("matmul_transposed_views", needs<k::gemm>{}, {{2, 5, n}, {2, 3, 5}},
         [](auto& x) { return matmul(x[0].transpose(), x[1].transpose()); }, gemm_options);
    push("matmul_4d", needs<k::gemm>{}, {{2, 2, n, 4}, {2, 2, 4, 3}}, [](auto& x) { return matmul(x[0], x[1]); },
         gemm_options);
    push("matmul_transposed_shared_b", needs<k::gemm>{}, {{2, n, 4}, {5, 4}},
         [](auto& x) { return matmul(x[0], x[1].transpose()); }, gemm_options);
    push("matmul_odd_sizes", needs<k::gemm>{}, {{n + 64, 129}, {129, 33}}, [](auto& x) { return matmul(x[0], x[1]); },
         large_gemm_options);
    // linear in the (out, in) layout
    push("linear_bias", needs<k::gemm, k::binary, k::sum_rows>{}, {{2, 3, n}, {7, n}, {7}},
         [](auto& x) { return linear(x[0], x[1], x[2]); }, gemm_options);
    push("linear_no_bias", needs<k::gemm>{}, {{n, 5}, {4, 5}}, [](auto& x) { return linear(x[0], x[1]); }, gemm_options);
    // broadcasting element-wise (the backward of a broadcast operand sums rows)
    push("add_same_shape", needs<k::binary>{}, {{n, 6}, {n, 6}}, [](auto& x) { return add(x[0], x[1]); });
    push("add_broadcast", needs<k::binary, k::sum_rows>{}, {{2, n, 6}, {6}}, [](auto& x) { return add(x[0], x[1]); });
    push("add_broadcast_swapped", needs<k::binary, k::sum_rows>{}, {{n, 6}, {2, n, 6}}, [](auto& x) { return add(x[0], x[1]); });
    push("add_broadcast_many_columns", needs<k::binary, k::sum_rows>{}, {{n + 300, 257}, {257}},
         [](auto& x) { return add(x[0], x[1]); }, large_options);
    push("add_scalar_operand", needs<k::binary, k::sum_rows>{}, {{n}, {1}}, [](auto& x) { return add(x[0], x[1]); });
    push("mul_same_shape", needs<k::binary>{}, {{n, 6}, {n, 6}}, [](auto& x) { return mul(x[0], x[1]); });
    push("mul_broadcast", needs<k::binary, k::sum_rows>{}, {{2, n, 6}, {n, 6}}, [](auto& x) { return mul(x[0], x[1]); });
    push("mul_broadcast_swapped", needs<k::binary, k::sum_rows>{}, {{6}, {n, 6}}, [](auto& x) { return mul(x[0], x[1]); });
    push("scale", needs<k::scale>{}, {{n, 5}}, [](auto& x) { return recur::scale(x[0], -1.75); });
    push("scale_of_transpose", needs<k::scale>{}, {{3, n, 5}}, [](auto& x) { return recur::scale(x[0].transpose(), 0.37); });
    push("sum", needs<k::sum_all>{}, {{n, 5}}, [](auto& x) { return sum(x[0]); });
    push("mean", needs<k::sum_all, k::scale>{}, {{2, n}}, [](auto& x) { return mean(x[0]); });
    // views and copies (the copy family only)
    push("reshape", needs<>{}, {{2, n, 6}}, [n](auto& x) { return x[0].reshape({2 * n, 3, 2}); });
    push("slice", needs<>{}, {{2, n, 6}}, [](auto& x) { return x[0].slice(-1, 1, 4); });
    push("transpose_contiguous", needs<>{}, {{2, n, 5}},
         [n](auto& x) { return x[0].transpose().contiguous().reshape({2, 5 * n}); });
    push("slice_of_transpose", needs<>{}, {{2, n, 5}},
         [n](auto& x) { return x[0].transpose().slice(1, 1, 3).reshape({2, 3 * n}); });
    push("slice_of_slice_4d", needs<>{}, {{2, 3, n, 5}},
         [](auto& x) { return x[0].slice(1, 1, 2).slice(-1, 2, 3).contiguous(); });
    // storage dtypes and constants (forward only: conversions are leaves)
    push("to_bf16_and_back", needs<>{}, {{n, 7}},
         [](auto& x) { return x[0].to(dtype::bf16).to(std::decay_t<decltype(x[0])>::compute_dtype); }, forward_only);
    push("full_plus_input", needs<k::binary>{}, {{n, 3}}, [](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return add(x[0], Tensor<B>::full(x[0].shape(), 2.5));
    });
    // concat and split on the last dim
    push("concat", needs<>{}, {{2, n, 3}, {2, n, 5}, {2, n, 1}}, [](auto& x) { return concat({x[0], x[1], x[2]}); });
    push("split", needs<k::binary>{}, {{2, n, 8}}, [](auto& x) {
        auto parts = split(x[0], {3, 5});
        return concat({mul(parts[1], parts[1]), parts[0]});
    });
    // embedding (ids repeat, so rows accumulate)
    push("embedding", needs<k::embedding>{}, {{n + 3, 5}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return recur::embedding(pattern_ids<B>({2, n}, n + 3), x[0]);
    });
    // normalisation and activations
    push("rms_norm", needs<k::rms_norm>{}, {{2, n, 6}, {6}}, [](auto& x) { return recur::rms_norm(x[0], x[1], 1e-5); });
    push("silu", needs<k::silu>{}, {{2, n, 5}}, [](auto& x) { return recur::silu(x[0]); });
    push("swiglu", needs<k::swiglu>{}, {{2, n, 5}, {2, n, 5}}, [](auto& x) { return recur::swiglu(x[0], x[1]); });
    // rotary embeddings: both layouts, an offset, Llama-3 scaling
    push("rope_half", needs<k::rope>{}, {{2, n, 3, 8}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return recur::rope(x[0], rope_table<B>({10000.0, rope_layout::half, {}}, 8, n));
    });
    push("rope_interleaved_offset", needs<k::rope>{}, {{1, n, 2, 6}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return recur::rope(x[0], rope_table<B>({500.0, rope_layout::interleaved, {}}, 6, n + 5), 5);
    });
    push("rope_llama3_scaling", needs<k::rope>{}, {{1, n, 1, 8}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return recur::rope(x[0], rope_table<B>({500000.0, rope_layout::half, llama3_rope_scaling{8, 1, 4, 32}}, 8, n));
    });
    // attention: grouped-query heads, equal lengths and queries at the end of a longer key sequence
    push("attention_gqa", needs<k::attention>{}, {{2, n, 4, 8}, {2, n, 2, 8}, {2, n, 2, 8}},
         [](auto& x) { return recur::attention(x[0], x[1], x[2]); });
    push("attention_mha_offset", needs<k::attention>{}, {{1, n, 2, 4}, {1, n + 3, 2, 4}, {1, n + 3, 2, 4}},
         [](auto& x) { return recur::attention(x[0], x[1], x[2], 0.3); });
    // cross-entropy with ignored targets, mean and per token
    push("cross_entropy_mean", needs<k::cross_entropy>{}, {{2, n, 7}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return recur::cross_entropy(x[0], pattern_ids<B>({2, n}, 7, 3));
    });
    push("cross_entropy_per_token", needs<k::cross_entropy>{}, {{n, 11}}, [n](auto& x) {
        using B = backend_of<std::decay_t<decltype(x)>>;
        return cross_entropy_per_token(x[0], pattern_ids<B>({n}, 11, 4));
    });
    return c;
}

}  // namespace recur::test
