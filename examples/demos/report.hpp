// What the two retrofit demos share: the results folder (results.json, gnuplot-ready .tsv series),
// the training curve collected from the trainer's step metrics, a fixed-width table, and where the
// run happened (date, CPU, threads). Not here: the demos' models, data or training plans.
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/io/atomic_file.hpp>
#include <recur/train/progress.hpp>

namespace demo {

/// One named curve: y against x (a model's metric against r, or its loss against training FLOPs).
struct series {
    std::string name;
    std::vector<double> x, y;
};

/// Writes `curves` as gnuplot data: per curve a block whose first row is the quoted name (for
/// `title columnheader(1)`), then one "x<TAB>y" row per point; blocks are separated by two blank
/// lines (gnuplot's `index i`). Atomic.
inline void write_series_tsv(const std::filesystem::path& path, const std::vector<series>& curves) {
    recur::write_file_atomically(path, [&](std::ostream& out) {
        out << std::setprecision(8);
        for (std::size_t c = 0; c < curves.size(); ++c) {
            if (c > 0) out << "\n\n";
            std::string name = curves[c].name;
            std::replace(name.begin(), name.end(), '"', '\'');
            out << '"' << name << "\"\t\"y\"\n";
            for (std::size_t i = 0; i < curves[c].x.size(); ++i) out << curves[c].x[i] << "\t" << curves[c].y[i] << "\n";
        }
    });
}

inline nlohmann::ordered_json to_json(const series& s) {
    return {{"name", s.name}, {"x", s.x}, {"y", s.y}};
}

/// A training curve: loss against cumulative training FLOPs, one point per optimizer step.
struct curve {
    std::string name;
    std::vector<recur::step_metrics> steps;

    void add(const recur::step_metrics& m) { steps.push_back(m); }
    /// Loss smoothed over a trailing window of `window` steps, against FLOPs plus `flops_offset`
    /// (the FLOPs spent before this run, e.g. pretraining), for plots.
    series smoothed(std::int64_t window = 10, double flops_offset = 0) const {
        series s{name, {}, {}};
        double sum = 0;
        for (std::size_t i = 0; i < steps.size(); ++i) {
            sum += steps[i].loss;
            if (i >= static_cast<std::size_t>(window)) sum -= steps[i - static_cast<std::size_t>(window)].loss;
            const double n = static_cast<double>(std::min<std::size_t>(i + 1, static_cast<std::size_t>(window)));
            s.x.push_back(flops_offset + steps[i].flops);
            s.y.push_back(sum / n);
        }
        return s;
    }
    nlohmann::ordered_json to_json() const {
        nlohmann::ordered_json j{{"name", name}, {"step", nlohmann::json::array()}, {"flops", nlohmann::json::array()},
                                 {"loss", nlohmann::json::array()}, {"mean_r", nlohmann::json::array()}};
        for (const auto& m : steps) {
            j["step"].push_back(m.step);
            j["flops"].push_back(m.flops);
            j["loss"].push_back(m.loss);
            j["mean_r"].push_back(m.mean_r);
        }
        return j;
    }
};

/// Wall time per phase: lap(name) records the seconds since the previous lap (or construction).
struct stopwatch {
    using clock = std::chrono::steady_clock;
    clock::time_point first = clock::now(), last = first;
    nlohmann::ordered_json laps = nlohmann::ordered_json::object();

    double lap(const std::string& name) {
        const auto now = clock::now();
        const double s = std::chrono::duration<double>(now - last).count();
        laps[name] = s;
        last = now;
        return s;
    }
    double total() const { return std::chrono::duration<double>(clock::now() - first).count(); }
};

/// Where and when the run happened: UTC date, CPU model, hardware threads, OpenMP threads.
inline nlohmann::ordered_json run_info() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::string cpu = "unknown";
    std::ifstream info("/proc/cpuinfo");
    for (std::string line; std::getline(info, line);)
        if (line.rfind("model name", 0) == 0) {
            cpu = line.substr(line.find(':') + 2);
            break;
        }
    return {{"date", date},
            {"cpu", cpu},
            {"hardware_threads", std::thread::hardware_concurrency()},
            {"omp_threads", omp_get_max_threads()}};
}

/// Writes `j` to `path` (indented, atomic) and says so.
inline void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j) {
    recur::write_file_atomically(path, j.dump(2) + "\n");
    std::cout << "wrote " << path.string() << std::endl;
}

/// A plain table: a header row and rows of cells, columns padded to their widest cell; the first
/// column left-aligned, the rest right-aligned.
inline std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width(header.size(), 0);
    auto widen = [&](const std::vector<std::string>& row) {
        for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
    };
    widen(header);
    for (const auto& r : rows) widen(r);
    std::ostringstream out;
    auto line = [&](const std::vector<std::string>& row) {
        for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
            if (i > 0) out << "  ";
            out << (i == 0 ? std::left : std::right) << std::setw(static_cast<int>(width[i])) << row[i];
        }
        out << "\n";
    };
    line(header);
    std::size_t total = 0;
    for (auto w : width) total += w + 2;
    out << std::string(total > 2 ? total - 2 : 0, '-') << "\n";
    for (const auto& r : rows) line(r);
    return out.str();
}

/// `value` with `digits` decimals.
inline std::string fixed(double value, int digits) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << value;
    return s.str();
}

/// FLOPs in engineering form ("3.2e+12").
inline std::string flops(double value) {
    std::ostringstream s;
    s << std::setprecision(2) << std::scientific << value;
    return s.str();
}

}  // namespace demo
