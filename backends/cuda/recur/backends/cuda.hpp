// The CUDA backend (include from a .cu file): pooled device memory, cuBLAS GEMM and our kernels for
// every kernel contract (one file per family under cuda/). Not here: multi-GPU communication, other
// streams than the default one.
#pragma once

#include <recur/recur.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include <cuda_runtime.h>

namespace recur {

namespace detail {

/// Throws recur::error naming `what` and the CUDA error unless `status` is cudaSuccess. Clears the
/// runtime's last-error slot first, so a reported failure is not reported again by the next check.
template <class... Parts>
void cuda_check(cudaError_t status, Parts&&... what) {
    if (status == cudaSuccess) return;
    static_cast<void>(cudaGetLastError());
    fail("recur::cuda: ", std::forward<Parts>(what)..., " failed: ", cudaGetErrorName(status), " (",
         cudaGetErrorString(status), ")");
}

/// The current device's default memory pool, set (once per process) to keep freed memory for reuse
/// instead of returning it to the driver at each synchronisation: after the first step, allocations
/// are served from the pool, with no cudaMalloc in a steady-state step.
inline void cuda_keep_pool() {
    static const bool kept = [] {
        int device = 0;
        cuda_check(cudaGetDevice(&device), "cudaGetDevice");
        cudaMemPool_t pool{};
        cuda_check(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
        std::uint64_t keep_all = UINT64_MAX;
        cuda_check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all),
                   "cudaMemPoolSetAttribute (release threshold)");
        return true;
    }();
    static_cast<void>(kept);
}

}  // namespace detail

/// Device backend on the current CUDA device. Every kernel, cuBLAS call, allocation and copy runs on
/// the legacy default stream, so they are ordered among themselves; memory comes from the device's
/// stream-ordered pool (cudaMallocAsync / cudaFreeAsync, cached: see detail::cuda_keep_pool); copies
/// to the device and within it are asynchronous, copies to the host wait for what came before.
struct cuda {
    using scalar = float;
    static constexpr std::string_view name = "cuda";
    static constexpr bool is_host = false;

    /// Device memory for `bytes` bytes (none for 0); throws recur::error (with the CUDA error) when
    /// none is left.
    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        detail::cuda_keep_pool();
        void* p = nullptr;
        detail::cuda_check(cudaMallocAsync(&p, bytes, cudaStreamLegacy), "cudaMallocAsync of ", bytes, " bytes");
        return p;
    }
    static void deallocate(void* p, std::size_t) noexcept {
        if (p) static_cast<void>(cudaFreeAsync(p, cudaStreamLegacy));
    }
    /// Returns once `src` may be reused (pageable memory is staged before cudaMemcpyAsync returns).
    static void copy_from_host(void* dst, const void* src, std::size_t bytes) {
        if (bytes == 0) return;
        detail::cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cudaStreamLegacy), "copy of ", bytes,
                           " bytes to the device");
    }
    /// Waits for every earlier kernel; a kernel's failure is reported here, naming the copy.
    static void copy_to_host(void* dst, const void* src, std::size_t bytes) {
        if (bytes == 0) return;
        detail::cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy of ", bytes, " bytes to the host");
    }
    static void copy(void* dst, const void* src, std::size_t bytes) {
        if (bytes == 0) return;
        detail::cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cudaStreamLegacy), "device copy of ",
                           bytes, " bytes");
    }
};

static_assert(Backend<cuda>);

/// True when the CUDA runtime loads, a driver answers and at least one device is visible.
inline bool cuda_available() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        static_cast<void>(cudaGetLastError());
        return false;
    }
    return count > 0;
}

}  // namespace recur

#include <recur/backends/cuda/activation.cuh>
#include <recur/backends/cuda/attention.cuh>
#include <recur/backends/cuda/copy.cuh>
#include <recur/backends/cuda/core.cuh>
#include <recur/backends/cuda/cross_entropy.cuh>
#include <recur/backends/cuda/elementwise.cuh>
#include <recur/backends/cuda/embedding.cuh>
#include <recur/backends/cuda/gemm.cuh>
#include <recur/backends/cuda/optim.cuh>
#include <recur/backends/cuda/random.cuh>
#include <recur/backends/cuda/reduce.cuh>
#include <recur/backends/cuda/rms_norm.cuh>
#include <recur/backends/cuda/rope.cuh>
