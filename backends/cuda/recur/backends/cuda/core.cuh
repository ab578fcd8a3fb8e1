// CUDA kernels for tensors themselves (fill, strided copy / accumulate, add-into) on the one kernel family
// every cuda kernel shares: a grid-stride loop over a functor. Not here: op kernels; non-default streams.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <recur/backends/cuda.hpp>

namespace recur::cuda_detail {

/// Calls f(i) for every i < n, spread over the whole grid.
template <class F>
__global__ void for_each_index(std::int64_t n, F f) {
    const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) f(i);
}

/// Runs for_each_index over n indices on the default stream. F is a trivially copyable functor with
/// `__device__ void operator()(std::int64_t) const`; `kernel` names it in launch errors.
template <class F>
void launch(const char* kernel, std::int64_t n, const F& f) {
    static_assert(std::is_trivially_copyable_v<F>, "kernel functors are passed by value to the device");
    if (n <= 0) return;
    constexpr std::int64_t threads = 256, max_blocks = 65535;  // grid-stride: any n fits one launch
    const auto blocks = static_cast<unsigned>(std::min((n + threads - 1) / threads, max_blocks));
    for_each_index<<<blocks, static_cast<unsigned>(threads)>>>(n, f);
    detail::cuda_check(cudaGetLastError(), "launch of the `", kernel, "` kernel");
}

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
void copy_strided(E* dst, const index4& dst_strides, const E* src, const index4& src_strides, const index4& shape) {
    copy_strided_fn<E, Accumulate> f{dst, src, {}, {}, {}};
    std::int64_t n = 1;
    for (std::size_t k = 0; k < 4; ++k) {
        f.dst_strides[k] = dst_strides.v[k];
        f.src_strides[k] = src_strides.v[k];
        f.shape[k] = shape.v[k];
        n *= shape.v[k];
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
    static void run(E* dst, std::int64_t n, E value) {
        cuda_detail::launch("fill", n, cuda_detail::fill_fn<E>{dst, value});
    }
};

template <>
struct copy_strided<cuda> {
    /// Accumulation is for floating-point E only (gradients); asking it of another type throws.
    template <class E>
    static void run(E* dst, const index4& dst_strides, const E* src, const index4& src_strides, const index4& shape,
                    bool accumulate) {
        if constexpr (std::is_floating_point_v<E>) {
            if (accumulate) return cuda_detail::copy_strided<E, true>(dst, dst_strides, src, src_strides, shape);
        } else {
            check(!accumulate, "recur::cuda copy_strided: accumulation needs a floating-point element type, got ",
                  sizeof(E), "-byte integers");
        }
        cuda_detail::copy_strided<E, false>(dst, dst_strides, src, src_strides, shape);
    }
};

template <>
struct add_into<cuda> {
    template <class T>
    static void run(T* dst, const T* src, std::int64_t n) {
        cuda_detail::launch("add_into", n, cuda_detail::add_into_fn<T>{dst, src});
    }
};

}  // namespace recur::kernels
