// Mean next-token loss of a model over a token stream, cut into windows, at several recurrence
// depths r. Not here: task accuracy, generation or KV caches (infer/, later).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include <recur/autograd/grad_mode.hpp>
#include <recur/ops/cross_entropy.hpp>

namespace recur {

/// Mean cross-entropy (nats) over `tokens` predictions.
struct window_loss {
    double mean = 0;
    std::int64_t tokens = 0;
};

/// Cuts `ids` into windows of up to seq + 1 tokens with stride seq (each token is predicted once,
/// from at most seq tokens of context; a window never sees the previous one) and averages the
/// next-token loss over every prediction. Full windows run `batch` at a time; a shorter last window
/// runs alone. `logits_of(ids (B, T))` returns logits (B, T, V). Runs under no_grad.
template <Backend B, class LogitsOf>
window_loss mean_next_token_loss(std::span<const std::int32_t> ids, std::int64_t seq, std::int64_t batch,
                                 LogitsOf&& logits_of) {
    check(seq >= 1 && batch >= 1, "recur::mean_next_token_loss: seq ", seq, " and batch ", batch, " must be >= 1");
    check(ids.size() >= 2, "recur::mean_next_token_loss: need at least 2 tokens, got ", ids.size());
    no_grad off;
    const auto n = static_cast<std::int64_t>(ids.size());
    const std::int64_t windows = (n - 1 + seq - 1) / seq;  // window w predicts tokens w*seq+1 .. min((w+1)*seq, n-1)
    double total = 0;
    std::int64_t counted = 0;
    std::vector<std::int32_t> in, out;
    auto run = [&](std::int64_t first, std::int64_t count, std::int64_t len) {
        in.clear();
        out.clear();
        for (std::int64_t w = first; w < first + count; ++w) {
            const auto* p = ids.data() + w * seq;
            in.insert(in.end(), p, p + len);
            out.insert(out.end(), p + 1, p + len + 1);
        }
        const auto x = Tensor<B>::from_host(in, {count, len}), y = Tensor<B>::from_host(out, {count, len});
        total += cross_entropy(logits_of(x), y).item() * static_cast<double>(count * len);
        counted += count * len;
    };
    const std::int64_t full = (n - 1) / seq;
    for (std::int64_t w = 0; w < full; w += batch) run(w, std::min(batch, full - w), seq);
    if (windows > full) run(full, 1, n - 1 - full * seq);
    return {total / static_cast<double>(counted), counted};
}

}  // namespace recur
