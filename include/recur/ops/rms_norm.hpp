// RMSNorm over the last dim: y = x / sqrt(mean(x^2) + eps) * weight; forward saves 1/rms per row.
// Not here: fusing into the next matmul (a later optimisation).
#pragma once

#include <cstdint>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/rms_norm.hpp>

namespace recur {

template <Backend B>
struct rms_norm_op {
    static constexpr std::string_view name = "rms_norm";
    Tensor<B> x, weight, rstd;  // x (N, C), weight (C), rstd (N)
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        using T = typename B::scalar;
        Tensor<B> dx = g.needs(0) ? Tensor<B>::empty(x.shape()) : Tensor<B>();
        T* dw = g.needs(1) ? g.buffer(1).template data<T>() : nullptr;
        kernels::rms_norm<B>::backward({.dx = dx.defined() ? dx.template data<T>() : nullptr,
                                        .dw = dw,
                                        .dy = dy.template data<T>(),
                                        .x = x.template data<T>(),
                                        .w = weight.template data<T>(),
                                        .rstd = rstd.template data<T>(),
                                        .rows = x.shape().rows(),
                                        .cols = x.size(-1)});
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
        kernels::rms_norm<B>::forward({.y = y.template data<T>(),
                                       .rstd = rstd.template data<T>(),
                                       .x = xc.template data<T>(),
                                       .w = wc.template data<T>(),
                                       .rows = x.shape().rows(),
                                       .cols = x.size(-1),
                                       .eps = static_cast<T>(eps)});
    if (recording(xc, wc)) record(rms_norm_op<B>{xc, wc, rstd}, y, xc, wc);
    return y;
}

}  // namespace recur
