// Layer analysis for choosing a surgery split (docs/method.md section 4): per-layer BI, angular distance and relative
// change of a LlamaModel's hidden states on calibration windows, pairwise distances, suggest_split, JSON and a table.
// Not here: the surgery (retrofit), checkpoint or token-file reading (io/). to_json needs nlohmann-json (recur::io).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <numbers>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/autograd/grad_mode.hpp>
#include <recur/core/error.hpp>
#include <recur/nn/llama.hpp>
#include <recur/recurrence/recurrent.hpp>

namespace recur {

/// How calibration ids are cut into windows: consecutive, non-overlapping slices of `seq_len` ids,
/// each run as its own sequence from position 0; a partial last window is left out.
struct analysis_options {
    std::int64_t seq_len = 256;       ///< T, tokens per window (at most the model's max_seq_len)
    std::int64_t max_tokens = 16384;  ///< read at most this many ids (whole windows only)
};

/// Statistics of layer l, which maps its input h_l to its output h_{l+1}. Every mean is over tokens
/// (each position of each window weighted equally).
struct layer_stats {
    std::int64_t layer = 0;
    double block_influence = 0;   ///< BI_l = 1 - mean cos(h_l, h_{l+1}), in [0, 2]; low = redundant
    double angular_distance = 0;  ///< mean of per-token arccos(cos(h_l, h_{l+1})) / pi, in [0, 1]
    double relative_change = 0;   ///< mean of per-token ||h_{l+1} - h_l|| / ||h_l||
};

/// What analyze_layers measured. h_0 is the embedding output, h_{l+1} the output of layer l (before
/// the final norm), for L layers.
struct layer_report {
    std::vector<layer_stats> layers;  ///< L rows, layer 0 first
    /// (L + 1, L + 1): distance[i][j] = mean of per-token arccos(cos(h_i, h_j)) / pi (symmetric, zero
    /// diagonal). distance[p][c] measures what dropping layers p..c-1 changes: the input of layer c
    /// becomes h_p instead of h_c.
    std::vector<std::vector<double>> distance;
    std::int64_t tokens = 0;   ///< tokens averaged over (windows * seq_len)
    std::int64_t windows = 0;  ///< windows run
    std::int64_t seq_len = 0;  ///< T of each window
};

namespace detail {

/// cos(a, b) from a.b, |a|^2 and |b|^2, clamped to [-1, 1]. A zero vector has cosine 1 with another
/// zero vector and 0 with any other vector.
inline double clamped_cosine(double dot, double norm2_a, double norm2_b) {
    if (norm2_a == 0 || norm2_b == 0) return norm2_a == norm2_b ? 1.0 : 0.0;
    return std::clamp(dot / std::sqrt(norm2_a * norm2_b), -1.0, 1.0);
}

template <class S>
double host_dot(const S* a, const S* b, std::int64_t n) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return s;
}

/// Running sums over tokens, in double.
struct layer_sums {
    std::vector<double> cos_next;             // (L): sum of cos(h_l, h_{l+1})
    std::vector<double> change;               // (L): sum of ||h_{l+1} - h_l|| / ||h_l||
    std::vector<std::vector<double>> angle;   // (L + 1, L + 1), i < j: sum of arccos(cos(h_i, h_j)) / pi

    explicit layer_sums(std::size_t L) : cos_next(L), change(L), angle(L + 1, std::vector<double>(L + 1)) {}

