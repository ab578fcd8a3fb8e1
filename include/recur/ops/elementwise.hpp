// add, mul (broadcasting the smaller operand over leading dims) and scale, with their backward.
// Not here: activations (activation.hpp) and reductions other than the broadcast ones (reduce.hpp).
#pragma once

#include <cstdint>
#include <utility>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/elementwise.hpp>

namespace recur {

namespace detail {

/// Whether `small` is `big` with some leading dims removed (or leading ones), i.e. broadcastable.
inline bool is_suffix_shape(const Shape& small, const Shape& big) {
    int lead = 0;
    while (lead < small.dim() && small[lead] == 1) ++lead;
    const int k = small.dim() - lead;
    if (k > big.dim()) return false;
    for (int i = 1; i <= k; ++i)
        if (small[small.dim() - i] != big[big.dim() - i]) return false;
    return true;
}

template <Backend B>
void check_compute(const char* op, const Tensor<B>& a, const Tensor<B>& b) {
    check(a.dtype() == Tensor<B>::compute_dtype && b.dtype() == Tensor<B>::compute_dtype, "recur::", op, ": dtypes ",
          a.dtype(), " and ", b.dtype(), ", expected ", Tensor<B>::compute_dtype);
}

}  // namespace detail

template <Backend B, binary_op Op>
struct binary_op_node {
    static constexpr std::string_view name = Op == binary_op::add ? "add" : "mul";
    Tensor<B> big, small;  // small is big's shape or a suffix of it; saved only for mul
    bool swapped;          // inputs were (small, big)

    void backward(Tensor<B> dy, grad_sink<B>& g) {  // dy has big's shape
        using T = typename B::scalar;
        const std::size_t ib = swapped ? 1 : 0, is = swapped ? 0 : 1;
        const std::int64_t n = dy.numel(), nb = small_shape_numel();
        const bool same = n == nb;
        if (g.needs(is)) {
            if (Op == binary_op::add && same) {
                g.accumulate(is, detail::raw_reshape(dy, small_shape));
            } else if (same) {  // d small = dy * big
                Tensor<B> d = Tensor<B>::empty(small_shape);
                kernels::binary<B>::template run<binary_op::mul>({.out = d.template data<T>(),
                                                                  .a = dy.template data<T>(),
                                                                  .n = n,
                                                                  .b = big.template data<T>(),
                                                                  .nb = n});
                g.accumulate(is, std::move(d));
            } else {
                kernels::sum_rows<B>::run({.out = g.buffer(is).template data<T>(),
                                           .x = dy.template data<T>(),
                                           .y = Op == binary_op::mul ? big.template data<T>() : nullptr,
                                           .rows = n / nb,
                                           .cols = nb});
            }
        }
        if (g.needs(ib)) {
            if (Op == binary_op::add) {
                g.accumulate(ib, std::move(dy));
            } else {  // d big = dy * small (broadcast)
                Tensor<B> d = Tensor<B>::empty(dy.shape());
                kernels::binary<B>::template run<binary_op::mul>({.out = d.template data<T>(),
                                                                  .a = dy.template data<T>(),
                                                                  .n = n,
                                                                  .b = small.template data<T>(),
                                                                  .nb = nb});
                g.accumulate(ib, std::move(d));
            }
        }
    }
    Shape small_shape;
    std::int64_t small_shape_numel() const { return small_shape.numel(); }
};

namespace detail {

template <binary_op Op, Backend B>
Tensor<B> binary(const char* op, const Tensor<B>& a, const Tensor<B>& b) {
    using T = typename B::scalar;
    check_compute(op, a, b);
    const bool swapped = a.numel() < b.numel() || (a.numel() == b.numel() && a.dim() < b.dim());
    const Tensor<B>& big = swapped ? b : a;
    const Tensor<B>& small = swapped ? a : b;
    check(is_suffix_shape(small.shape(), big.shape()), "recur::", op, ": shapes ", a.shape(), " and ", b.shape(),
          " do not broadcast (one must equal the trailing dims of the other)");
    const Tensor<B> bc = big.contiguous(), sc = small.contiguous();
    Tensor<B> y = Tensor<B>::empty(big.shape());
    if (y.numel() > 0)
        kernels::binary<B>::template run<Op>({.out = y.template data<T>(),
                                              .a = bc.template data<T>(),
                                              .n = y.numel(),
                                              .b = sc.template data<T>(),
                                              .nb = sc.numel()});
    if (recording(a, b)) {
        binary_op_node<B, Op> node{Op == binary_op::mul ? bc : Tensor<B>(), Op == binary_op::mul ? sc : Tensor<B>(),
                                   swapped, small.shape()};
        if (swapped) record(std::move(node), y, sc, bc);
        else record(std::move(node), y, bc, sc);
    }
    return y;
}

}  // namespace detail

/// a + b; the operand with fewer elements must match the other's trailing dims: (B, T, C) + (C).
template <Backend B>
Tensor<B> add(const Tensor<B>& a, const Tensor<B>& b) {
    return detail::binary<binary_op::add>("add", a, b);
}

/// a * b elementwise, broadcasting like add.
template <Backend B>
Tensor<B> mul(const Tensor<B>& a, const Tensor<B>& b) {
    return detail::binary<binary_op::mul>("mul", a, b);
}

template <Backend B>
struct scale_op {
    static constexpr std::string_view name = "scale";
    double s;
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        using T = typename B::scalar;
        Tensor<B> d = Tensor<B>::empty(dy.shape());
        kernels::scale<B>::run({.out = d.template data<T>(),
                                .x = dy.template data<T>(),
                                .n = dy.numel(),
                                .s = static_cast<T>(s)});
        g.accumulate(0, std::move(d));
    }
};

/// s * x.
template <Backend B>
Tensor<B> scale(const Tensor<B>& x, double s) {
    using T = typename B::scalar;
    detail::check_compute("scale", x, x);
    const Tensor<B> xc = x.contiguous();
    Tensor<B> y = Tensor<B>::empty(x.shape());
    if (y.numel() > 0) kernels::scale<B>::run({.out = y.template data<T>(),
                                               .x = xc.template data<T>(),
                                               .n = y.numel(),
                                               .s = static_cast<T>(s)});
    if (recording(xc)) record(scale_op<B>{s}, y, xc);
    return y;
}

template <Backend B> Tensor<B> operator+(const Tensor<B>& a, const Tensor<B>& b) { return add(a, b); }
template <Backend B> Tensor<B> operator*(const Tensor<B>& a, const Tensor<B>& b) { return mul(a, b); }
template <Backend B> Tensor<B> operator*(double s, const Tensor<B>& x) { return scale(x, s); }

}  // namespace recur
