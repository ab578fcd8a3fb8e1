// Picks the next token from one row of logits: greedy, or a draw at a temperature restricted by
// top-k and top-p (nucleus), with recur::rng. Not here: running the model, KV caches, batches of rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/core/random.hpp>

namespace recur {

/// How sample_token picks a token; the defaults are greedy decoding.
struct sampling_options {
    double temperature = 0;  ///< 0: greedy (argmax); > 0: softmax(logits / temperature)
    std::int64_t top_k = 0;  ///< keep only the top_k most likely tokens; 0: off
    double top_p = 1.0;      ///< keep the smallest most-likely-first set whose probability reaches top_p; 1: off
    std::uint64_t seed = 0;  ///< seed of the rng a caller builds for one generation (sample_token takes the rng)

    /// Throws recur::error naming the field unless temperature is finite and >= 0, top_k >= 0 and
    /// top_p lies in (0, 1].
    void validate() const {
        check(std::isfinite(temperature) && temperature >= 0,
              "recur::sampling_options: temperature must be finite and >= 0, got ", temperature);
        check(top_k >= 0, "recur::sampling_options: top_k must be >= 0 (0 = off), got ", top_k);
        check(top_p > 0 && top_p <= 1, "recur::sampling_options: top_p must be in (0, 1], got ", top_p);
    }
};

/// The next token for one row of `logits` (V values).
///
/// temperature == 0: the index of the largest logit, the lowest index on ties; `gen` is not used.
/// Otherwise, in order:
/// ```
/// p_i  = softmax(logits / temperature)_i                        in double
/// keep = the top_k most likely tokens (all when top_k == 0 or top_k >= V)
/// keep = its smallest most-likely-first prefix whose probability, renormalised over keep,
///        reaches top_p (at least one token)
/// return a draw from p restricted to keep and renormalised, using one gen.uniform()
/// ```
/// Ties in probability are ordered by the lower index first. -inf logits have probability 0 and are
/// never returned. Costs O(V) without top-p (nth_element for top-k), O(V log k) with top-k and top-p,
/// O(V log V) with top-p alone. `scratch`, when given, holds the candidates so repeated calls do not allocate.
/// requires: valid options, V >= 1, no NaN or +inf logit and at least one logit above -inf; else
/// recur::error.
inline std::int32_t sample_token(std::span<const float> logits, const sampling_options& o, rng& gen,
                                 std::vector<std::pair<float, std::int32_t>>* scratch = nullptr) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    o.validate();
    check(!logits.empty(), "recur::sample_token: empty logits");
    std::size_t best = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        check(!std::isnan(logits[i]) && logits[i] != inf, "recur::sample_token: logit ", i, " is ", logits[i],
              " (NaN and +inf are not allowed)");
        if (logits[i] > logits[best]) best = i;
    }
    check(logits[best] != -inf, "recur::sample_token: every one of the ", logits.size(), " logits is -inf");
    if (o.temperature == 0) return static_cast<std::int32_t>(best);

    std::vector<std::pair<float, std::int32_t>> local;
    auto& cand = scratch ? *scratch : local;
    cand.clear();
    for (std::size_t i = 0; i < logits.size(); ++i)
        if (logits[i] != -inf) cand.emplace_back(logits[i], static_cast<std::int32_t>(i));
    const auto more_likely = [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    const std::size_t k = o.top_k > 0 ? std::min(static_cast<std::size_t>(o.top_k), cand.size()) : cand.size();
    const auto kth = cand.begin() + static_cast<std::ptrdiff_t>(k);
    if (k < cand.size()) {
        if (o.top_p < 1) std::partial_sort(cand.begin(), kth, cand.end(), more_likely);
        else std::nth_element(cand.begin(), kth - 1, cand.end(), more_likely);
    } else if (o.top_p < 1) {
        std::sort(cand.begin(), cand.end(), more_likely);
    }

    // Unnormalised probabilities relative to the largest logit, recomputed identically on each pass.
    const double top = logits[best];
    const auto weight = [&](std::size_t i) {
        return std::exp((static_cast<double>(cand[i].first) - top) / o.temperature);
    };
    double mass = 0;
    for (std::size_t i = 0; i < k; ++i) mass += weight(i);
    std::size_t kept = k;
    if (o.top_p < 1) {
        const double reach = o.top_p * mass;
        mass = 0;
        for (kept = 0; kept < k && mass < reach;) mass += weight(kept++);
    }

    const double target = gen.uniform() * mass;
    double cum = 0;
    std::size_t last_positive = 0;
    for (std::size_t i = 0; i < kept; ++i) {
        const double w = weight(i);
        cum += w;
        if (target < cum) return cand[i].second;
        if (w > 0) last_positive = i;
    }
    return cand[last_positive].second;  // target rounded up to mass: the last token that can be drawn
}

}  // namespace recur