    /// Adds every token of one window: h[i] holds h_i as (T, C) row-major.
    template <class S>
    void add_window(const std::vector<std::vector<S>>& h, std::int64_t T, std::int64_t C) {
        const std::size_t n = h.size();
        std::vector<double> norm2(n);
        for (std::int64_t t = 0; t < T; ++t) {
            auto row = [&](std::size_t i) { return h[i].data() + t * C; };
            for (std::size_t i = 0; i < n; ++i) norm2[i] = host_dot(row(i), row(i), C);
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = i + 1; j < n; ++j) {
                    const double c = clamped_cosine(host_dot(row(i), row(j), C), norm2[i], norm2[j]);
                    angle[i][j] += std::acos(c) / std::numbers::pi;
                    if (j == i + 1) cos_next[i] += c;
                }
            for (std::size_t l = 0; l + 1 < n; ++l) {
                double d2 = 0;
                for (std::int64_t k = 0; k < C; ++k) {
                    const double d = static_cast<double>(row(l + 1)[k]) - static_cast<double>(row(l)[k]);
                    d2 += d * d;
                }
                // From a zero vector: no change if it stays zero, all change (1) otherwise.
                change[l] += norm2[l] == 0 ? (d2 == 0 ? 0.0 : 1.0) : std::sqrt(d2 / norm2[l]);
            }
        }
    }
};

/// "0-3", "2,5-7" (the form layer-list options parse), or "none" for increasing layer indices.
inline std::string layer_ranges(const std::vector<std::int64_t>& idx) {
    if (idx.empty()) return "none";
    std::ostringstream os;
    for (std::size_t i = 0; i < idx.size();) {
        std::size_t j = i;
        while (j + 1 < idx.size() && idx[j + 1] == idx[j] + 1) ++j;
        os << (i > 0 ? "," : "") << idx[i];
        if (j > i) os << "-" << idx[j];
        i = j + 1;
    }
    return os.str();
}

/// Layers in none of the split's parts, in [0, L).
inline std::vector<std::int64_t> dropped_layers(const surgery_spec& s, std::int64_t L) {
    std::vector<bool> kept(static_cast<std::size_t>(L));
    for (const auto* part : {&s.prelude, &s.core, &s.coda})
        for (const auto i : *part) kept.at(static_cast<std::size_t>(i)) = true;
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < L; ++i)
        if (!kept[static_cast<std::size_t>(i)]) out.push_back(i);
    return out;
}

/// Throws recur::error unless the report has layers and a (layers + 1)-square distance table.
inline void check_report(const layer_report& r, const char* who) {
    const auto n = r.layers.size() + 1;
    check(n > 1, who, ": the report has no layers");
    check(r.distance.size() == n, who, ": the report's distance has ", r.distance.size(), " rows, expected ", n,
          " (layers + 1)");
    for (const auto& row : r.distance)
        check(row.size() == n, who, ": a distance row has ", row.size(), " entries, expected ", n);
}

/// The hidden states on either side of the split's seam: the prelude's output h_p (h_0 when the
/// prelude is empty) and h_c, the input layer c = core.front() had in the source model.
inline std::pair<std::size_t, std::size_t> seam(const surgery_spec& s) {
    return {static_cast<std::size_t>(s.prelude.empty() ? 0 : s.prelude.back() + 1),
            static_cast<std::size_t>(s.core.front())};
}

}  // namespace detail

