// Recurrence iterations per micro-batch (docs/method.md section 5): fixed split, Poisson-lognormal
// sampler, exact Poisson. Not here: the curriculum over r_bar and s (sched/), or running the iterations (Recurrent).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include <recur/core/error.hpp>
#include <recur/core/random.hpp>

namespace recur {

/// The iterations of one forward pass through the recurrent block.
struct iteration_split {
    std::int64_t n;  ///< iterations run without gradient (nothing recorded for backward)
    std::int64_t k;  ///< iterations run with gradient (backprop depth)

    friend bool operator==(const iteration_split&, const iteration_split&) = default;
};

/// Largest mean recurrence (and backprop depth) the sampler accepts, 2^40: it keeps every Poisson
/// rate far below the 2^50 limit of sample_poisson and every count exact in a double.
inline constexpr double max_mean_recurrence = 0x1p40;

/// Largest rate sample_poisson accepts, 2^50, so that counts stay exact in a double and an int64.
inline constexpr double max_poisson_rate = 0x1p50;

namespace detail {

/// splitmix64 finaliser: a bijective 64-bit mix, used to spread the step over the seed.
constexpr std::uint64_t splitmix64(std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/// ln(k!) for an integral k >= 0: a sum of logs below 16, Stirling's series above
/// (truncation error < 1e-14 there). Ours rather than std::lgamma, which is not thread-safe
/// on every C library (it may write the global `signgam`).
inline double log_factorial(double k) {
    if (k < 16) {
        double s = 0;
        for (double i = 2; i <= k; ++i) s += std::log(i);
        return s;
    }
    const double x = k + 1, r = 1 / x, r2 = r * r;
    const double series = r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680))));
    return (x - 0.5) * std::log(x) - x + 0.5 * std::log(2 * std::numbers::pi) + series;
}

/// Knuth's multiplication method: count uniforms until their product drops to exp(-lambda).
/// Exact; expected cost lambda + 1 uniforms, so used only for small rates.
inline std::int64_t poisson_knuth(double lambda, rng& gen) {
    const double limit = std::exp(-lambda);
    std::int64_t k = 0;
    for (double prod = 1.0 - gen.uniform(); prod > limit; prod *= 1.0 - gen.uniform()) ++k;
    return k;
}

/// PTRS, transformed rejection with squeeze (Hormann 1993, "The transformed rejection method
/// for generating Poisson random variables"); exact for lambda >= 10, about 1.2 pairs of
/// uniforms per draw. Candidates are kept in double until accepted, so the far tails that
/// us -> 0 produces are rejected before any conversion to an integer.
inline std::int64_t poisson_ptrs(double lambda, rng& gen) {
    const double slam = std::sqrt(lambda), loglam = std::log(lambda);
    const double b = 0.931 + 2.53 * slam;
    const double a = -0.059 + 0.02483 * b;
    const double log_inv_alpha = std::log(1.1239 + 1.1328 / (b - 3.4));
    const double v_r = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        const double u = gen.uniform() - 0.5;
        const double v = gen.uniform();
        const double us = 0.5 - std::abs(u);
        const double k = std::floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= v_r) return static_cast<std::int64_t>(k);
        if (!(k >= 0) || (us < 0.013 && v > us)) continue;
        if (std::log(v) + log_inv_alpha - std::log(a / (us * us) + b) <= -lambda + k * loglam - log_factorial(k))
            return static_cast<std::int64_t>(k);
    }
}

}  // namespace detail

/// One draw from Poisson(lambda), exact in distribution: Knuth's multiplication method for
/// lambda < 30, Hormann's PTRS transformed rejection for lambda >= 30.
/// requires: 0 <= lambda <= max_poisson_rate (2^50), finite; else recur::error naming lambda.
/// ensures: the result is >= 0; `gen` has advanced by a number of draws that depends on the result.
inline std::int64_t sample_poisson(double lambda, rng& gen) {
    check(std::isfinite(lambda) && lambda >= 0 && lambda <= max_poisson_rate,
          "recur::sample_poisson: lambda must be finite and in [0, 2^50], got ", lambda);
    return lambda < 30 ? detail::poisson_knuth(lambda, gen) : detail::poisson_ptrs(lambda, gen);
}

