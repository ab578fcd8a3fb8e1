// The reference backend: plain loops over host memory, the oracle every other backend is tested
// against. basic_reference<double> runs the finite-difference gradient checks.
// Not here: anything fast; no threads, no SIMD, no libraries.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include <recur/recur.hpp>

namespace recur {

/// Host backend computing in T with obviously-correct loops.
template <class T>
struct basic_reference {
    using scalar = T;
    static constexpr std::string_view name = sizeof(T) == 8 ? "reference64" : "reference";
    static constexpr bool is_host = true;

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

/// f32 reference backend.
using reference = basic_reference<float>;
/// f64 reference backend, for gradient checks by finite differences.
using reference64 = basic_reference<double>;

static_assert(Backend<reference> && Backend<reference64>);

}  // namespace recur

#include <recur/backends/reference/activation.hpp>
#include <recur/backends/reference/attention.hpp>
#include <recur/backends/reference/core.hpp>
#include <recur/backends/reference/cross_entropy.hpp>
#include <recur/backends/reference/elementwise.hpp>
#include <recur/backends/reference/embedding.hpp>
#include <recur/backends/reference/gemm.hpp>
#include <recur/backends/reference/rms_norm.hpp>
#include <recur/backends/reference/rope.hpp>
