// Memory and copies for backends whose memory is ordinary host memory (reference, cpu): a base
// that a backend type derives from. Not here: kernels, or device memory (each device backend owns its own).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace recur {

/// 64-byte-aligned host allocation and memcpy copies; derive a host backend from it.
struct host_memory {
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

}  // namespace recur
