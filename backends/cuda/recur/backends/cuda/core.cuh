// What every cuda kernel shares: one kernel family, a grid-stride loop over a functor (for_each_index),
// and its launch on the default stream. Not here: any kernel (fill and the copies are in copy.cuh; one
// file per family); non-default streams.
#pragma once

#include <algorithm>
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

}  // namespace recur::cuda_detail
