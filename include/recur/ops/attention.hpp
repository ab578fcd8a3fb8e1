// Causal softmax attention with grouped-query heads on (B, T, H, D), computed in tiles with an
// online softmax so no (T x T) score matrix is stored; forward saves only the log-sum-exp per row.
// Not here: the projections and RoPE (nn/ Attention composes them) and KV-cache bookkeeping.
#pragma once

#include <cmath>
#include <cstdint>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>

namespace recur {

/// Shapes and pointers of one attention call. q, o, dq, do: (B, Tq, H, D); k, v, dk, dv: (B, Tk, Hkv, D);
/// lse: (B, H, Tq). All contiguous. Query i sees keys j <= i + (Tk - Tq) (causal, queries at the end).
template <class T>
struct attention_args {
    std::int64_t batch = 0, tq = 0, tk = 0, heads = 0, kv_heads = 0, head_dim = 0;
    T scale = 1;
    const T *q = nullptr, *k = nullptr, *v = nullptr;
    T *o = nullptr, *lse = nullptr;
    // backward only
    const T* d_o = nullptr;
    T *dq = nullptr, *dk = nullptr, *dv = nullptr;
};

namespace kernels {
/// static void forward(const attention_args<T>&): writes o and lse.
/// static void backward(const attention_args<T>&): reads q, k, v, o, lse, d_o; writes dq, dk, dv.
template <class B>
struct attention {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'attention' kernel (specialise recur::kernels::attention<Backend>)");
};
}  // namespace kernels

template <Backend B>
struct attention_op {
    static constexpr std::string_view name = "attention";
    Tensor<B> q, k, v, o, lse;
    double scale;
    void backward(Tensor<B> dout, grad_sink<B>& g) {
        using T = typename B::scalar;
        attention_args<T> a{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), static_cast<T>(scale),
                            q.template data<T>(), k.template data<T>(), v.template data<T>(), o.template data<T>(),
                            lse.template data<T>()};
        Tensor<B> dq = Tensor<B>::empty(q.shape()), dk = Tensor<B>::empty(k.shape()), dv = Tensor<B>::empty(v.shape());
        a.d_o = dout.template data<T>();
        a.dq = dq.template data<T>(), a.dk = dk.template data<T>(), a.dv = dv.template data<T>();
        kernels::attention<B>::backward(a);
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
    attention_args<T> a{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), static_cast<T>(scale),
                        qc.template data<T>(), kc.template data<T>(), vc.template data<T>(), o.template data<T>(),
                        lse.template data<T>()};
    if (o.numel() > 0) kernels::attention<B>::forward(a);
    if (recording(qc, kc, vc)) record(attention_op<B>{qc, kc, vc, o, lse, scale}, o, qc, kc, vc);
    return o;
}

}  // namespace recur
