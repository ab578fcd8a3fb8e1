// Contract of the RMSNorm kernels over rows: y = x * rstd * w with rstd = (mean(x^2) + eps)^-1/2,
// and their backward. Not here: the op and its checks (recur/ops/rms_norm.hpp); letters: core/dims.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// Forward over N rows of C: every pointer contiguous.
template <class T>
struct rms_norm_forward_args {
    T* y = nullptr;         // (N, C) written
    T* rstd = nullptr;      // (N) written: (mean(x^2) + eps)^-1/2 per row, kept for backward
    const T* x = nullptr;   // (N, C)
    const T* w = nullptr;   // (C)
    std::int64_t rows = 0;  // N
    std::int64_t cols = 0;  // C
    T eps = 0;
};

/// Backward: dx = rstd dy w - x rstd^3 mean(dy w x) per row; dw += sum over rows of dy x rstd.
template <class T>
struct rms_norm_backward_args {
    T* dx = nullptr;          // (N, C) written; skipped when null
    T* dw = nullptr;          // (C) accumulated (+=); skipped when null
    const T* dy = nullptr;    // (N, C)
    const T* x = nullptr;     // (N, C)
    const T* w = nullptr;     // (C)
    const T* rstd = nullptr;  // (N) as forward wrote it
    std::int64_t rows = 0;    // N
    std::int64_t cols = 0;    // C
};

namespace kernels {

/// RMSNorm forward and backward. Implemented by: reference, cpu, cuda.
template <class B>
struct rms_norm : missing_kernel {
    static constexpr std::string_view name = "rms_norm";
    static void forward(const rms_norm_forward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'rms_norm' kernel (specialise recur::kernels::rms_norm<Backend>)");
    }
    static void backward(const rms_norm_backward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'rms_norm' kernel (specialise recur::kernels::rms_norm<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
