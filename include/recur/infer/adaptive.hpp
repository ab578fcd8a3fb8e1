// Adaptive per-token compute: when a recurrent decoder may stop iterating a token (docs/method.md section 11),
// judged from successive next-token distributions or latent states. Not here: the decoding loop (decoder.hpp).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <recur/core/error.hpp>

namespace recur {

/// The quantity an exit rule watches between iterations i - 1 and i.
enum class exit_criterion {
    none,     ///< always run the maximum
    kl,       ///< KL(p_i || p_{i-1}) < threshold
    entropy,  ///< |H(p_i) - H(p_{i-1})| < threshold
    latent,   ///< ||s_i - s_{i-1}|| / ||s_i|| < threshold
    argmax,   ///< argmax p unchanged for `threshold` successive iterations
};

/// An exit rule: "none", "kl:5e-4", "entropy:1e-3", "latent:0.03" or "argmax:5" in text.
struct exit_options {
    exit_criterion criterion = exit_criterion::none;
    double threshold = 0;
    std::int64_t min_iterations = 1;  ///< no exit before this many iterations

    static exit_options parse(std::string_view text) {
        if (text == "none") return {};
        const auto colon = text.find(':');
        const std::string_view kind = text.substr(0, colon);
        exit_options o;
        if (kind == "kl") o.criterion = exit_criterion::kl;
        else if (kind == "entropy") o.criterion = exit_criterion::entropy;
        else if (kind == "latent") o.criterion = exit_criterion::latent;
        else if (kind == "argmax") o.criterion = exit_criterion::argmax;
        else fail("recur::exit_options: '", text, "' is not none, kl:T, entropy:T, latent:T or argmax:K");
        check(colon != std::string_view::npos, "recur::exit_options: '", text, "' needs a threshold after ':'");
        const std::string value(text.substr(colon + 1));
        std::size_t used = 0;
        try {
            o.threshold = std::stod(value, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        check(used == value.size() && !value.empty(), "recur::exit_options: '", value, "' in '", text,
              "' is not a number");
        o.validate();
        return o;
    }
    void validate() const {
        check(std::isfinite(threshold) && threshold >= 0, "recur::exit_options: threshold must be finite and >= 0, got ",
              threshold);
        check(criterion != exit_criterion::argmax || (threshold >= 1 && threshold == std::floor(threshold)),
              "recur::exit_options: argmax needs a whole number of iterations >= 1, got ", threshold);
        check(min_iterations >= 1, "recur::exit_options: min_iterations must be >= 1, got ", min_iterations);
    }
    /// Whether the rule reads next-token distributions (so every iteration needs the coda and head).
    bool needs_logits() const {
        return criterion == exit_criterion::kl || criterion == exit_criterion::entropy || criterion == exit_criterion::argmax;
    }
    /// The first iteration at which the rule can hold: two distributions for kl and entropy, K + 1
    /// for argmax:K, one state change for latent, and never below min_iterations.
    std::int64_t earliest_exit() const {
        std::int64_t need = 1;
        if (criterion == exit_criterion::kl || criterion == exit_criterion::entropy) need = 2;
        if (criterion == exit_criterion::argmax) need = static_cast<std::int64_t>(threshold) + 1;
        return std::max(need, min_iterations);
    }
    std::string name() const {
        switch (criterion) {
            case exit_criterion::none: return "none";
            case exit_criterion::kl: return "kl:" + format_threshold();
            case exit_criterion::entropy: return "entropy:" + format_threshold();
            case exit_criterion::latent: return "latent:" + format_threshold();
            case exit_criterion::argmax: break;
        }
        return "argmax:" + format_threshold();
    }

private:
    std::string format_threshold() const {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, threshold);
        return std::string(buf, r.ptr);
    }
};

/// The per-token state of one exit rule over the iterations of one token.
class exit_monitor {
public:
    exit_monitor() = default;
    explicit exit_monitor(const exit_options& o) : options_(o) {}

    /// Starts a new token.
    void reset() {
        iteration_ = 0;
        streak_ = 0;
        previous_.clear();
    }

    /// Feeds iteration i's next-token logits (empty unless options.needs_logits()) and relative latent
    /// change; returns true when the token may stop after this iteration.
    bool update(std::span<const float> logits, double latent_change) {
        ++iteration_;
        bool hold = false;
        switch (options_.criterion) {
            case exit_criterion::none: return false;
            case exit_criterion::latent: hold = latent_change < options_.threshold; break;
            case exit_criterion::kl:
            case exit_criterion::entropy:
            case exit_criterion::argmax: hold = update_distribution(logits); break;
        }
        return hold && iteration_ >= options_.earliest_exit();
    }

    /// The last value compared against the threshold (KL, entropy change; NaN before two iterations).
    double last_value() const { return last_; }

private:
    bool update_distribution(std::span<const float> logits) {
        check(!logits.empty(), "recur::exit_monitor: the ", options_.name(), " rule needs logits");
        // log-softmax in double
        current_.assign(logits.begin(), logits.end());
        const double top = *std::max_element(current_.begin(), current_.end());
        double z = 0;
        for (const double x : current_) z += std::exp(x - top);
        const double log_z = top + std::log(z);
        for (double& x : current_) x -= log_z;
        const auto arg = std::max_element(current_.begin(), current_.end()) - current_.begin();
        bool hold = false;
        if (!previous_.empty()) {
            check(previous_.size() == current_.size(), "recur::exit_monitor: vocabulary changed between iterations");
            switch (options_.criterion) {
                case exit_criterion::kl: {
                    double kl = 0;
                    for (std::size_t j = 0; j < current_.size(); ++j)
                        if (std::isfinite(current_[j])) kl += std::exp(current_[j]) * (current_[j] - previous_[j]);
                    last_ = kl;
                    hold = kl < options_.threshold;
                    break;
                }
                case exit_criterion::entropy:
                    last_ = std::abs(entropy(current_) - entropy(previous_));
                    hold = last_ < options_.threshold;
                    break;
                default:
                    streak_ = arg == previous_argmax_ ? streak_ + 1 : 0;
                    last_ = static_cast<double>(streak_);
                    hold = static_cast<double>(streak_) >= options_.threshold;
            }
        }
        previous_argmax_ = arg;
        previous_.swap(current_);
        return hold;
    }
    static double entropy(const std::vector<double>& logp) {
        double h = 0;
        for (const double x : logp)
            if (std::isfinite(x)) h -= std::exp(x) * x;
        return h;
    }

    exit_options options_;
    std::int64_t iteration_ = 0, streak_ = 0;
    std::ptrdiff_t previous_argmax_ = -1;
    double last_ = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> previous_, current_;  // log-probabilities (V)
};

}  // namespace recur
