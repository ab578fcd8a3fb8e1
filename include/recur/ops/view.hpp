// Views that share storage (reshape, slice along a dim, transpose of the last two dims) and
// contiguous(), each recorded so that gradients flow back through them.
// Not here: ops that compute new values (concat copies; see concat.hpp).
#pragma once

#include <cstdint>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>

namespace recur {

namespace detail {

template <Backend B>
Tensor<B> raw_reshape(const Tensor<B>& x, const Shape& shape) {
    return Tensor<B>(x.buffer(), x.offset(), shape, contiguous_strides(shape), x.dtype());
}

template <Backend B>
Tensor<B> raw_slice(const Tensor<B>& x, int d, std::int64_t start, std::int64_t length) {
    Shape s = x.shape();
    s[d] = length;
    return Tensor<B>(x.buffer(), x.offset() + start * x.strides()[d], s, x.strides(), x.dtype());
}

template <Backend B>
Tensor<B> raw_transpose(const Tensor<B>& x) {
    Shape s = x.shape(), st = x.strides();
    const int n = x.dim();
    std::swap(s[n - 1], s[n - 2]);
    std::swap(st[n - 1], st[n - 2]);
    return Tensor<B>(x.buffer(), x.offset(), s, st, x.dtype());
}

}  // namespace detail

template <Backend B>
struct reshape_op {
    static constexpr std::string_view name = "reshape";
    Shape input_shape;
    void backward(Tensor<B> dy, grad_sink<B>& g) { g.accumulate(0, detail::raw_reshape(dy, input_shape)); }
};

/// Same elements in a new shape with the same count; a view when x is contiguous, else a copy.
template <Backend B>
Tensor<B> reshape(const Tensor<B>& x, const Shape& shape) {
    check(shape.numel() == x.numel(), "recur::reshape: cannot view ", x.shape(), " (", x.numel(), " elements) as ",
          shape, " (", shape.numel(), " elements)");
    const Tensor<B> c = x.contiguous();
    Tensor<B> y = detail::raw_reshape(c, shape);
    if (recording(c)) record(reshape_op<B>{c.shape()}, y, c);
    return y;
}

template <Backend B>
struct slice_op {
    static constexpr std::string_view name = "slice";
    int dim;
    std::int64_t start;
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        Tensor<B>& dx = g.buffer(0);
        Tensor<B>::copy_into(detail::raw_slice(dx, dim, start, dy.size(dim)), dy, true);
    }
};

/// The view x[..., start:start+length, ...] along dimension `dim` (negative counts from the back).
template <Backend B>
Tensor<B> slice(const Tensor<B>& x, int dim, std::int64_t start, std::int64_t length) {
    check(x.dim() > 0, "recur::slice: cannot slice a 0-d tensor");
    check(dim >= -x.dim() && dim < x.dim(), "recur::slice: dimension ", dim, " out of range for shape ", x.shape());
    const int d = x.shape().normalize(dim);
    check(start >= 0 && length >= 0 && start + length <= x.size(d), "recur::slice: range [", start, ", ",
          start + length, ") out of bounds for dimension ", d, " of shape ", x.shape());
    Tensor<B> y = detail::raw_slice(x, d, start, length);
    if (recording(x)) record(slice_op<B>{d, start}, y, x);
    return y;
}

template <Backend B>
struct transpose_op {
    static constexpr std::string_view name = "transpose";
    void backward(Tensor<B> dy, grad_sink<B>& g) { g.accumulate(0, detail::raw_transpose(dy)); }
};

/// Swaps the last two dimensions without copying (strides are swapped).
template <Backend B>
Tensor<B> transpose(const Tensor<B>& x) {
    check(x.dim() >= 2, "recur::transpose: needs at least 2 dimensions, got shape ", x.shape());
    Tensor<B> y = detail::raw_transpose(x);
    if (recording(x)) record(transpose_op<B>{}, y, x);
    return y;
}

template <Backend B>
struct contiguous_op {
    static constexpr std::string_view name = "contiguous";
    void backward(Tensor<B> dy, grad_sink<B>& g) { g.accumulate(0, std::move(dy)); }
};

/// x itself when already contiguous, else a row-major copy (recorded).
template <Backend B>
Tensor<B> contiguous(const Tensor<B>& x) {
    if (x.is_contiguous()) return x;
    Tensor<B> y = x.contiguous_raw();
    if (recording(x)) record(contiguous_op<B>{}, y, x);
    return y;
}

}  // namespace recur
