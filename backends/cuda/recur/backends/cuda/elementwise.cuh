// CUDA kernels of ops/elementwise.hpp: add/mul with a broadcast operand, scale, and the column sums
// (sum_rows) their backward needs. Not here: activations or other reductions (no cuda kernels yet).
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/kernels/elementwise.hpp>

namespace recur::cuda_detail {

template <class T, binary_op Op>
struct binary_fn {
    T* out;
    const T* a;
    const T* b;
    std::int64_t n, nb;

    __device__ void operator()(std::int64_t i) const {
        const T y = b[nb == n ? i : i % nb];
        if constexpr (Op == binary_op::add) out[i] = a[i] + y;
        else out[i] = a[i] * y;
    }
};

template <class T>
struct scale_fn {
    T* out;
    const T* x;
    T s;
    __device__ void operator()(std::int64_t i) const { out[i] = s * x[i]; }
};

/// One thread per column, walking down the rows: coalesced, parallel over columns only.
template <class T>
struct sum_rows_fn {
    T* out;
    const T* x;
    const T* y;
    std::int64_t rows, cols;

    __device__ void operator()(std::int64_t j) const {
        T acc = 0;
        for (std::int64_t i = 0; i < rows; ++i) acc += y ? x[i * cols + j] * y[i * cols + j] : x[i * cols + j];
        out[j] += acc;
    }
};

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct binary<cuda> {
    using T = cuda::scalar;
    template <binary_op Op>
    static void run(const binary_args<T>& args) {
        T* const out = args.out;
        const T *const a = args.a, *const b = args.b;
        const std::int64_t n = args.n, nb = args.nb;
        cuda_detail::launch(Op == binary_op::add ? "add" : "mul", n, cuda_detail::binary_fn<T, Op>{out, a, b, n, nb});
    }
};

template <>
struct scale<cuda> {
    using T = cuda::scalar;
    static void run(const scale_args<T>& args) {
        T* const out = args.out;
        const T* const x = args.x;
        const std::int64_t n = args.n;
        const T s = args.s;
        cuda_detail::launch("scale", n, cuda_detail::scale_fn<T>{out, x, s});
    }
};

template <>
struct sum_rows<cuda> {
    using T = cuda::scalar;
    static void run(const sum_rows_args<T>& args) {
        T* const out = args.out;
        const T *const x = args.x, *const y = args.y;
        const std::int64_t rows = args.rows, cols = args.cols;
        cuda_detail::launch("sum_rows", cols, cuda_detail::sum_rows_fn<T>{out, x, y, rows, cols});
    }
};

}  // namespace recur::kernels
