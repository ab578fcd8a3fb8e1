// train_config: what a training run does step by step (sizes, schedules, recurrence sampling,
// clipping, logging, checkpoints), with JSON whose unknown keys and wrong types name the key.
// Not here: the model, the data or the optimizer's own options (the trainer takes those built).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include <recur/io/config_json.hpp>
#include <recur/recurrence/sampler.hpp>
#include <recur/sched/curriculum.hpp>
#include <recur/sched/lr.hpp>

namespace recur {

/// How each micro-batch's (n, k) is chosen from the step's r_bar and s.
enum class split_mode {
    poisson_lognormal,  ///< METHOD 3's randomised sampler (poisson_lognormal_sampler)
    fixed,              ///< n = max(r_bar - s, 0), k = min(s, r_bar)
};

/// What a step with a non-finite loss or gradient does.
enum class nonfinite_policy {
    stop,  ///< throw recur::error naming the step and the tensor; no update, no checkpoint of that state
    skip,  ///< drop the step's gradients, count the step, warn; max_nonfinite in a row then stop
};

/// JSON keys (all optional; train_config_from_json): steps, batch, seq, micro_batches, clip,
/// lr_schedule, curriculum, backprop, split ("poisson_lognormal" | "fixed"), sigma, seed, log_every,
/// checkpoint_every, keep_checkpoints, nonfinite ("stop", the default, | "skip"), max_nonfinite
/// (with "skip"), out_dir: each as the field of the same name below.
struct train_config {
    std::int64_t steps = 1000;        ///< optimizer steps in the run (schedules are functions of it)
    std::int64_t batch = 8;           ///< rows per micro-batch
    std::int64_t seq = 256;           ///< tokens per row
    std::int64_t micro_batches = 1;   ///< gradient accumulation: micro-batches per optimizer step
    double clip = 1.0;                ///< global grad-norm clip (<= 0: none)
    lr_schedule lr;                   ///< multiplier of the optimizer's base learning rates
    recurrence_curriculum curriculum; ///< r_bar per step
    backprop_schedule backprop;       ///< s per step
    split_mode split = split_mode::poisson_lognormal;
    double sigma = 0.5;               ///< the sampler's log-normal sigma
    std::uint64_t seed = 0;           ///< seeds the (n, k) draws
    std::int64_t log_every = 10;      ///< plain progress lines (not on a terminal)
    std::int64_t checkpoint_every = 0;  ///< 0: only at the end
    std::int64_t keep_checkpoints = 2;  ///< newest checkpoints kept (0: all)
    nonfinite_policy nonfinite = nonfinite_policy::stop;  ///< a non-finite loss or gradient stops the run, or skips the step
    std::int64_t max_nonfinite = 5;     ///< with nonfinite skip: consecutive skipped steps before training stops with an error
    std::string out_dir;                ///< checkpoints and metrics.jsonl; empty: neither

    /// Throws recur::error naming the first field out of range.
    void validate() const {
        auto at_least = [](const char* key, std::int64_t v, std::int64_t lo) {
            check(v >= lo, "recur::train_config: '", key, "' must be >= ", lo, ", got ", v);
        };
        at_least("steps", steps, 1);
        at_least("batch", batch, 1);
        at_least("seq", seq, 1);
        at_least("micro_batches", micro_batches, 1);
        at_least("log_every", log_every, 1);
        at_least("checkpoint_every", checkpoint_every, 0);
        at_least("keep_checkpoints", keep_checkpoints, 0);
        at_least("max_nonfinite", max_nonfinite, 1);
        check(sigma > 0 && std::isfinite(sigma), "recur::train_config: 'sigma' must be positive, got ", sigma);
        lr.validate();
        curriculum.validate();
        backprop.validate();
    }
};

inline nlohmann::json to_json(const train_config& c) {
    return {{"steps", c.steps},
            {"batch", c.batch},
            {"seq", c.seq},
            {"micro_batches", c.micro_batches},
            {"clip", c.clip},
            {"lr_schedule", to_json(c.lr)},
            {"curriculum", to_json(c.curriculum)},
            {"backprop", to_json(c.backprop)},
            {"split", c.split == split_mode::fixed ? "fixed" : "poisson_lognormal"},
            {"sigma", c.sigma},
            {"seed", c.seed},
            {"log_every", c.log_every},
            {"checkpoint_every", c.checkpoint_every},
            {"keep_checkpoints", c.keep_checkpoints},
            {"nonfinite", c.nonfinite == nonfinite_policy::skip ? "skip" : "stop"},
            {"max_nonfinite", c.max_nonfinite},
            {"out_dir", c.out_dir}};
}

/// Reads a train_config; missing keys keep their defaults; unknown keys, wrong types and invalid
/// values throw recur::error naming the key (prefixed by `where`).
inline train_config train_config_from_json(const nlohmann::json& j, const std::string& where = "") {
    const std::string at = (where.empty() ? "" : where + ": ") + "train: ";
    detail::reject_unknown(j,
                           {"steps", "batch", "seq", "micro_batches", "clip", "lr_schedule", "curriculum", "backprop",
                            "split", "sigma", "seed", "log_every", "checkpoint_every", "keep_checkpoints",
                            "nonfinite", "max_nonfinite", "out_dir"},
                           at);
    train_config c;
    detail::read_integer_key(j, "steps", c.steps, at);
    detail::read_integer_key(j, "batch", c.batch, at);
    detail::read_integer_key(j, "seq", c.seq, at);
    detail::read_integer_key(j, "micro_batches", c.micro_batches, at);
    detail::read_key(j, "clip", c.clip, at);
    if (j.contains("lr_schedule")) c.lr = lr_schedule_from_json(j["lr_schedule"], where);
    if (j.contains("curriculum")) c.curriculum = recurrence_curriculum_from_json(j["curriculum"], where);
    if (j.contains("backprop")) c.backprop = backprop_schedule_from_json(j["backprop"], where);
    c.split = detail::read_enum(j, "split", c.split,
                                {{"poisson_lognormal", split_mode::poisson_lognormal}, {"fixed", split_mode::fixed}}, at);
    detail::read_key(j, "sigma", c.sigma, at);
    detail::read_key(j, "seed", c.seed, at);
    detail::read_integer_key(j, "log_every", c.log_every, at);
    detail::read_integer_key(j, "checkpoint_every", c.checkpoint_every, at);
    detail::read_integer_key(j, "keep_checkpoints", c.keep_checkpoints, at);
    c.nonfinite = detail::read_enum(j, "nonfinite", c.nonfinite,
                                    {{"stop", nonfinite_policy::stop}, {"skip", nonfinite_policy::skip}}, at);
    detail::read_integer_key(j, "max_nonfinite", c.max_nonfinite, at);
    detail::read_key(j, "out_dir", c.out_dir, at);
    try {
        c.validate();
    } catch (const error& e) {
        fail(at, e.what());
    }
    return c;
}

}  // namespace recur
