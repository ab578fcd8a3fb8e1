// Contract of the cross-entropy kernels: per-row loss from logits and targets (keeping each row's
// log-sum-exp) and its backward. Not here: the op and its checks (recur/ops/cross_entropy.hpp).
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// loss[i] = lse[i] - logits[i, targets[i]] with lse[i] = log sum_j exp(logits[i, j]), for i < N;
/// loss[i] = 0 where targets[i] == ignore. Targets are in [0, V) or ignore (checked by the op).
template <class T>
struct cross_entropy_forward_args {
    T* loss = nullptr;                     // (N) written
    T* lse = nullptr;                      // (N) written, kept for backward
    const T* logits = nullptr;             // (N, V)
    const std::int32_t* targets = nullptr;  // (N)
    std::int64_t n = 0;                    // N
    std::int64_t v = 0;                    // V
    std::int32_t ignore = 0;  // the target that means "no loss here" (the op passes its ignore_index)
};

/// dlogits[i, :] = dloss[i] (softmax(logits[i]) - onehot(targets[i])); rows whose target is
/// `ignore` are 0.
template <class T>
struct cross_entropy_backward_args {
    T* dlogits = nullptr;                  // (N, V) written
    const T* dloss = nullptr;              // (N)
    const T* logits = nullptr;             // (N, V)
    const T* lse = nullptr;                // (N) as forward wrote it
    const std::int32_t* targets = nullptr;  // (N)
    std::int64_t n = 0;                    // N
    std::int64_t v = 0;                    // V
    std::int32_t ignore = 0;  // the target that means "no loss here" (the op passes its ignore_index)
};

namespace kernels {

/// Cross-entropy forward and backward. Implemented by: reference, cpu, cuda.
template <class B>
struct cross_entropy : missing_kernel {
    static constexpr std::string_view name = "cross_entropy";
    static void forward(const cross_entropy_forward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'cross_entropy' kernel (specialise recur::kernels::cross_entropy<Backend>)");
    }
    static void backward(const cross_entropy_backward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'cross_entropy' kernel (specialise recur::kernels::cross_entropy<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
