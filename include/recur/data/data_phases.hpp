// A run's data plan: consecutive phases of optimizer steps, each drawing every batch row from a weighted
// mixture of named sources; one JSON cursor for all of it. Not here: the sources (packed_tokens, qa_examples).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/core/random.hpp>
#include <recur/data/data_source.hpp>
#include <recur/data/token_batch.hpp>
#include <recur/recurrence/sampler.hpp>

namespace recur {

/// One source of a phase's mixture, by the name it was added under, and its weight (> 0).
struct mixture_part {
    std::string source;
    double weight = 1.0;
};

/// A stretch of optimizer steps whose rows come from `mixture`: each row from part i with probability
/// weight_i / sum of weights. steps = 0 makes the phase open-ended (allowed for the last phase only).
struct data_phase {
    std::int64_t steps = 0;
    std::vector<mixture_part> mixture;
};

/// Sources by name, and phases over them. The plan of docs/method.md section 9, "a healing phase on general text, then
/// task data (or a mix)", reads
/// ```
/// data_phases plan(seed);
/// plan.add_source("stories", std::make_unique<packed_tokens>(...));
/// plan.add_source("gsm8k", std::make_unique<qa_examples>(...));
/// plan.add_phase({500, {{"stories"}}});                      // steps 0-499: healing
/// plan.add_phase({0, {{"stories", 0.3}, {"gsm8k", 0.7}}});   // then a 30/70 mix until the end
/// token_batch b = plan.next(step, batch, seq);
/// ```
/// Phase p covers the steps after those of phases 0..p-1. Which source fills row r of step t depends
/// only on (seed, t, r) and the weights: draws of rng(seed ^ splitmix64(t)); what the row holds is
/// that source's next row, so a source shared by several phases continues where it stopped.
/// Steps may repeat (several micro-batches per step, which then share their pattern of sources) but
/// never go back. The cursor holds the seed, the last step served (the position in the phases) and
/// every source's cursor, so that restoring it into a plan built the same way continues identically.
class data_phases {
public:
    explicit data_phases(std::uint64_t seed = 0) : seed_(seed) {}

    /// Adds `source` under `name` and returns it. Throws recur::error on an empty or repeated name,
    /// or a null source.
    data_source& add_source(const std::string& name, std::unique_ptr<data_source> source) {
        check(!name.empty(), "recur::data_phases::add_source: empty source name");
        check(source != nullptr, "recur::data_phases::add_source: source '", name, "' is null");
        check(sources_.count(name) == 0, "recur::data_phases::add_source: a source named '", name, "' exists already");
        return *(sources_[name] = std::move(source));
    }

    /// Appends a phase. Throws recur::error when steps < 0, when a phase follows an open-ended one,
    /// when the mixture is empty, or when a part names no added source or has a weight that is not
    /// finite and > 0 (naming the phase and the part).
    void add_phase(const data_phase& phase) {
        const std::string who = "recur::data_phases::add_phase: phase " + std::to_string(phases_.size());
        check(phase.steps >= 0, who, ": steps must be >= 0 (0: until the end), got ", phase.steps);
        check(phases_.empty() || phases_.back().end != open_end, who, ": follows phase ", phases_.size() - 1,
              ", which is open-ended (steps 0)");
        check(!phase.mixture.empty(), who, ": the mixture has no source");
        resolved r;
        r.begin = phases_.empty() ? 0 : phases_.back().end;
        check(phase.steps < open_end - r.begin, who, ": ", phase.steps, " steps overflow the step count");
        r.end = phase.steps == 0 ? open_end : r.begin + phase.steps;
        double total = 0;
        for (const auto& part : phase.mixture) {
            check(std::isfinite(part.weight) && part.weight > 0, who, ": source '", part.source,
                  "' has weight ", part.weight, ", expected a finite value > 0");
            total += part.weight;
            r.names.push_back(part.source);
            r.sources.push_back(&source(part.source));
            r.cumulative.push_back(total);
        }
        check(std::isfinite(total), who, ": the weights sum to ", total);
        phases_.push_back(std::move(r));
    }

    /// The source added under `name`; throws recur::error naming it when there is none.
    data_source& source(const std::string& name) const {
        const auto it = sources_.find(name);
        check(it != sources_.end(), "recur::data_phases: no source named '", name, "'");
        return *it->second;
    }

    /// Number of phases added.
    std::size_t phases() const { return phases_.size(); }

