// sum and mean of all elements to a one-element tensor, with backward.
// Not here: reductions along a dimension used by broadcasting (kernels::sum_rows, recur/kernels/elementwise.hpp).
#pragma once

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/ops/elementwise.hpp>

namespace recur {

template <Backend B>
struct sum_op {
    static constexpr std::string_view name = "sum";
    Shape input_shape;
    void backward(Tensor<B> dy, grad_sink<B>& g) {  // dy (1)
        g.accumulate(0, Tensor<B>::full(input_shape, dy.item()));
    }
};

/// Sum of all elements, shape (1).
template <Backend B>
Tensor<B> sum(const Tensor<B>& x) {
    using T = typename B::scalar;
    detail::check_compute("sum", x, x);
    const Tensor<B> xc = x.contiguous();
    Tensor<B> y = Tensor<B>::empty({1});
    kernels::sum_all<B>::run({.out = y.template data<T>(), .x = xc.template data<T>(), .n = xc.numel()});
    if (recording(xc)) record(sum_op<B>{xc.shape()}, y, xc);
    return y;
}

/// Mean of all elements, shape (1).
template <Backend B>
Tensor<B> mean(const Tensor<B>& x) {
    check(x.numel() > 0, "recur::mean: empty tensor of shape ", x.shape());
    return scale(sum(x), 1.0 / static_cast<double>(x.numel()));
}

}  // namespace recur
