// A training batch on the host: (batch, seq) input ids and next-token targets (-100: no loss), filled
// row by row, and its i32 tensors. Not here: where the rows come from (data_source and friends).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/core/tensor.hpp>
#include <recur/ops/cross_entropy.hpp>

namespace recur {

/// Rows of token ids and their targets, row-major (batch, seq): targets[b, t] is the token that
/// follows ids[b, t], or token_batch::ignore where that position carries no loss.
struct token_batch {
    /// The target of a position without loss (cross_entropy's default ignore index, -100).
    static constexpr std::int32_t ignore = default_ignore_index;

    std::int64_t batch = 0, seq = 0;
    std::vector<std::int32_t> ids;      // (batch, seq)
    std::vector<std::int32_t> targets;  // (batch, seq), next token or ignore
};

/// A (batch, seq) token_batch whose row r is written by fill(r, ids, targets), with `ids` and
/// `targets` spans of seq values each (zero-initialised). requires: batch >= 1, seq >= 1.
template <class Fill>
token_batch make_batch(std::int64_t batch, std::int64_t seq, Fill&& fill) {
    check(batch >= 1 && seq >= 1, "recur::make_batch: batch and seq must be >= 1, got ", batch, " and ", seq);
    const auto rows = static_cast<std::size_t>(batch), row = static_cast<std::size_t>(seq);
    token_batch b{batch, seq, std::vector<std::int32_t>(rows * row), std::vector<std::int32_t>(rows * row)};
    for (std::size_t r = 0; r < rows; ++r)
        fill(r, std::span(b.ids).subspan(r * row, row), std::span(b.targets).subspan(r * row, row));
    return b;
}

/// A token_batch on a backend.
template <Backend B>
struct batch_tensors {
    Tensor<B> ids;      // (B, T) i32
    Tensor<B> targets;  // (B, T) i32
};

/// Copies a token_batch into i32 tensors of shape (batch, seq). Throws recur::error when the vectors
/// do not hold batch * seq values each.
template <Backend B>
batch_tensors<B> to_tensors(const token_batch& b) {
    const auto n = static_cast<std::size_t>(b.batch * b.seq);
    check(b.batch >= 1 && b.seq >= 1 && b.ids.size() == n && b.targets.size() == n, "recur::to_tensors: a (", b.batch,
          ", ", b.seq, ") token_batch needs ", b.batch * b.seq, " ids and targets, got ", b.ids.size(), " and ",
          b.targets.size());
    const Shape shape{b.batch, b.seq};
    return {Tensor<B>::from_host(b.ids, shape), Tensor<B>::from_host(b.targets, shape)};
}

}  // namespace recur
