// Contract of the embedding kernels: a gather of table rows by id, and its scatter-add backward.
// Not here: the op, which validates every id first (recur/ops/embedding.hpp); letters: core/dims.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// out[i, :] = table[ids[i], :] for i < N; every id is in [0, V) (checked by the op).
template <class T>
struct embedding_forward_args {
    T* out = nullptr;                 // (N, C) written
    const std::int32_t* ids = nullptr;  // (N)
    const T* table = nullptr;         // (V, C)
    std::int64_t n = 0;               // N
    std::int64_t c = 0;               // C
};

/// dtable[ids[i], :] += dout[i, :] for i < N (repeated ids accumulate).
template <class T>
struct embedding_backward_args {
    T* dtable = nullptr;              // (V, C) accumulated
    const std::int32_t* ids = nullptr;  // (N)
    const T* dout = nullptr;          // (N, C)
    std::int64_t n = 0;               // N
    std::int64_t c = 0;               // C
};

namespace kernels {

/// Embedding gather and scatter-add. Implemented by: reference, cpu, cuda.
template <class B>
struct embedding : missing_kernel {
    static constexpr std::string_view name = "embedding";
    static void forward(const embedding_forward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'embedding' kernel (specialise recur::kernels::embedding<Backend>)");
    }
    static void backward(const embedding_backward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'embedding' kernel (specialise recur::kernels::embedding<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
