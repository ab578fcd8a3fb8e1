// Training progress: a one-line bar redrawn in place on a terminal, plain lines otherwise, and a
// JSONL metrics log. Not here: computing the numbers (trainer.hpp).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/io/atomic_file.hpp>

namespace recur {

/// What one optimizer step reports.
struct step_metrics {
    std::int64_t step = 0;       ///< steps done after this one (1-based)
    std::int64_t total = 0;      ///< steps in the run
    double loss = 0;             ///< mean loss over the step's micro-batches
    double grad_norm = 0;        ///< global gradient norm before clipping
    double lr = 0;               ///< multiplier of the base learning rates
    std::int64_t mean_r = 0;     ///< r_bar of the curriculum
    std::int64_t n = 0, k = 0;   ///< iterations without / with gradient (last micro-batch)
    double tokens_per_s = 0;     ///< this step
    double seconds = 0;          ///< this step
    std::int64_t tokens = 0;     ///< cumulative
    double flops = 0;            ///< cumulative training FLOPs (train/flops.hpp)
    bool skipped = false;        ///< non-finite loss or gradient: no update
};

inline nlohmann::ordered_json to_json(const step_metrics& m) {
    return {{"step", m.step},       {"loss", m.loss},   {"grad_norm", m.grad_norm},
            {"lr", m.lr},           {"mean_r", m.mean_r}, {"n", m.n},
            {"k", m.k},             {"tokens_per_s", m.tokens_per_s}, {"tokens", m.tokens},
            {"flops", m.flops},     {"skipped", m.skipped}};
}

/// Prints progress to `out`: on a terminal a bar redrawn every step, otherwise one line every
/// `every` steps (and on the last). Each line: step, loss, tokens/s, mean r, n/k, lr, ETA.
class progress_printer {
public:
    explicit progress_printer(std::ostream& out = std::cout, std::int64_t every = 10, int fd = STDOUT_FILENO)
        : out_(out), every_(every < 1 ? 1 : every), tty_(::isatty(fd) == 1) {}

    void update(const step_metrics& m, double eta_seconds) {
        const bool last = m.step == m.total;
        if (!tty_ && m.step % every_ != 0 && !last && !m.skipped) return;
        std::ostringstream line;
        line << "step " << m.step << "/" << m.total;
        if (tty_) {
            constexpr int width = 20;
            const int filled = m.total > 0 ? static_cast<int>(width * m.step / m.total) : 0;
            line << " [" << std::string(static_cast<std::size_t>(filled), '#')
                 << std::string(static_cast<std::size_t>(width - filled), '.') << "]";
        }
        line << std::fixed << std::setprecision(4) << " loss " << m.loss << std::setprecision(0) << " | "
             << m.tokens_per_s << " tok/s | r " << m.mean_r << " (n " << m.n << ", k " << m.k << ")"
             << std::scientific << std::setprecision(2) << " | lr x" << m.lr << " | ETA " << format_eta(eta_seconds);
        if (m.skipped) line << " | skipped (non-finite)";
        if (tty_) {
            out_ << "\r" << line.str() << "\033[K" << (last ? "\n" : "") << std::flush;
        } else {
            out_ << line.str() << "\n" << std::flush;
        }
    }
    /// A message on its own line (a warning), not clobbered by the bar.
    void note(const std::string& text) {
        if (tty_) out_ << "\r\033[K";
        out_ << text << "\n" << std::flush;
    }

private:
    static std::string format_eta(double s) {
        if (!std::isfinite(s) || s < 0) return "?";
        const auto t = static_cast<std::int64_t>(s + 0.5);
        std::ostringstream os;
        os << t / 3600 << ":" << std::setw(2) << std::setfill('0') << (t / 60) % 60 << ":" << std::setw(2) << t % 60;
        return os.str();
    }

    std::ostream& out_;
    std::int64_t every_;
    bool tty_;
};

/// Appends one JSON line per step to a file. `truncate_after(step)` drops lines of later steps
/// (a resumed run rewrites the steps it replays).
class metrics_log {
public:
    metrics_log() = default;
    explicit metrics_log(std::filesystem::path path) : path_(std::move(path)) {}

    void truncate_after(std::int64_t step) {
        if (path_.empty() || !std::filesystem::exists(path_)) return;
        std::ifstream in(path_);
        std::vector<std::string> kept;
        for (std::string line; std::getline(in, line);) {
            try {
                const auto j = nlohmann::json::parse(line);
                if (j.value("step", std::int64_t{0}) <= step) kept.push_back(line);
            } catch (const nlohmann::json::exception&) {
                break;  // a torn last line from a crash
            }
        }
        std::string text;
        for (const auto& l : kept) text += l + "\n";
        write_file_atomically(path_, text);
    }
    void append(const step_metrics& m) {
        if (path_.empty()) return;
        std::ofstream f(path_, std::ios::app);
        if (!f) io_fail("recur::metrics_log: cannot append to '", path_.string(), "': ", std::strerror(errno));
        f << to_json(m).dump() << "\n" << std::flush;
        if (!f) io_fail("recur::metrics_log: writing to '", path_.string(), "' failed: ", std::strerror(errno));
    }

private:
    std::filesystem::path path_;
};

}  // namespace recur
