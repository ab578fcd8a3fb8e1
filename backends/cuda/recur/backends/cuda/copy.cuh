// CUDA fill, strided copy / accumulate (any storage element type) and add-into: one functor each on
// core.cuh's grid-stride launch. Not here: the launch itself (core.cuh) or op kernels (one file per family).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/kernels/copy.hpp>

namespace recur::cuda_detail {

template <class E>
struct fill_fn {
    E* dst;
    E value;
    __device__ void operator()(std::int64_t i) const { dst[i] = value; }
};

template <class E, bool Accumulate>
struct copy_strided_fn {
    E* dst;
    const E* src;
    std::int64_t dst_strides[4], src_strides[4], shape[4];

    __device__ void operator()(std::int64_t i) const {
        std::int64_t d = 0, s = 0;
#pragma unroll
        for (int k = 3; k >= 0; --k) {  // i is the row-major position in `shape`
            const std::int64_t ik = i % shape[k];
            i /= shape[k];
            d += ik * dst_strides[k];
            s += ik * src_strides[k];
        }
        if constexpr (Accumulate) dst[d] += src[s];
        else dst[d] = src[s];
    }
};

template <class E, bool Accumulate>
void copy_strided(const copy_strided_args<E>& a) {
    copy_strided_fn<E, Accumulate> f{a.dst, a.src, {}, {}, {}};
    std::int64_t n = 1;
    for (std::size_t k = 0; k < 4; ++k) {
        f.dst_strides[k] = a.dst_strides.v[k];
        f.src_strides[k] = a.src_strides.v[k];
        f.shape[k] = a.shape.v[k];
        n *= a.shape.v[k];
    }
    launch(Accumulate ? "copy_strided (accumulate)" : "copy_strided", n, f);
}

template <class T>
struct add_into_fn {
    T* dst;
    const T* src;
    __device__ void operator()(std::int64_t i) const { dst[i] += src[i]; }
};

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct fill<cuda> {
    template <class E>
    static void run(const fill_args<E>& a) {
        cuda_detail::launch("fill", a.n, cuda_detail::fill_fn<E>{a.dst, a.value});
    }
};

template <>
struct copy_strided<cuda> {
    /// Accumulation is for floating-point E only (gradients); asking it of another type throws.
    template <class E>
    static void run(const copy_strided_args<E>& a) {
        if constexpr (std::is_floating_point_v<E>) {
            if (a.accumulate) return cuda_detail::copy_strided<E, true>(a);
        } else {
            check(!a.accumulate, "recur::cuda copy_strided: accumulation needs a floating-point element type, got ",
                  sizeof(E), "-byte integers");
        }
        cuda_detail::copy_strided<E, false>(a);
    }
};

template <>
struct add_into<cuda> {
    using T = cuda::scalar;
    static void run(const add_into_args<T>& a) {
        cuda_detail::launch("add_into", a.n, cuda_detail::add_into_fn<T>{a.dst, a.src});
    }
};

}  // namespace recur::kernels