/// Runs `m` under no_grad on windows of `ids` (see analysis_options) and measures how each layer
/// changes the hidden state. Blocks are called one by one (m.layers.blocks, each window at pos0 = 0,
/// as Stack::forward does); only one window's hidden states are held at a time, on the host:
/// (L + 1) * T * d_model values of the backend's scalar.
///
/// Requires: 1 <= seq_len <= m.config.max_seq_len, min(ids.size(), max_tokens) >= seq_len, every id
/// used in [0, vocab_size); otherwise throws recur::error naming the problem.
template <Backend B, class BlockT>
layer_report analyze_layers(const LlamaModel<B, BlockT>& m, std::span<const std::int32_t> ids,
                            const analysis_options& o = {}) {
    using S = typename Tensor<B>::scalar;
    const auto L = static_cast<std::int64_t>(m.layers.size());
    const std::int64_t T = o.seq_len, C = m.config.d_model, V = m.config.vocab_size;
    check(L >= 1, "recur::analyze_layers: the model has no layers");
    check(T >= 1 && T <= m.config.max_seq_len, "recur::analyze_layers: seq_len ", T, " must be in [1, ",
          m.config.max_seq_len, "] (the model's max_seq_len)");
    check(o.max_tokens >= T, "recur::analyze_layers: max_tokens ", o.max_tokens, " is less than one window of seq_len ",
          T);
    const std::int64_t available = std::min(static_cast<std::int64_t>(ids.size()), o.max_tokens);
    const std::int64_t windows = available / T;
    check(windows >= 1, "recur::analyze_layers: one window needs seq_len ", T, " ids, got ", ids.size());
    const auto used = ids.first(static_cast<std::size_t>(windows * T));
    for (std::size_t i = 0; i < used.size(); ++i)
        check(used[i] >= 0 && used[i] < V, "recur::analyze_layers: id ", used[i], " at position ", i,
              " is outside the vocabulary [0, ", V, ")");

    const no_grad off;
    detail::layer_sums sums(static_cast<std::size_t>(L));
    std::vector<std::vector<S>> h(static_cast<std::size_t>(L + 1));  // (L + 1) x (T, C)
    for (std::int64_t w = 0; w < windows; ++w) {
        const auto window = used.subspan(static_cast<std::size_t>(w * T), static_cast<std::size_t>(T));
        Tensor<B> x = m.embed_tokens.forward(Tensor<B>::from_host(window, {1, T}));  // (1, T, C)
        h[0] = x.template to_host<S>();
        for (std::int64_t l = 0; l < L; ++l) {
            x = m.layers.blocks[static_cast<std::size_t>(l)].forward(x, 0);
            h[static_cast<std::size_t>(l + 1)] = x.template to_host<S>();
        }
        sums.add_window(h, T, C);
    }

    layer_report r;
    r.tokens = windows * T;
    r.windows = windows;
    r.seq_len = T;
    const auto n = static_cast<double>(r.tokens);
    r.distance.assign(static_cast<std::size_t>(L + 1), std::vector<double>(static_cast<std::size_t>(L + 1)));
    for (std::size_t i = 0; i <= static_cast<std::size_t>(L); ++i)
        for (std::size_t j = i + 1; j <= static_cast<std::size_t>(L); ++j)
            r.distance[i][j] = r.distance[j][i] = sums.angle[i][j] / n;
    for (std::size_t l = 0; l < static_cast<std::size_t>(L); ++l)
        r.layers.push_back({static_cast<std::int64_t>(l), 1.0 - sums.cos_next[l] / n, r.distance[l][l + 1],
                            sums.change[l] / n});
    return r;
}

/// Sizes for suggest_split. -1 leaves a size to the rule.
struct split_options {
    std::int64_t prelude = -1;     ///< exact prelude size
    std::int64_t coda = -1;        ///< exact coda size
    std::int64_t keep = -1;        ///< layers kept in all; default prelude + core + coda when both are
                                   ///< given, else 2 * core (capped at L)
    std::int64_t prelude_min = 1;  ///< smallest prelude the rule may choose
    std::int64_t coda_min = 1;     ///< smallest coda the rule may choose
};

