// concat and split along the last dimension, with backward.
// Not here: concatenation along other dims (nothing in recur needs it yet).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>

namespace recur {

template <Backend B>
struct concat_op {
    static constexpr std::string_view name = "concat";
    std::vector<std::int64_t> widths;  // last-dim extent of each input
    void backward(Tensor<B> dy, grad_sink<B>& g) {
        std::int64_t start = 0;
        for (std::size_t i = 0; i < widths.size(); ++i) {
            if (g.needs(i)) g.accumulate(i, detail::raw_slice(dy, dy.dim() - 1, start, widths[i]));
            start += widths[i];
        }
    }
};

/// Joins tensors along the last dim; all other dims must agree: [(B, T, C1), (B, T, C2)] -> (B, T, C1 + C2).
template <Backend B>
Tensor<B> concat(std::span<const Tensor<B>> xs) {
    check(!xs.empty(), "recur::concat: no tensors given");
    const Tensor<B>& first = xs[0];
    check(first.dim() >= 1, "recur::concat: 0-d tensor given");
    Shape out_shape = first.shape();
    std::int64_t width = 0;
    std::vector<std::int64_t> widths;
    widths.reserve(xs.size());
    for (const auto& x : xs) {
        bool same = x.dim() == first.dim() && x.dtype() == first.dtype();
        for (int d = 0; same && d + 1 < x.dim(); ++d) same = x.size(d) == first.size(d);
        check(same, "recur::concat: shape ", x.shape(), " ", x.dtype(), " does not match ", first.shape(), " ",
              first.dtype(), " except in the last dim");
        widths.push_back(x.size(-1));
        width += x.size(-1);
    }
    out_shape[out_shape.dim() - 1] = width;
    Tensor<B> y = Tensor<B>::empty(out_shape, first.dtype());
    std::int64_t start = 0;
    for (const auto& x : xs) {
        Tensor<B>::copy_into(detail::raw_slice(y, y.dim() - 1, start, x.size(-1)), x, false);
        start += x.size(-1);
    }
    if (recording(xs)) record(concat_op<B>{std::move(widths)}, y, xs);
    return y;
}

template <Backend B>
Tensor<B> concat(std::initializer_list<Tensor<B>> xs) {
    return concat(std::span<const Tensor<B>>(xs.begin(), xs.size()));
}

/// Splits the last dim into pieces of the given widths (views; gradients flow back through them).
template <Backend B>
std::vector<Tensor<B>> split(const Tensor<B>& x, std::span<const std::int64_t> widths) {
    check(x.dim() >= 1, "recur::split: 0-d tensor given");
    std::int64_t total = 0;
    for (auto w : widths) {
        check(w >= 0, "recur::split: negative width ", w);
        total += w;
    }
    check(total == x.size(-1), "recur::split: widths sum to ", total, " but the last dim of ", x.shape(), " is ", x.size(-1));
    std::vector<Tensor<B>> out;
    out.reserve(widths.size());
    std::int64_t start = 0;
    for (auto w : widths) {
        out.push_back(slice(x, -1, start, w));
        start += w;
    }
    return out;
}

template <Backend B>
std::vector<Tensor<B>> split(const Tensor<B>& x, std::initializer_list<std::int64_t> widths) {
    return split(x, std::span<const std::int64_t>(widths.begin(), widths.size()));
}

}  // namespace recur