    /// The phase that `step` falls in. Throws recur::error when step < 0 or past the last phase.
    std::size_t phase_at(std::int64_t step) const {
        check(step >= 0, "recur::data_phases: step must be >= 0, got ", step);
        for (std::size_t p = 0; p < phases_.size(); ++p)
            if (step < phases_[p].end) return p;
        check(!phases_.empty(), "recur::data_phases: no phase added");
        fail("recur::data_phases: step ", step, " is past the last phase, which ends at step ", phases_.back().end);
    }

    /// The (batch, seq) batch for optimizer step `step`, rows drawn as the class comment says.
    /// Throws recur::error when batch or seq < 1, when `step` is before the last step served or past
    /// the phases, or when a source of the phase has rows of another length (naming it).
    token_batch next(std::int64_t step, std::int64_t batch, std::int64_t seq) {
        check(batch >= 1 && seq >= 1, "recur::data_phases::next: batch and seq must be >= 1, got ", batch, " and ",
              seq);
        check(step >= last_step_, "recur::data_phases::next: step ", step, " comes after step ", last_step_,
              "; steps never go back");
        const resolved& phase = phases_[phase_at(step)];
        for (std::size_t i = 0; i < phase.sources.size(); ++i)
            check(phase.sources[i]->seq() == seq, "recur::data_phases::next: source '", phase.names[i],
                  "' has rows of ", phase.sources[i]->seq(), " tokens, the batch asks for ", seq);
        rng gen(seed_ ^ detail::splitmix64(static_cast<std::uint64_t>(step)));
        const double total = phase.cumulative.back();
        token_batch b = make_batch(batch, seq, [&](std::size_t, auto ids, auto targets) {
            const double u = gen.uniform() * total;
            std::size_t i = 0;
            while (i + 1 < phase.cumulative.size() && u >= phase.cumulative[i]) ++i;
            phase.sources[i]->next_row(ids, targets);
        });
        last_step_ = step;
        return b;
    }

    /// {"seed", "last_step" (-1 before the first batch), "sources": {name: that source's cursor}}.
    nlohmann::json cursor() const {
        nlohmann::json sources = nlohmann::json::object();
        for (const auto& [name, s] : sources_) sources[name] = s->cursor();
        return {{"seed", seed_}, {"last_step", last_step_}, {"sources", std::move(sources)}};
    }

    /// Restores a cursor written by cursor() on a plan with the same source names. Unknown, missing
    /// or ill-typed keys, a missing or unknown source name, or a source's own cursor error throw
    /// recur::error naming them; the plan is unchanged then.
    void restore(const nlohmann::json& j) {
        const std::string who = "recur::data_phases::restore";
        detail::check_cursor_keys(j, {"seed", "last_step", "sources"}, who);
        const std::uint64_t seed = detail::cursor_seed(j, "seed", who);
        const std::int64_t last_step = detail::cursor_integer(j, "last_step", -1, open_end, who);
        const nlohmann::json& sources = j.at("sources");
        check(sources.is_object(), who, ": cursor key 'sources' must be an object, got ", sources.type_name());
        for (const auto& [name, c] : sources.items())
            check(sources_.count(name) == 1, who, ": the cursor has a source '", name, "' that this plan lacks");
        for (const auto& [name, s] : sources_)
            check(sources.contains(name), who, ": the cursor lacks the source '", name, "'");
        const nlohmann::json before = cursor();
        std::string current;
        try {
            for (const auto& [name, s] : sources_) {
                current = name;
                s->restore(sources.at(name));
            }
        } catch (const error& e) {
            for (const auto& [name, s] : sources_) s->restore(before.at("sources").at(name));
            fail(who, ": source '", current, "': ", e.what());
        }
        seed_ = seed;
        last_step_ = last_step;
    }

private:
    static constexpr std::int64_t open_end = std::numeric_limits<std::int64_t>::max();

    /// A phase with its steps [begin, end) and its sources with cumulative weights.
    struct resolved {
        std::int64_t begin = 0, end = 0;
        std::vector<std::string> names;
        std::vector<data_source*> sources;
        std::vector<double> cumulative;
    };

    std::uint64_t seed_;
    std::int64_t last_step_ = -1;
    std::map<std::string, std::unique_ptr<data_source>> sources_;
    std::vector<resolved> phases_;
};

}  // namespace recur
