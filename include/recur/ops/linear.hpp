// linear in the Hugging Face weight layout: y = x W^T + b with W (out, in); one GEMM each way.
// Not here: the Linear module that owns W and b (nn/).
#pragma once

#include <cstdint>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/ops/elementwise.hpp>
#include <recur/ops/matmul.hpp>

namespace recur {

template <Backend B>
struct linear_op {
    static constexpr std::string_view name = "linear";
    Tensor<B> x, w;  // x (N, in) contiguous, w (out, in)
    Shape x_shape;   // the caller's (..., in)

    void backward(Tensor<B> dy, grad_sink<B>& g) {  // dy (..., out), contiguous
        using T = typename B::scalar;
        const std::int64_t n = x.size(0), in = x.size(1), out = w.size(0);
        auto dym = *detail::as_mat(detail::raw_reshape(dy, {n, out}));
        if (g.needs(0)) {  // dx = dy W
            Tensor<B> dx = Tensor<B>::empty(x_shape);
            detail::gemm<B>(*detail::as_mat(detail::raw_reshape(dx, {n, in})), dym, *detail::as_mat(w), 1, false);
            g.accumulate(0, std::move(dx));
        }
        if (g.needs(1))  // dW += dy^T x
            detail::gemm<B>(*detail::as_mat(g.buffer(1)), dym.transposed(), *detail::as_mat(x), 1, true);
        if (g.needs(2))  // db += sum over rows of dy
            kernels::sum_rows<B>::run({.out = g.buffer(2).template data<T>(),
                                       .x = dy.template data<T>(),
                                       .y = nullptr,
                                       .rows = n,
                                       .cols = out});
    }
};

/// x (..., in) times weight (out, in) transposed, plus bias (out) if defined -> (..., out).
template <Backend B>
Tensor<B> linear(const Tensor<B>& x, const Tensor<B>& weight, const Tensor<B>& bias = Tensor<B>()) {
    using T = typename B::scalar;
    constexpr auto ct = Tensor<B>::compute_dtype;
    check(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1), "recur::linear: x ", x.shape(),
          " and weight ", weight.shape(), " (expected weight (out, in) with in the last dim of x)");
    check(x.dtype() == ct && weight.dtype() == ct, "recur::linear: dtypes x ", x.dtype(), " and weight ", weight.dtype(),
          ", expected ", ct);
    check(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0) && bias.dtype() == ct),
          "recur::linear: bias ", bias.shape(), " does not match weight ", weight.shape());
    const std::int64_t n = x.shape().rows(), in = weight.size(1), out = weight.size(0);
    const Tensor<B> xc = x.contiguous(), wc = weight.contiguous(), bc = bias.defined() ? bias.contiguous() : bias;
    Shape y_shape = x.shape();
    y_shape[y_shape.dim() - 1] = out;
    Tensor<B> y = Tensor<B>::empty(y_shape);
    if (y.numel() > 0) {
        auto ym = *detail::as_mat(detail::raw_reshape(y, {n, out}));
        if (in == 0) y.fill_(0.0);
        else detail::gemm<B>(ym, *detail::as_mat(detail::raw_reshape(xc, {n, in})), detail::as_mat(wc)->transposed(), 1, false);
        if (bc.defined())
            kernels::binary<B>::template run<binary_op::add>({.out = y.template data<T>(),
                                                              .a = y.template data<T>(),
                                                              .n = y.numel(),
                                                              .b = bc.template data<T>(),
                                                              .nb = out});
    }
    if (recording(xc, wc, bc))
        record(linear_op<B>{detail::raw_reshape(xc, {n, in}).detach(), wc.detach(), x.shape()}, y, xc, wc, bc);
    return y;
}

}  // namespace recur
