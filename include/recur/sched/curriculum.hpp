// The curriculum over mean recurrence r_bar and backprop depth s (docs/method.md section 6), one
// ramp_schedule type for both, as pure functions of the optimizer step in exact integer arithmetic. Not here: sampling (n, k) (sampler.hpp) or JSON (train/config.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include <recur/core/error.hpp>
#include <recur/sched/steps.hpp>

namespace recur {

/// The shape of a ramp from `start` up to its maximum over the warmup: f(q) = q (`linear`),
/// f(q) = 1 - sqrt(1 - q) (`one_minus_sqrt`, "1-sqrt": fast at first, then slow), or the maximum
/// from the first step (`constant`).
enum class ramp_kind { linear, one_minus_sqrt, constant };

/// Largest maximum a ramp accepts, 2^31 - 1, so that the exact test below never overflows.
inline constexpr std::int64_t max_ramp_value = 2147483647;

namespace detail {

/// a * b <= c * d for unsigned 64-bit values, exactly: both products in 128 bits from 32-bit halves.
constexpr bool product_le(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
    auto wide = [](std::uint64_t x, std::uint64_t y) {
        const std::uint64_t x0 = x & 0xffffffffu, x1 = x >> 32, y0 = y & 0xffffffffu, y1 = y >> 32;
        const std::uint64_t p00 = x0 * y0, p01 = x0 * y1, p10 = x1 * y0, p11 = x1 * y1;
        const std::uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
        return std::pair{p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32), (mid << 32) | (p00 & 0xffffffffu)};
    };
    return wide(a, b) <= wide(c, d);
}

/// Throws recur::error, prefixed by `who`, naming the first field of a ramp that is out of range.
inline void check_ramp(double warmup_fraction, std::int64_t start, std::int64_t top, const char* top_name,
                       const char* who) {
    check(warmup_fraction >= 0 && warmup_fraction <= 1, who, ": warmup_fraction must be in [0, 1], got ",
          warmup_fraction);
    check(start >= 1, who, ": start must be >= 1, got ", start);
    check(top >= start && top <= max_ramp_value, who, ": ", top_name, " must be in [start = ", start,
          ", 2^31 - 1], got ", top);
}

/// The ramp of docs/method.md section 6 at `step` of `total_steps`: with W = steps_of_fraction(warmup_fraction, total)
/// and q = step / W, max(start, ceil(top * f(q))) while q < 1, else top; `constant` is always top.
/// The ceil is exact: it is the smallest integer n in [0, top] with n >= top * f(step / W), found by
/// bisection on a test in integers that never rounds:
///   linear:  n * W >= top * step
///   1-sqrt:  n >= top, or (top - n)^2 * W <= top^2 * (W - step)   (sqrt(1 - q) >= 1 - n / top, squared)
/// so top = 4 at q = 1/4 gives exactly 1, and 1-sqrt with top = 9 at q = 5/9 exactly 3.
/// requires: fields that pass check_ramp; total_steps >= 1 and 0 <= step < total_steps, else
/// recur::error prefixed by `who`.
inline std::int64_t ramp(ramp_kind kind, double warmup_fraction, std::int64_t start, std::int64_t top,
                         std::int64_t step, std::int64_t total_steps, const char* who) {
    check(total_steps >= 1, who, ": total_steps must be >= 1, got ", total_steps);
    check(step >= 0 && step < total_steps, who, ": step must be in [0, ", total_steps, "), got ", step);
    const std::int64_t warmup = steps_of_fraction(warmup_fraction, total_steps);
    if (kind == ramp_kind::constant || step >= warmup) return top;
    const auto w = static_cast<std::uint64_t>(warmup), s = static_cast<std::uint64_t>(step),
               t = static_cast<std::uint64_t>(top);
    auto reached = [&](std::uint64_t n) {
        if (kind == ramp_kind::linear) return product_le(t, s, n, w);
        return n >= t || product_le((t - n) * (t - n), w, t * t, w - s);
    };
    std::uint64_t lo = 0, hi = t;  // reached(hi) holds; find the smallest such n
    while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        if (reached(mid))
            hi = mid;
        else
            lo = mid + 1;
    }
    return std::max(start, static_cast<std::int64_t>(lo));
}

}  // namespace detail

