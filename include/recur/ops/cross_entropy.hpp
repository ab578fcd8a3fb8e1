// Cross-entropy of logits against i32 targets with an ignore index: per-token losses, or their mean
// over counted tokens. Fused log-softmax; forward saves the log-sum-exp per row.
// Not here: label smoothing, z-loss (not used by the method).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <recur/autograd/tape.hpp>
#include <recur/core/tensor.hpp>
#include <recur/kernels/cross_entropy.hpp>
#include <recur/ops/elementwise.hpp>
#include <recur/ops/reduce.hpp>

namespace recur {

/// Targets equal to this are skipped (loss 0, no gradient) unless another value is given.
inline constexpr std::int32_t default_ignore_index = -100;

template <Backend B>
struct cross_entropy_op {
    static constexpr std::string_view name = "cross_entropy";
    Tensor<B> logits, targets, lse;  // logits (N, V), targets (N) i32, lse (N)
    Shape logits_shape;              // the caller's (..., V)
    std::int32_t ignore_index;
    void backward(Tensor<B> dloss, grad_sink<B>& g) {  // dloss (...) with N elements
        using T = typename B::scalar;
        Tensor<B> dlogits = Tensor<B>::empty(logits_shape);
        kernels::cross_entropy<B>::backward({.dlogits = dlogits.template data<T>(),
                                             .dloss = dloss.template data<T>(),
                                             .logits = logits.template data<T>(),
                                             .lse = lse.template data<T>(),
                                             .targets = targets.template data<std::int32_t>(),
                                             .n = logits.size(0),
                                             .v = logits.size(1),
                                             .ignore = ignore_index});
        g.accumulate(0, std::move(dlogits));
    }
};

namespace detail {
template <Backend B>
std::int64_t check_targets(const Tensor<B>& logits, const Tensor<B>& targets, std::int32_t ignore_index) {
    check(logits.dim() >= 2 && logits.dtype() == Tensor<B>::compute_dtype, "recur::cross_entropy: logits must be (..., V) ",
          Tensor<B>::compute_dtype, ", got ", logits.shape(), " ", logits.dtype());
    check(targets.dtype() == dtype::i32, "recur::cross_entropy: targets must be i32, got ", targets.dtype());
    bool same = targets.dim() + 1 == logits.dim();
    for (int d = 0; same && d < targets.dim(); ++d) same = targets.size(d) == logits.size(d);
    check(same, "recur::cross_entropy: targets ", targets.shape(), " do not match logits ", logits.shape(),
          " without its last (vocabulary) dim");
    const std::int64_t vocab = logits.size(-1);
    return with_host_values<std::int32_t>(targets.contiguous_raw(), [&](std::span<const std::int32_t> host) {
        std::int64_t counted = 0;
        for (std::size_t i = 0; i < host.size(); ++i) {
            if (host[i] == ignore_index) continue;
            check(host[i] >= 0 && host[i] < vocab, "recur::cross_entropy: target ", host[i], " at position ", i,
                  " is outside the vocabulary of ", vocab, " (ignore index ", ignore_index, ")");
            ++counted;
        }
        return counted;
    });
}
}  // namespace detail

namespace detail {
template <Backend B>
Tensor<B> cross_entropy_checked(const Tensor<B>& logits, const Tensor<B>& targets, std::int32_t ignore_index) {
    using T = typename B::scalar;
    const std::int64_t vocab = logits.size(-1), n = logits.shape().rows();
    const Tensor<B> lg = logits.contiguous();
    const Tensor<B> lc = raw_reshape(lg, {n, vocab});
    const Tensor<B> tc = targets.contiguous_raw();
    Tensor<B> loss = Tensor<B>::empty(targets.shape());
    Tensor<B> lse = Tensor<B>::empty({n});
    if (n > 0)
        kernels::cross_entropy<B>::forward({.loss = loss.template data<T>(),
                                            .lse = lse.template data<T>(),
                                            .logits = lc.template data<T>(),
                                            .targets = tc.template data<std::int32_t>(),
                                            .n = n,
                                            .v = vocab,
                                            .ignore = ignore_index});
    if (recording(lg)) record(cross_entropy_op<B>{lc.detach(), tc, lse, lg.shape(), ignore_index}, loss, lg);
    return loss;
}
}  // namespace detail

/// Per-token losses (shape of targets): -log softmax(logits)[target], 0 where target == ignore_index.
/// logits (..., V), targets (...) i32; a target outside [0, V) other than ignore_index throws.
template <Backend B>
Tensor<B> cross_entropy_per_token(const Tensor<B>& logits, const Tensor<B>& targets,
                                  std::int32_t ignore_index = default_ignore_index) {
    detail::check_targets(logits, targets, ignore_index);
    return detail::cross_entropy_checked(logits, targets, ignore_index);
}

/// Mean loss over counted (non-ignored) tokens, shape (1); 0 with no gradient when none count.
template <Backend B>
Tensor<B> cross_entropy(const Tensor<B>& logits, const Tensor<B>& targets, std::int32_t ignore_index = default_ignore_index) {
    const std::int64_t counted = detail::check_targets(logits, targets, ignore_index);
    const Tensor<B> per_token = detail::cross_entropy_checked(logits, targets, ignore_index);
    return scale(sum(per_token), counted > 0 ? 1.0 / static_cast<double>(counted) : 0.0);
}

}  // namespace recur
