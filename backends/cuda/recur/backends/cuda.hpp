// The CUDA backend (include from a .cu file): cudaMalloc'd memory, cuBLAS GEMM, CUDA element-wise kernels.
// Not here: kernels for the other ops (rms_norm, attention, ...); using those on cuda fails to compile.
#pragma once

#include <recur/recur.hpp>

#include <cstddef>
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

}  // namespace detail

/// Device backend on the current CUDA device; every kernel runs on the legacy default stream, so
/// kernels, cuBLAS calls and copies are ordered, and copies to the host wait for what came before.
struct cuda {
    using scalar = float;
    static constexpr std::string_view name = "cuda";
    static constexpr bool is_host = false;

    /// Device memory for `bytes` bytes; throws recur::error (with the CUDA error) when none is left.
    static void* allocate(std::size_t bytes) {
        void* p = nullptr;
        detail::cuda_check(cudaMalloc(&p, bytes), "cudaMalloc of ", bytes, " bytes");
        return p;
    }
    static void deallocate(void* p, std::size_t) noexcept { static_cast<void>(cudaFree(p)); }
    static void copy_from_host(void* dst, const void* src, std::size_t bytes) {
        if (bytes == 0) return;
        detail::cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy of ", bytes, " bytes to the device");
    }
    static void copy_to_host(void* dst, const void* src, std::size_t bytes) {
        if (bytes == 0) return;
        detail::cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy of ", bytes, " bytes to the host");
    }
    static void copy(void* dst, const void* src, std::size_t bytes) {
        if (bytes == 0) return;
        detail::cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "device copy of ", bytes, " bytes");
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

#include <recur/backends/cuda/copy.cuh>
#include <recur/backends/cuda/core.cuh>
#include <recur/backends/cuda/elementwise.cuh>
#include <recur/backends/cuda/gemm.cuh>