/// What a ramp schedules: its names (in errors, JSON and help) and its defaults. The mean recurrence
/// r_bar and the backprop depth s follow the same ramp (docs/method.md section 6).
struct mean_recurrence {
    static constexpr const char* who = "recur::recurrence_curriculum";
    static constexpr const char* section = "recurrence_curriculum";
    static constexpr const char* max_key = "r_max";
    static constexpr const char* kind_doc = "shape of the ramp of r_bar";
    static constexpr const char* start_doc = "smallest r_bar, >= 1";
    static constexpr const char* max_doc = "r_bar after the warmup, in [start, 2^31 - 1]";
    static constexpr ramp_kind default_kind = ramp_kind::linear;
    static constexpr std::int64_t default_max = 4;
};
struct backprop_depth {
    static constexpr const char* who = "recur::backprop_schedule";
    static constexpr const char* section = "backprop_schedule";
    static constexpr const char* max_key = "s_max";
    static constexpr const char* kind_doc = "shape of the ramp of s";
    static constexpr const char* start_doc = "smallest s, >= 1";
    static constexpr const char* max_doc = "s after the warmup (then min(s, r_bar)), in [start, 2^31 - 1]";
    static constexpr ramp_kind default_kind = ramp_kind::constant;
    static constexpr std::int64_t default_max = 8;
};

/// An integer quantity per optimizer step, ramped from `start` up to `max`:
/// value(step) = max(start, ceil(max * f(step / W))) during the warmup of W = ceil(warmup_fraction
/// * total) steps (see steps_of_fraction), `max` after it; `constant` is `max` throughout.
/// Published for r_bar: linear with warmup 0.25, or 1-sqrt with warmup 0.75; max in {4, 8, 16, 32}.
template <class Quantity>
struct ramp_schedule {
    ramp_kind kind = Quantity::default_kind;
    double warmup_fraction = 0.25;  ///< fraction of the run spent ramping, in [0, 1]
    std::int64_t start = 1;         ///< smallest value, >= 1
    std::int64_t max = Quantity::default_max;  ///< value after the warmup, in [start, 2^31 - 1]

    /// Throws recur::error naming the first field out of range.
    void validate() const { detail::check_ramp(warmup_fraction, start, max, Quantity::max_key, Quantity::who); }

    /// The value at `step` of a run of total_steps steps; exact (no floating-point ceil, see detail::ramp).
    /// requires: valid fields, total_steps >= 1, 0 <= step < total_steps; else recur::error naming
    /// the field or argument.
    std::int64_t at(std::int64_t step, std::int64_t total_steps) const {
        validate();
        return detail::ramp(kind, warmup_fraction, start, max, step, total_steps, Quantity::who);
    }
};

/// Mean recurrence r_bar per optimizer step (the curriculum).
using recurrence_curriculum = ramp_schedule<mean_recurrence>;
/// Backprop depth s per optimizer step, before the clamp to r_bar (backprop_depth_at).
using backprop_schedule = ramp_schedule<backprop_depth>;

/// The backprop depth at `step`: the schedule's s, never above that step's r_bar ("if r_bar < s then
/// s = r_bar"). requires r_bar >= 1 and what ramp_schedule::at requires; else recur::error.
inline std::int64_t backprop_depth_at(const backprop_schedule& s, std::int64_t step, std::int64_t total_steps,
                                      std::int64_t r_bar) {
    check(r_bar >= 1, "recur::backprop_schedule: r_bar must be >= 1, got ", r_bar);
    return std::min(r_bar, s.at(step, total_steps));
}

}  // namespace recur
