// Contract of the causal grouped-query attention kernels: softmax(q k^T scale + causal mask) v with
// its log-sum-exp per query row, and the backward that recomputes the probabilities from it.
// Not here: the op and its checks (recur/ops/attention.hpp), projections, RoPE or KV caches
// (nn/attention.hpp, infer/kv_cache.hpp); letters: core/dims.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// The shape of one attention call, the same in forward and backward, and the offsets into its
/// contiguous tensors: q, o and their gradients (B, Tq, H, D); k, v and theirs (B, Tk, Hkv, D); lse
/// (B, H, Tq). Query i sees keys j <= i + (Tk - Tq) (causal: the queries are the last Tq positions);
/// query head h reads kv head h / (H / Hkv).
struct attention_shape {
    std::int64_t batch = 0;     // B
    std::int64_t tq = 0;        // Tq
    std::int64_t tk = 0;        // Tk >= Tq
    std::int64_t heads = 0;     // H, a multiple of Hkv
    std::int64_t kv_heads = 0;  // Hkv
    std::int64_t head_dim = 0;  // D

    std::int64_t group() const { return heads / kv_heads; }  // query heads per kv head
    std::int64_t q_at(std::int64_t b, std::int64_t t, std::int64_t h) const { return ((b * tq + t) * heads + h) * head_dim; }
    std::int64_t kv_at(std::int64_t b, std::int64_t t, std::int64_t h) const { return ((b * tk + t) * kv_heads + h) * head_dim; }
    std::int64_t lse_at(std::int64_t b, std::int64_t h, std::int64_t t) const { return (b * heads + h) * tq + t; }
    std::int64_t visible(std::int64_t i) const { return i + (tk - tq) + 1; }  // query i sees keys [0, visible(i))
};

/// Forward. Every pointer contiguous.
template <class T>
struct attention_forward_args {
    T* o = nullptr;          // (B, Tq, H, D) written
    T* lse = nullptr;        // (B, H, Tq) written: log-sum-exp of each query's scaled scores, kept for backward
    const T* q = nullptr;    // (B, Tq, H, D)
    const T* k = nullptr;    // (B, Tk, Hkv, D)
    const T* v = nullptr;    // (B, Tk, Hkv, D)
    attention_shape shape{};
    T scale = 1;             // applied to q k^T before the softmax
};

/// Backward of the same call: dq, dk and dv from dO, with the probabilities recomputed from lse.
template <class T>
struct attention_backward_args {
    T* dq = nullptr;         // (B, Tq, H, D) written
    T* dk = nullptr;         // (B, Tk, Hkv, D) written
    T* dv = nullptr;         // (B, Tk, Hkv, D) written
    const T* d_o = nullptr;  // (B, Tq, H, D) the gradient of o
    const T* q = nullptr;    // (B, Tq, H, D)
    const T* k = nullptr;    // (B, Tk, Hkv, D)
    const T* v = nullptr;    // (B, Tk, Hkv, D)
    const T* o = nullptr;    // (B, Tq, H, D) as forward wrote it
    const T* lse = nullptr;  // (B, H, Tq) as forward wrote it
    attention_shape shape{};
    T scale = 1;             // as in forward
};

namespace kernels {

/// Causal GQA attention forward and backward. Implemented by: reference, cpu, cuda.
template <class B>
struct attention : missing_kernel {
    static constexpr std::string_view name = "attention";
    static void forward(const attention_forward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'attention' kernel (specialise recur::kernels::attention<Backend>)");
    }
    static void backward(const attention_backward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'attention' kernel (specialise recur::kernels::attention<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
