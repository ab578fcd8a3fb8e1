// Contract of the rotary-embedding kernel: rotate each head's pairs by per-position angles (the
// inverse rotation is its backward). Not here: the tables and the op (recur/ops/rope.hpp).
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// Which elements of a head form a rotated pair.
enum class rope_layout {
    half,         ///< Hugging Face: (i, i + D/2), "rotate_half"
    interleaved,  ///< llama2.c / Meta: (2i, 2i + 1)
};

/// Pair (x1, x2) at angle a becomes (x1 cos a - x2 sin a, x2 cos a + x1 sin a); `inverse` uses -a.
/// Row j of cos / sin holds the angles of the j-th position of x.
template <class T>
struct rope_args {
    T* y = nullptr;          // (B, T, H, D) written; may alias x
    const T* x = nullptr;    // (B, T, H, D) contiguous
    const T* cos = nullptr;  // (T, D/2)
    const T* sin = nullptr;  // (T, D/2)
    std::int64_t b = 0, t = 0, h = 0, d = 0;  // B, T, H, D (D even)
    rope_layout layout = rope_layout::half;
    bool inverse = false;
};

namespace kernels {

/// Rotary embedding. Implemented by: reference, cpu, cuda.
template <class B>
struct rope : missing_kernel {
    static constexpr std::string_view name = "rope";
    static void run(const rope_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'rope' kernel (specialise recur::kernels::rope<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
