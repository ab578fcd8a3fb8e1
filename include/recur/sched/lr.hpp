// Learning-rate schedules as pure functions of the optimizer step: warmup-stable-decay (docs/method.md section 8),
// cosine and constant, each after a linear warmup. Not here: the optimizers or JSON (train/config.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include <recur/core/error.hpp>
#include <recur/sched/steps.hpp>

namespace recur {

/// What follows the warmup: `warmup_stable_decay` holds 1 and then decays over the last
/// decay_fraction of the run; `cosine` decays over everything after the warmup; `constant` holds 1.
enum class lr_kind { warmup_stable_decay, cosine, constant };

/// The multiplier of the base learning rate at each optimizer step of a run of total_steps steps.
///
/// With W = steps_of_fraction(warmup_fraction, total) warmup steps and, for WSD,
/// D = min(steps_of_fraction(decay_fraction, total), total - W) decay steps:
/// ```
/// step < W:                    (step + 1) / W        linear warmup; step 0 already trains at 1/W
///                                                    and step W - 1 reaches 1, so no step is wasted at 0
/// WSD, W <= step < total - D:  1
/// WSD, step >= total - D:      cosine_to_min((step - (total - D) + 1) / D)
/// cosine, step >= W:           cosine_to_min((step - W + 1) / (total - W))
/// constant, step >= W:         1
/// cosine_to_min(p) = min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2
/// ```
/// so the last step of a decaying schedule runs at exactly min_ratio.
struct lr_schedule {
    lr_kind kind = lr_kind::warmup_stable_decay;
    double warmup_fraction = 0.1;  ///< fraction of the run spent warming up, in [0, 1]
    double decay_fraction = 0.1;   ///< WSD only: fraction of the run spent decaying, in [0, 1]
    double min_ratio = 0.001;      ///< multiplier reached at the end of a decay, in [0, 1]

    /// Throws recur::error naming the field unless both fractions and min_ratio lie in [0, 1] and,
    /// for WSD, warmup_fraction + decay_fraction <= 1.
    void validate() const {
        check(warmup_fraction >= 0 && warmup_fraction <= 1, "recur::lr_schedule: warmup_fraction must be in [0, 1], got ",
              warmup_fraction);
        check(decay_fraction >= 0 && decay_fraction <= 1, "recur::lr_schedule: decay_fraction must be in [0, 1], got ",
              decay_fraction);
        check(min_ratio >= 0 && min_ratio <= 1, "recur::lr_schedule: min_ratio must be in [0, 1], got ", min_ratio);
        check(kind != lr_kind::warmup_stable_decay || warmup_fraction + decay_fraction <= 1,
              "recur::lr_schedule: warmup_fraction + decay_fraction must be <= 1, got ", warmup_fraction, " + ",
              decay_fraction);
    }

    /// The multiplier (in [0, 1]) of the base learning rate at `step`.
    /// requires: a valid schedule, total_steps >= 1 and 0 <= step < total_steps; else recur::error
    /// naming the field or argument.
    double operator()(std::int64_t step, std::int64_t total_steps) const {
        validate();
        check(total_steps >= 1, "recur::lr_schedule: total_steps must be >= 1, got ", total_steps);
        check(step >= 0 && step < total_steps, "recur::lr_schedule: step must be in [0, ", total_steps, "), got ", step);
        const std::int64_t warmup = steps_of_fraction(warmup_fraction, total_steps);
        if (step < warmup) return static_cast<double>(step + 1) / static_cast<double>(warmup);
        if (kind == lr_kind::constant) return 1.0;
        if (kind == lr_kind::cosine)
            return cosine_to_min(static_cast<double>(step - warmup + 1) / static_cast<double>(total_steps - warmup));
        const std::int64_t decay = std::min(steps_of_fraction(decay_fraction, total_steps), total_steps - warmup);
        const std::int64_t decay_start = total_steps - decay;
        if (step < decay_start) return 1.0;
        return cosine_to_min(static_cast<double>(step - decay_start + 1) / static_cast<double>(decay));
    }

private:
    double cosine_to_min(double progress) const {
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
    }
};

}  // namespace recur
