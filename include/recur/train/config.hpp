// train_config: what a training run does step by step (sizes, schedules, recurrence sampling,
// clipping, logging, checkpoints), and the field tables from which it and its schedules are read,
// validated, written and documented (JSON layer: io/json_fields.hpp; types: sched/*.hpp, below).
// Not here: the model, the data or the optimizer's own options (the trainer takes those built).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include <recur/io/json_fields.hpp>
#include <recur/recurrence/sampler.hpp>
#include <recur/sched/curriculum.hpp>
#include <recur/sched/lr.hpp>

namespace recur {

/// How each micro-batch's (n, k) is chosen from the step's r_bar and s.
enum class split_mode {
    poisson_lognormal,  ///< docs/method.md section 5's randomised sampler (poisson_lognormal_sampler)
    fixed,              ///< n = max(r_bar - s, 0), k = min(s, r_bar)
};

/// What a step with a non-finite loss or gradient does.
enum class nonfinite_policy {
    stop,  ///< throw recur::error naming the step and the tensor; no update, no checkpoint of that state
    skip,  ///< drop the step's gradients, count the step, warn; max_nonfinite in a row then stop
};

/// JSON keys (all optional; train_config_from_json): those of train_config_fields below, each the
/// field of the same name (train_config_help() lists them with kinds and defaults).
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

    /// Throws recur::error naming the first field out of range (the minima of train_config_fields).
    void validate() const;
};

// ---- field tables: the one list of keys of each section; parsing, validation, writing and help
// ---- text below all read them.

inline constexpr std::pair<const char*, ramp_kind> ramp_kind_names[] = {
    {"linear", ramp_kind::linear}, {"1-sqrt", ramp_kind::one_minus_sqrt}, {"constant", ramp_kind::constant}};
inline constexpr std::pair<const char*, lr_kind> lr_kind_names[] = {
    {"wsd", lr_kind::warmup_stable_decay}, {"cosine", lr_kind::cosine}, {"constant", lr_kind::constant}};
inline constexpr std::pair<const char*, split_mode> split_mode_names[] = {
    {"poisson_lognormal", split_mode::poisson_lognormal}, {"fixed", split_mode::fixed}};
inline constexpr std::pair<const char*, nonfinite_policy> nonfinite_policy_names[] = {
    {"stop", nonfinite_policy::stop}, {"skip", nonfinite_policy::skip}};

/// "lr_schedule": {"kind": "wsd" | "cosine" | "constant", "warmup_fraction", "decay_fraction", "min_ratio"}.
inline constexpr auto lr_schedule_fields = std::tuple{
    enum_field("kind", &lr_schedule::kind, lr_kind_names, "what follows the warmup"),
    field("warmup_fraction", &lr_schedule::warmup_fraction, "fraction of the run spent warming up, in [0, 1]"),
    field("decay_fraction", &lr_schedule::decay_fraction, "wsd only: fraction of the run spent decaying, in [0, 1]"),
    field("min_ratio", &lr_schedule::min_ratio, "multiplier reached at the end of a decay, in [0, 1]"),
};

/// "curriculum": {"kind": "linear" | "1-sqrt" | "constant", "warmup_fraction", "start", "r_max"};
/// "backprop": the same with "s_max".
template <class Q>
inline constexpr auto ramp_schedule_fields = std::tuple{
    enum_field("kind", &ramp_schedule<Q>::kind, ramp_kind_names, Q::kind_doc),
    field("warmup_fraction", &ramp_schedule<Q>::warmup_fraction, "fraction of the run spent ramping, in [0, 1]"),
    field("start", &ramp_schedule<Q>::start, Q::start_doc),
    field(Q::max_key, &ramp_schedule<Q>::max, Q::max_doc),
};

namespace detail {

/// Reads a section of type T from its table: missing keys keep T{}'s values; unknown keys, wrong
/// types, unknown names and invalid values (T::validate) throw recur::error naming the key,
/// prefixed by "`where`: `name`: ".
template <class T, class... F>
T read_section(const nlohmann::json& j, const std::string& where, const char* name, const std::tuple<F...>& fields) {
    const std::string at = (where.empty() ? "" : where + ": ") + name + ": ";
    T out;
    read_fields(j, out, fields, at, where);
    out.validate();
    return out;
}

}  // namespace detail

inline nlohmann::json to_json(const lr_schedule& s) { return write_fields(s, lr_schedule_fields); }
template <class Q>
nlohmann::json to_json(const ramp_schedule<Q>& s) {
    return write_fields(s, ramp_schedule_fields<Q>);
}

/// Reads an lr_schedule; missing keys keep their defaults; unknown keys, wrong types, unknown kinds
/// and invalid values throw recur::error naming the key (prefixed by `where` when given).
inline lr_schedule lr_schedule_from_json(const nlohmann::json& j, const std::string& where = "") {
    return detail::read_section<lr_schedule>(j, where, "lr_schedule", lr_schedule_fields);
}

