// CUDA kernels of ops/elementwise.hpp: add/mul with a broadcast operand, scale, the column sums
// (sum_rows) their backward needs and the sum of all elements. Not here: activations (activation.cuh)
// or the reductions' machinery (reduce.cuh).
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/backends/cuda/reduce.cuh>
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

/// x[r, j] (times y[r, j] where y is given): what sum_rows adds.
template <class T>
struct sum_rows_load {
    const T* x;
    const T* y;
    std::int64_t cols;
    __device__ T operator()(std::int64_t r, std::int64_t j) const {
        const std::int64_t i = r * cols + j;
        return y ? x[i] * y[i] : x[i];
    }
};

/// x[i], widened to double.
template <class T>
struct load_double {
    const T* x;
    __device__ double operator()(std::int64_t i) const { return static_cast<double>(x[i]); }
};

/// out[0] = T(sum).
template <class T>
struct store_cast {
    T* out;
    __device__ void operator()(double sum) const { out[0] = static_cast<T>(sum); }
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
        cuda_detail::column_sums("sum_rows", args.rows, args.cols, cuda_detail::sum_rows_load<T>{args.x, args.y, args.cols},
                                 args.out);
    }
};

/// Accumulated in double, like the reference.
template <>
struct sum_all<cuda> {
    using T = cuda::scalar;
    static void run(const sum_all_args<T>& args) {
        cuda_detail::reduce_all<double>("sum_all", args.n, cuda_detail::load_double<T>{args.x},
                                        cuda_detail::store_cast<T>{args.out});
    }
};

}  // namespace recur::kernels
