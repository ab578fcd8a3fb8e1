// RMSNorm over the last dim: y = x / sqrt(mean(x^2) + eps) * weight; forward saves 1/rms per row.
// Not here: fusing into the next matmul (a later optimisation).
#pragma once

#include <cstdint>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>

namespace recur {

namespace kernels {
/// static void forward(T* y, T* rstd, const T* x, const T* w, int64 rows, int64 cols, T eps)
/// static void backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64 rows, int64 cols)
///   dx is written (skipped if null); dw is accumulated (+=, skipped if null).
template <class B>
struct rms_norm {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'rms_norm' kernel (specialise recur::kernels::rms_norm<Backend>)");
};
}  // namespace kernels

template <Backend B>
struct rms_norm_op {
    static constexpr std::string_view name = "rms_norm";
    Tensor<B> x, weight, rstd;  // x (N, C), weight (C), rstd (N)
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        using T = typename B::scalar;
        Tensor<B> dx = g.needs(0) ? Tensor<B>::empty(x.shape()) : Tensor<B>();
        T* dw = g.needs(1) ? g.buffer(1).template data<T>() : nullptr;
        kernels::rms_norm<B>::backward(dx.defined() ? dx.template data<T>() : nullptr, dw, dy.template data<T>(),
                                       x.template data<T>(), weight.template data<T>(), rstd.template data<T>(),
                                       x.shape().rows(), x.size(-1));
        if (dx.defined()) g.accumulate(0, std::move(dx));
    }
};

/// RMSNorm over the last dim of x (..., C) with weight (C).
template <Backend B>
Tensor<B> rms_norm(const Tensor<B>& x, const Tensor<B>& weight, double eps) {
    using T = typename B::scalar;
    check(x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1), "recur::rms_norm: x ", x.shape(),
          " and weight ", weight.shape(), " (expected weight (C) with C the last dim of x)");
    check(x.dtype() == Tensor<B>::compute_dtype && weight.dtype() == Tensor<B>::compute_dtype,
          "recur::rms_norm: dtypes x ", x.dtype(), " and weight ", weight.dtype(), ", expected ", Tensor<B>::compute_dtype);
    check(eps >= 0, "recur::rms_norm: eps must be >= 0, got ", eps);
    const Tensor<B> xc = x.contiguous(), wc = weight.contiguous();
    Tensor<B> y = Tensor<B>::empty(x.shape());
    Tensor<B> rstd = Tensor<B>::empty({x.shape().rows()});
    if (y.numel() > 0)
        kernels::rms_norm<B>::forward(y.template data<T>(), rstd.template data<T>(), xc.template data<T>(),
                                      wc.template data<T>(), x.shape().rows(), x.size(-1), static_cast<T>(eps));
    if (recording(xc, wc)) record(rms_norm_op<B>{xc, wc, rstd}, y, xc, wc);
    return y;
}

}  // namespace recur