/// Suggests which layers of the analysed model go to prelude, core and coda.
///
/// Shape (that of every published split, docs/method.md section 3): the prelude is the first p
/// layers, the coda the last q, the core the `core_size` layers just before the coda, and the
/// D = L - keep layers between prelude and core are dropped: prelude [0, p), dropped [p, c),
/// core [c, c + core_size), coda [c + core_size, L).
/// The coda keeps reading the core's output as it did in the source model; the one seam surgery
/// opens is at the core's input, which becomes h_p where it was h_c.
///
/// Rule: among the allowed p (prelude and coda sizes within their exact values or minimums, keep
/// fixed), choose the one whose seam distance distance[p][p + D] is smallest: the D-layer block
/// whose removal changes the core's input least (the criterion of Gromov et al., "The Unreasonable
/// Ineffectiveness of the Deeper Layers", 2024). For D = 1 this is the layer of lowest angular
/// distance, the angular form of lowest BI; for D > 1 it measures the whole block, including changes
/// that later layers undo, which a sum of per-layer BI would count twice. Ties go to the most even
/// prelude and coda, then to the shorter prelude.
///
/// Defaults: keep = 2 * core_size (prelude and coda together as deep as the core, as in the published
/// TinyLlama (4, 8, 4) and Llama-3.2-1B (2, 4, 2) splits), prelude and coda at least one layer each.
/// Given prelude and coda sizes fix the split completely: {prelude 4, coda 4} with core 8 on 22
/// layers gives TinyLlama's 0-3 / 10-17 / 18-21, {2, 2} with core 4 on 16 gives Llama-3.2-1B's.
/// Measured calibration distances usually fall with depth until the last layers, so a free rule
/// tends to put the dropped block late and leave a short coda; pass sizes for a balanced split.
///
/// Throws recur::error when the report is malformed, core_size is outside [1, L], a size is below
/// -1, keep disagrees with given sizes or lies outside [core_size, L], or no split fits.
inline surgery_spec suggest_split(const layer_report& r, std::int64_t core_size, const split_options& o = {}) {
    detail::check_report(r, "recur::suggest_split");
    const auto L = static_cast<std::int64_t>(r.layers.size());
    check(core_size >= 1 && core_size <= L, "recur::suggest_split: core_size ", core_size, " must be in [1, ", L,
          "] (the model's layers)");
    check(o.prelude >= -1 && o.coda >= -1 && o.keep >= -1, "recur::suggest_split: prelude ", o.prelude, ", coda ",
          o.coda, " and keep ", o.keep, " must be sizes >= 0 or -1 (chosen by the rule)");
    check(o.prelude_min >= 0 && o.coda_min >= 0, "recur::suggest_split: prelude_min ", o.prelude_min,
          " and coda_min ", o.coda_min, " must be >= 0");
    const bool both = o.prelude >= 0 && o.coda >= 0;
    std::int64_t keep = o.keep >= 0 ? o.keep : std::min(2 * core_size, L);
    if (both) {
        const std::int64_t sizes = o.prelude + core_size + o.coda;
        check(o.keep < 0 || o.keep == sizes, "recur::suggest_split: keep ", o.keep, " disagrees with prelude ",
              o.prelude, " + core ", core_size, " + coda ", o.coda, " = ", sizes);
        keep = sizes;
    }
    check(keep >= core_size && keep <= L, "recur::suggest_split: ", keep, " kept layers must be in [core ", core_size,
          ", ", L, "]");
    const std::int64_t drop = L - keep, ends = keep - core_size;  // ends = p + q
    std::int64_t lo = o.prelude >= 0 ? o.prelude : o.prelude_min;
    std::int64_t hi = o.prelude >= 0 ? o.prelude : ends - (o.coda >= 0 ? o.coda : o.coda_min);
    if (o.coda >= 0) {
        lo = std::max(lo, ends - o.coda);
        hi = std::min(hi, ends - o.coda);
    }
    check(lo <= hi && lo >= 0 && hi <= ends, "recur::suggest_split: no split of ", L, " layers keeps ", keep,
          " with core ", core_size, ", prelude ", o.prelude >= 0 ? "" : ">= ",
          o.prelude >= 0 ? o.prelude : o.prelude_min, " and coda ", o.coda >= 0 ? "" : ">= ",
          o.coda >= 0 ? o.coda : o.coda_min);
    std::int64_t best = lo;
    auto score = [&](std::int64_t p) {
        const auto q = ends - p;
        return std::tuple(r.distance[static_cast<std::size_t>(p)][static_cast<std::size_t>(p + drop)],
                          q > p ? q - p : p - q, p);
    };
    for (std::int64_t p = lo + 1; p <= hi; ++p)
        if (score(p) < score(best)) best = p;
    surgery_spec s;
    const std::int64_t c = best + drop;
    for (std::int64_t i = 0; i < L; ++i) {
        if (i < best) s.prelude.push_back(i);
        else if (i >= c && i < c + core_size) s.core.push_back(i);
        else if (i >= c + core_size) s.coda.push_back(i);
    }
    return s;
}

