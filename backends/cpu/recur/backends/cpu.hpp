// The cpu backend: 64-byte-aligned host memory, oneDNN for matrix products, xsimd for element-wise
// kernels and reductions, one OpenMP thread pool shared with oneDNN. Not here: the kernels (cpu/*.hpp).
#pragma once

#include <recur/recur.hpp>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace recur {

/// Host backend computing in f32 with vectorised, multi-threaded kernels.
///
/// Threads: every kernel (and oneDNN, built on the OpenMP runtime) uses the OpenMP pool, so
/// OMP_NUM_THREADS sizes it; kernels on small arrays stay on the calling thread.
struct cpu {
    using scalar = float;
    static constexpr std::string_view name = "cpu";
    static constexpr bool is_host = true;

    /// At least `bytes` (rounded up to a cache line), 64-byte aligned; throws std::bad_alloc.
    static void* allocate(std::size_t bytes) {
        void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!p) throw std::bad_alloc();
        return p;
    }
    static void deallocate(void* p, std::size_t) noexcept { std::free(p); }
    static void copy_from_host(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }
    static void copy_to_host(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }
    static void copy(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }
};

static_assert(Backend<cpu>);

}  // namespace recur

#include <recur/backends/cpu/activation.hpp>
#include <recur/backends/cpu/attention.hpp>
#include <recur/backends/cpu/core.hpp>
#include <recur/backends/cpu/cross_entropy.hpp>
#include <recur/backends/cpu/elementwise.hpp>
#include <recur/backends/cpu/embedding.hpp>
#include <recur/backends/cpu/gemm.hpp>
#include <recur/backends/cpu/rms_norm.hpp>
#include <recur/backends/cpu/rope.hpp>
