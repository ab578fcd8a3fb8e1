// Causal softmax attention with grouped-query heads on (B, T, H, D), computed in tiles with an
// online softmax so no (T x T) score matrix is stored; forward saves only the log-sum-exp per row.
// Not here: the kernel contract (recur/kernels/attention.hpp), the projections and RoPE (nn/ Attention
// composes them) and KV-cache bookkeeping.
#pragma once

#include <cmath>
#include <cstdint>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/attention.hpp>

namespace recur {

/// The kernel's shape of q (B, Tq, H, D) and k (B, Tk, Hkv, D).
template <Backend B>
attention_shape attention_shape_of(const Tensor<B>& q, const Tensor<B>& k) {
    return {.batch = q.size(0), .tq = q.size(1), .tk = k.size(1), .heads = q.size(2), .kv_heads = k.size(2), .head_dim = q.size(3)};
}

template <Backend B>
struct attention_op {
    static constexpr std::string_view name = "attention";
    Tensor<B> q, k, v, o, lse;
    double scale;
    void backward(Tensor<B> dout, grad_sink<B>& g) {
        using T = typename B::scalar;
        Tensor<B> dq = Tensor<B>::empty(q.shape()), dk = Tensor<B>::empty(k.shape()), dv = Tensor<B>::empty(v.shape());
        kernels::attention<B>::backward({.dq = dq.template data<T>(),
                                         .dk = dk.template data<T>(),
                                         .dv = dv.template data<T>(),
                                         .d_o = dout.template data<T>(),
                                         .q = q.template data<T>(),
                                         .k = k.template data<T>(),
                                         .v = v.template data<T>(),
                                         .o = o.template data<T>(),
                                         .lse = lse.template data<T>(),
                                         .shape = attention_shape_of(q, k),
                                         .scale = static_cast<T>(scale)});
        g.accumulate(0, std::move(dq));
        g.accumulate(1, std::move(dk));
        g.accumulate(2, std::move(dv));
    }
};

/// softmax(q k^T * scale + causal mask) v with H query heads sharing Hkv key/value heads
/// (head h reads kv head h / (H / Hkv)). q (B, Tq, H, D), k and v (B, Tk, Hkv, D), Tk >= Tq.
/// scale defaults to 1 / sqrt(D).
template <Backend B>
Tensor<B> attention(const Tensor<B>& q, const Tensor<B>& k, const Tensor<B>& v, double scale = 0) {
    using T = typename B::scalar;
    constexpr auto ct = Tensor<B>::compute_dtype;
    check(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "recur::attention: q ", q.shape(), ", k ", k.shape(), ", v ",
          v.shape(), " must all be 4-d (B, T, heads, D)");
    check(q.dtype() == ct && k.dtype() == ct && v.dtype() == ct, "recur::attention: dtypes must be ", ct);
    check(k.shape() == v.shape(), "recur::attention: k ", k.shape(), " and v ", v.shape(), " differ");
    check(q.size(0) == k.size(0) && q.size(3) == k.size(3), "recur::attention: q ", q.shape(), " and k ", k.shape(),
          " differ in batch or head dim");
    check(k.size(2) > 0 && q.size(2) % k.size(2) == 0, "recur::attention: ", k.size(2), " kv heads do not divide ",
          q.size(2), " query heads");
    check(k.size(1) >= q.size(1), "recur::attention: ", k.size(1), " keys for ", q.size(1), " queries (need Tk >= Tq)");
    if (scale == 0) scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
    const Tensor<B> qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    Tensor<B> o = Tensor<B>::empty(q.shape());
    Tensor<B> lse = Tensor<B>::empty({q.size(0), q.size(2), q.size(1)});
    if (o.numel() > 0)
        kernels::attention<B>::forward({.o = o.template data<T>(),
                                        .lse = lse.template data<T>(),
                                        .q = qc.template data<T>(),
                                        .k = kc.template data<T>(),
                                        .v = vc.template data<T>(),
                                        .shape = attention_shape_of(q, k),
                                        .scale = static_cast<T>(scale)});
    if (recording(qc, kc, vc)) record(attention_op<B>{qc, kc, vc, o, lse, scale}, o, qc, kc, vc);
    return o;
}

}  // namespace recur