/// {"tokens", "windows", "seq_len", "layers": [{"layer", "block_influence", "angular_distance",
/// "relative_change"}...], "distance": (L + 1) x (L + 1)}.
inline nlohmann::json to_json(const layer_report& r) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& s : r.layers)
        rows.push_back({{"layer", s.layer},
                        {"block_influence", s.block_influence},
                        {"angular_distance", s.angular_distance},
                        {"relative_change", s.relative_change}});
    return {{"tokens", r.tokens}, {"windows", r.windows}, {"seq_len", r.seq_len}, {"layers", rows},
            {"distance", r.distance}};
}

/// to_json(r) plus "split": {"prelude", "core", "coda", "dropped" (layer lists), "seam_distance"
/// (distance[p][c] between the prelude's output h_p and the core's source input h_c; 0 when p = c)}.
inline nlohmann::json to_json(const layer_report& r, const surgery_spec& split) {
    detail::check_report(r, "recur::to_json");
    const auto L = static_cast<std::int64_t>(r.layers.size());
    split.validate(L);
    const auto [p, c] = detail::seam(split);
    nlohmann::json j = to_json(r);
    j["split"] = {{"prelude", split.prelude},
                  {"core", split.core},
                  {"coda", split.coda},
                  {"dropped", detail::dropped_layers(split, L)},
                  {"seam_distance", r.distance[p][c]}};
    return j;
}

/// One fixed-width row per layer: index, BI, angular distance, relative change, the layer's part in
/// `split` (column left out when the split is empty) and a bar of BI scaled to the largest BI.
inline void print_table(std::ostream& out, const layer_report& r, const surgery_spec& split = {}) {
    constexpr int bar_width = 30;
    const auto L = static_cast<std::int64_t>(r.layers.size());
    const bool parts = !(split.prelude.empty() && split.core.empty() && split.coda.empty());
    std::vector<std::string> part(static_cast<std::size_t>(L), "dropped");
    if (parts) {
        detail::check_report(r, "recur::print_table");
        split.validate(L);
        for (const auto i : split.prelude) part[static_cast<std::size_t>(i)] = "prelude";
        for (const auto i : split.core) part[static_cast<std::size_t>(i)] = "core";
        for (const auto i : split.coda) part[static_cast<std::size_t>(i)] = "coda";
    }
    double max_bi = 0;
    for (const auto& s : r.layers) max_bi = std::max(max_bi, s.block_influence);
    std::ostringstream os;
    os << std::setw(5) << "layer" << std::setw(10) << "BI" << std::setw(10) << "angular" << std::setw(12)
       << "rel.change" << (parts ? "  part   " : "") << "  BI (bar: largest = " << bar_width << ")\n";
    os << std::fixed << std::setprecision(4);
    for (std::size_t l = 0; l < r.layers.size(); ++l) {
        const auto& s = r.layers[l];
        const int bar = max_bi > 0 ? static_cast<int>(std::lround(bar_width * s.block_influence / max_bi)) : 0;
        os << std::setw(5) << s.layer << std::setw(10) << s.block_influence << std::setw(10) << s.angular_distance
           << std::setw(12) << s.relative_change;
        if (parts) os << "  " << std::left << std::setw(7) << part[l] << std::right;
        os << "  " << std::string(static_cast<std::size_t>(std::max(bar, 0)), '#') << "\n";
    }
    os << r.tokens << " tokens: " << r.windows << (r.windows == 1 ? " window" : " windows") << " of " << r.seq_len
       << "\n";
    if (parts) {
        const auto [p, c] = detail::seam(split);
        os << "split: prelude " << detail::layer_ranges(split.prelude) << ", core " << detail::layer_ranges(split.core)
           << ", coda " << detail::layer_ranges(split.coda) << ", dropped "
           << detail::layer_ranges(detail::dropped_layers(split, L)) << "; seam distance d(h_" << p << ", h_" << c
           << ") = " << r.distance[p][c] << "\n";
    }
    out << os.str();
}

}  // namespace recur