/// Reads a recurrence_curriculum or backprop_schedule (Q: mean_recurrence or backprop_depth), as
/// lr_schedule_from_json does.
template <class Q>
ramp_schedule<Q> ramp_schedule_from_json(const nlohmann::json& j, const std::string& where = "") {
    return detail::read_section<ramp_schedule<Q>>(j, where, Q::section, ramp_schedule_fields<Q>);
}

namespace detail {
inline lr_schedule read_lr_section(const nlohmann::json& j, const std::string& w) { return lr_schedule_from_json(j, w); }
inline nlohmann::json write_lr_section(const lr_schedule& s) { return to_json(s); }
template <class Q>
ramp_schedule<Q> read_ramp_section(const nlohmann::json& j, const std::string& w) {
    return ramp_schedule_from_json<Q>(j, w);
}
template <class Q>
nlohmann::json write_ramp_section(const ramp_schedule<Q>& s) {
    return to_json(s);
}
}  // namespace detail

/// "train": the keys of train_config, in the order validate() checks them.
inline constexpr auto train_config_fields = std::tuple{
    integer_field("steps", &train_config::steps, 1, "optimizer steps in the run (schedules are functions of it)"),
    integer_field("batch", &train_config::batch, 1, "rows per micro-batch"),
    integer_field("seq", &train_config::seq, 1, "tokens per row"),
    integer_field("micro_batches", &train_config::micro_batches, 1, "micro-batches per optimizer step"),
    field("clip", &train_config::clip, "global grad-norm clip (<= 0: none)"),
    json_section<train_config, lr_schedule>{"lr_schedule", &train_config::lr,
                                            "multiplier of the optimizer's base learning rates",
                                            detail::read_lr_section, detail::write_lr_section},
    json_section<train_config, recurrence_curriculum>{"curriculum", &train_config::curriculum, "r_bar per step",
                                                      detail::read_ramp_section<mean_recurrence>,
                                                      detail::write_ramp_section<mean_recurrence>},
    json_section<train_config, backprop_schedule>{"backprop", &train_config::backprop, "s per step",
                                                  detail::read_ramp_section<backprop_depth>,
                                                  detail::write_ramp_section<backprop_depth>},
    enum_field("split", &train_config::split, split_mode_names, "how each micro-batch's (n, k) is chosen"),
    field("sigma", &train_config::sigma, "the sampler's log-normal sigma, > 0"),
    field("seed", &train_config::seed, "seeds the (n, k) draws"),
    integer_field("log_every", &train_config::log_every, 1, "steps between plain progress lines"),
    integer_field("checkpoint_every", &train_config::checkpoint_every, 0, "steps between checkpoints (0: only at the end)"),
    integer_field("keep_checkpoints", &train_config::keep_checkpoints, 0, "newest checkpoints kept (0: all)"),
    enum_field("nonfinite", &train_config::nonfinite, nonfinite_policy_names,
               "a non-finite loss or gradient stops the run, or skips the step"),
    integer_field("max_nonfinite", &train_config::max_nonfinite, 1,
                  "with nonfinite skip: consecutive skipped steps before training stops"),
    field("out_dir", &train_config::out_dir, "checkpoints and metrics.jsonl; empty: neither"),
};

inline void train_config::validate() const {
    check_minima(*this, train_config_fields, "recur::train_config: ");
    check(sigma > 0 && std::isfinite(sigma), "recur::train_config: 'sigma' must be positive, got ", sigma);
    lr.validate();
    curriculum.validate();
    backprop.validate();
}

inline nlohmann::json to_json(const train_config& c) { return write_fields(c, train_config_fields); }

/// Reads a train_config; missing keys keep their defaults; unknown keys, wrong types and invalid
/// values throw recur::error naming the key (prefixed by `where`).
inline train_config train_config_from_json(const nlohmann::json& j, const std::string& where = "") {
    const std::string at = (where.empty() ? "" : where + ": ") + "train: ";
    train_config c;
    read_fields(j, c, train_config_fields, at, where);
    try {
        c.validate();
    } catch (const error& e) {
        fail(at, e.what());
    }
    return c;
}

/// The "train" section's keys with kinds, defaults and docs, one per line (schedules indented
/// under their key), as `recur train --help` shows them.
inline std::string train_config_help() {
    std::string out = fields_help(train_config_fields, train_config{});
    auto sub = [&](const char* key, const std::string& text) {
        const std::string line = std::string("  ") + key + " (";
        const auto at = out.find(line);
        const auto end = out.find('\n', at) + 1;
        out.insert(end, text);
    };
    sub("lr_schedule", fields_help(lr_schedule_fields, lr_schedule{}, "    "));
    sub("curriculum", fields_help(ramp_schedule_fields<mean_recurrence>, recurrence_curriculum{}, "    "));
    sub("backprop", fields_help(ramp_schedule_fields<backprop_depth>, backprop_schedule{}, "    "));
    return out;
}

}  // namespace recur
