// Step counts from fractions of a run (warmup and decay lengths): ceil(fraction * total_steps) that
// does not round a decimal product such as 0.07 * 100 up to 8. Not here: the schedules themselves.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace recur {

/// ceil(fraction * total_steps) for a fraction written in decimal. The double product can land a
/// few ulps above the intended integer (0.07 * 100 is 7.000000000000001 in double), so a product
/// within 4 ulps of an integer counts as that integer: the error of rounding the decimal fraction
/// to a double plus that of the product is below 2 ulps.
/// requires: 0 <= fraction <= 1 and total_steps >= 0 (the callers validate both).
inline std::int64_t steps_of_fraction(double fraction, std::int64_t total_steps) {
    const double x = fraction * static_cast<double>(total_steps);
    const double nearest = std::round(x);
    if (std::abs(x - nearest) <= 4 * std::numeric_limits<double>::epsilon() * nearest)
        return static_cast<std::int64_t>(nearest);
    return static_cast<std::int64_t>(std::ceil(x));
}

}  // namespace recur