/// The fixed mode of docs/method.md section 5: n = max(r_bar - s, 0) without gradient, k = min(s, r_bar)
/// with gradient. The method writes k = s; when r_bar < s we clamp k to r_bar (the curriculum's
/// "if r_bar < s then s = r_bar") so that n + k = r_bar always holds.
/// requires: r_bar >= 1, s >= 1; else recur::error naming the argument and its value.
inline iteration_split fixed_split(std::int64_t r_bar, std::int64_t s) {
    check(r_bar >= 1, "recur::fixed_split: r_bar must be >= 1, got ", r_bar);
    check(s >= 1, "recur::fixed_split: s must be >= 1, got ", s);
    return {std::max<std::int64_t>(r_bar - s, 0), std::min(s, r_bar)};
}

/// The randomised mode of docs/method.md section 5, as a seedable policy. Per call:
/// ```
/// t = max(r_bar - s, 0);  mu = ln(t + s) - sigma^2 / 2
/// lambda ~ LogNormal(mu, sigma);  p = Poisson(lambda) + 1
/// n = max(p - s, 0);  k = min(s, p)
/// ```
/// The generator is rng(seed ^ splitmix64(step)), built afresh on every call, so the draw is a
/// pure function of (seed, step, r_bar, s, sigma): every data-parallel rank gets the same split
/// without communicating, and a resumed run replays the same splits. For a fixed seed distinct
/// steps give distinct generator seeds (splitmix64 is a bijection), and vice versa.
/// The bit stream is platform independent; the draw also goes through std::log, std::exp and
/// std::cos, so two C libraries whose results differ in the last bit could disagree, but only
/// when a comparison lands within that bit (probability ~1e-15 per draw). Ranks running the same
/// binary always agree.
///
/// Note on the mean: n + k = p always (p >= s: (p - s) + s; p < s: 0 + p), so the expected total
/// is E[p] = E[lambda] + 1 = exp(mu + sigma^2/2) + 1 = t + s + 1 = max(r_bar, s) + 1. That is
/// r_bar + 1 when s <= r_bar (the "+ 1" is the method's), and s + 1 when r_bar < s, so callers that
/// want mean r_bar + 1 at small r_bar clamp s to r_bar first, as the curriculum does.
struct poisson_lognormal_sampler {
    double sigma = 0.5;      ///< log-space standard deviation of the rate
    std::uint64_t seed = 0;  ///< run seed; combined with the step for each draw

    /// Draws (n, k) for optimizer step `step` at mean recurrence `r_bar` and backprop depth `s`.
    /// requires: step >= 0; 1 <= r_bar <= 2^40 finite; 1 <= s <= 2^40; sigma > 0 finite;
    ///           else recur::error naming the argument and its value.
    /// ensures: n >= 0, 1 <= k <= s, k = min(s, n + k), n = max(n + k - s, 0).
    iteration_split operator()(std::int64_t step, double r_bar, std::int64_t s) const {
        check(step >= 0, "recur::poisson_lognormal_sampler: step must be >= 0, got ", step);
        const double t = validated_t(r_bar, s);
        rng gen(seed ^ detail::splitmix64(static_cast<std::uint64_t>(step)));
        const double mu = std::log(t + static_cast<double>(s)) - sigma * sigma / 2;
        const double lambda = std::exp(mu + sigma * gen.normal());
        const std::int64_t p = sample_poisson(lambda, gen) + 1;
        return {std::max<std::int64_t>(p - s, 0), std::min(s, p)};
    }

    /// E[n + k] in closed form: t + s + 1 with t = max(r_bar - s, 0) (derivation above; it does
    /// not depend on sigma). Same requirements as operator().
    double analytic_mean_total(double r_bar, std::int64_t s) const {
        return validated_t(r_bar, s) + static_cast<double>(s) + 1;
    }

private:
    double validated_t(double r_bar, std::int64_t s) const {
        check(std::isfinite(r_bar) && r_bar >= 1 && r_bar <= max_mean_recurrence,
              "recur::poisson_lognormal_sampler: r_bar must be finite and in [1, 2^40], got ", r_bar);
        check(s >= 1 && static_cast<double>(s) <= max_mean_recurrence,
              "recur::poisson_lognormal_sampler: s must be in [1, 2^40], got ", s);
        check(std::isfinite(sigma) && sigma > 0,
              "recur::poisson_lognormal_sampler: sigma must be finite and > 0, got ", sigma);
        return std::max(r_bar - static_cast<double>(s), 0.0);
    }
};

}  // namespace recur
