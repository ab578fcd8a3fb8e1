// What every cuda kernel shares: a grid-stride loop over a functor (for_each_index) and its launch on
// the default stream, warp and block sums, the deterministic two-pass reduction plan, and a scratch
// buffer from the backend's stream-ordered pool. Not here: any op's kernel (one file per family:
// copy.cuh, elementwise.cuh, ...); non-default streams.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <recur/backends/cuda.hpp>
#include <recur/core/host_device.hpp>

namespace recur::cuda_detail {

/// Threads per block of the element-wise and row kernels (a multiple of the warp size, 32).
inline constexpr int block_threads = 256;

/// Calls f(i) for every i < n, spread over the whole grid.
template <class F>
__global__ void for_each_index(std::int64_t n, F f) {
    const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) f(i);
}

/// Throws recur::error naming `kernel` when the last launch failed (bad configuration, no device).
inline void check_launch(const char* kernel) { detail::cuda_check(cudaGetLastError(), "launch of the `", kernel, "` kernel"); }

/// Blocks for n independent items of `per_block` each, capped so a grid-stride loop covers the rest.
inline unsigned grid_for(std::int64_t n, std::int64_t per_block = block_threads) {
    constexpr std::int64_t max_blocks = 65535;
    return static_cast<unsigned>(std::clamp<std::int64_t>((n + per_block - 1) / per_block, 1, max_blocks));
}

/// Runs for_each_index over n indices on the default stream. F is a trivially copyable functor with
/// `__device__ void operator()(std::int64_t) const`; `kernel` names it in launch errors.
template <class F>
void launch(const char* kernel, std::int64_t n, const F& f) {
    static_assert(std::is_trivially_copyable_v<F>, "kernel functors are passed by value to the device");
    if (n <= 0) return;
    for_each_index<<<grid_for(n), block_threads>>>(n, f);
    check_launch(kernel);
}

/// Sum of v over the 32 lanes of a warp, in every lane.
template <class A>
__device__ A warp_sum(A v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

/// Maximum of v over the 32 lanes of a warp, in every lane.
__device__ inline float warp_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/// Sum of v over the block (blockDim.x a multiple of 32, at most 1024), in every thread. Every thread
/// of the block must call it; the order of the additions is fixed, so the result is reproducible.
template <class A>
__device__ A block_sum(A v) {
    __shared__ A partial[32];
    const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();  // partial may still be read by a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : A(0);
    return warp_sum(v);
}

/// Maximum of v over the block, in every thread (same rules as block_sum).
__device__ inline float block_max(float v) {
    __shared__ float partial[32];
    const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : -INFINITY;
    return warp_max(v);
}

/// The plan of a deterministic two-pass reduction of n values: `blocks` partial sums, each over a
/// fixed grid-stride subset, then one block adds the partials in order. Depends on n only, so the
/// same input gives the same bits on every run. Host and device code share it.
struct reduction_plan {
    std::int64_t n = 0;
    static constexpr std::int64_t max_blocks = 512;

    RECUR_HOST_DEVICE std::int64_t blocks() const {
        const std::int64_t b = (n + 4 * block_threads - 1) / (4 * block_threads);  // >= 4 values per thread
        return b < 1 ? 1 : (b > max_blocks ? max_blocks : b);
    }
    RECUR_HOST_DEVICE std::int64_t stride() const { return blocks() * block_threads; }
};

/// Device memory for `count` values of T from the backend's pool (cuda::allocate), returned to it at
/// scope exit in stream order: a kernel still reading it keeps it until the kernel is done.
template <class T>
class scratch {
public:
    explicit scratch(std::int64_t count) : bytes_(static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * sizeof(T)) {
        data_ = static_cast<T*>(cuda::allocate(bytes_));
    }
    ~scratch() { cuda::deallocate(data_, bytes_); }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    T* get() const { return data_; }

private:
    std::size_t bytes_;
    T* data_ = nullptr;
};

}  // namespace recur::cuda_detail
