// Contract of the keyed random kernel: a truncated normal (B, T, C) whose every value is a function of
// its own indices (the recurrent state's initial noise). Not here: the keyed functions it is defined by
// and the sequential generator (recur/core/random.hpp), or its caller (recurrence/recurrent.hpp);
// letters: core/dims.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// out[b, t, c] = T(std * keyed::truncated_normal(keyed::mix(keyed::row_key(base, b, pos0 + t), c), 3))
/// for b < B, t < T, c < C: values cut at 3 std, the same on any backend, thread count or order.
template <class T>
struct keyed_truncated_normal_args {
    T* out = nullptr;        // (B, T, C) written, contiguous
    std::int64_t batch = 0;  // B
    std::int64_t t = 0;      // T
    std::int64_t c = 0;      // C
    std::uint64_t base = 0;  // the draw's base key
    std::int64_t pos0 = 0;   // position of row t = 0
    double std = 1;          // standard deviation before the cut
};

namespace kernels {

/// Keyed truncated normal. Implemented by: reference, cpu, cuda.
template <class B>
struct keyed_truncated_normal : missing_kernel {
    static constexpr std::string_view name = "keyed_truncated_normal";
    static void run(const keyed_truncated_normal_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'keyed_truncated_normal' kernel (specialise recur::kernels::keyed_truncated_normal<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
