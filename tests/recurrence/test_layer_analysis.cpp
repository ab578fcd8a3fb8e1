// Layer analysis: BI, angular distance and relative change against an independent host computation,
// an exact identity layer, stories260K on its reference ids, suggest_split as tables on synthetic
// reports, JSON and the printed table, bad inputs. Not here: timings (benchmarks/).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <numbers>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/io/llama2c.hpp>
#include <recur/recurrence/layer_analysis.hpp>
#include "support/shared_data.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;

namespace {

model_config tiny_config(std::int64_t layers) {
    return test::tiny_config({.vocab = 13, .layers = layers, .seq = 16});
}

std::vector<std::int32_t> random_ids(std::size_t n, std::int64_t vocab, std::uint64_t seed) {
    rng gen(seed);
    std::vector<std::int32_t> ids(n);
    for (auto& x : ids) x = static_cast<std::int32_t>(gen.next() % static_cast<std::uint64_t>(vocab));
    return ids;
}

/// The same statistics computed independently: block forwards called here, then per-token cosines
/// in double from separately taken norms.
struct host_stats {
    std::vector<double> bi, angular, change;
    std::vector<std::vector<double>> distance;
};

host_stats host_analysis(const LlamaModel<reference>& m, const std::vector<std::int32_t>& ids, std::int64_t T,
                         std::int64_t windows) {
    const auto L = m.layers.blocks.size();
    const auto C = static_cast<std::size_t>(m.config.d_model);
    host_stats s{std::vector<double>(L), std::vector<double>(L), std::vector<double>(L),
                 std::vector<std::vector<double>>(L + 1, std::vector<double>(L + 1))};
    const no_grad off;
    for (std::int64_t w = 0; w < windows; ++w) {
        const std::vector<std::int32_t> window(ids.begin() + w * T, ids.begin() + (w + 1) * T);
        Tensor<reference> x = m.embed_tokens.forward(Tensor<reference>::from_host(window, {1, T}));
        std::vector<std::vector<double>> h{x.to_host<double>()};
        for (const auto& b : m.layers.blocks) {
            x = b.forward(x, 0);
            h.push_back(x.to_host<double>());
        }
        for (std::int64_t t = 0; t < T; ++t) {
            auto vec = [&](std::size_t i) {
                return std::vector<double>(h[i].begin() + t * static_cast<std::int64_t>(C),
                                           h[i].begin() + (t + 1) * static_cast<std::int64_t>(C));
            };
            auto cos = [&](const std::vector<double>& a, const std::vector<double>& b) {
                const double na = std::sqrt(std::inner_product(a.begin(), a.end(), a.begin(), 0.0));
                const double nb = std::sqrt(std::inner_product(b.begin(), b.end(), b.begin(), 0.0));
                return std::clamp(std::inner_product(a.begin(), a.end(), b.begin(), 0.0) / (na * nb), -1.0, 1.0);
            };
            for (std::size_t i = 0; i <= L; ++i)
                for (std::size_t j = 0; j <= L; ++j)
                    if (i != j) s.distance[i][j] += std::acos(cos(vec(i), vec(j))) / std::numbers::pi;
            for (std::size_t l = 0; l < L; ++l) {
                const auto a = vec(l), b = vec(l + 1);
                s.bi[l] += 1 - cos(a, b);
                s.angular[l] += std::acos(cos(a, b)) / std::numbers::pi;
                double d = 0, n = 0;
                for (std::size_t k = 0; k < C; ++k) d += (b[k] - a[k]) * (b[k] - a[k]), n += a[k] * a[k];
                s.change[l] += std::sqrt(d) / std::sqrt(n);
            }
        }
    }
    const auto tokens = static_cast<double>(windows * T);
    for (auto* v : {&s.bi, &s.angular, &s.change})
        for (auto& x : *v) x /= tokens;
    for (auto& row : s.distance)
        for (auto& x : row) x /= tokens;
    return s;
}

/// A report whose layer l moves the state by angular[l] and whose distances add along the path.
layer_report additive_report(const std::vector<double>& angular) {
    layer_report r;
    const auto n = angular.size() + 1;
    r.distance.assign(n, std::vector<double>(n));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j)
            r.distance[i][j] = r.distance[j][i] =
                std::accumulate(angular.begin() + static_cast<std::ptrdiff_t>(i),
                                angular.begin() + static_cast<std::ptrdiff_t>(j), 0.0);
    for (std::size_t l = 0; l < angular.size(); ++l)
        r.layers.push_back({static_cast<std::int64_t>(l), angular[l], angular[l], angular[l]});
    r.tokens = r.seq_len = 8;
    r.windows = 1;
    return r;
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {  // [first, last]
    std::vector<std::int64_t> v;
    for (std::int64_t i = first; i <= last; ++i) v.push_back(i);
    return v;
}

void check_split(const surgery_spec& s, const std::vector<std::int64_t>& prelude, const std::vector<std::int64_t>& core,
                 const std::vector<std::int64_t>& coda) {
    CHECK(s.prelude == prelude);
    CHECK(s.core == core);
    CHECK(s.coda == coda);
}

}  // namespace

TEST_CASE("BI, angular distance, relative change and all pair distances equal an independent host computation",
          "[recurrence][analysis]") {
    const LlamaModel<reference> m(tiny_config(4), 11);
    const auto ids = random_ids(23, 13, 5);
    SECTION("every whole window (4 of 5 tokens, 3 ids left out)") {
        const auto r = analyze_layers(m, ids, {.seq_len = 5, .max_tokens = 100});
        CHECK(r.tokens == 20);
        CHECK(r.windows == 4);
        CHECK(r.seq_len == 5);
        const auto want = host_analysis(m, ids, 5, 4);
        REQUIRE(r.layers.size() == 4);
        for (std::size_t l = 0; l < 4; ++l) {
            INFO("layer " << l);
            CHECK(r.layers[l].layer == static_cast<std::int64_t>(l));
            CHECK(r.layers[l].block_influence == Approx(want.bi[l]).margin(1e-10));
            CHECK(r.layers[l].angular_distance == Approx(want.angular[l]).margin(1e-10));
            CHECK(r.layers[l].relative_change == Approx(want.change[l]).margin(1e-10));
            CHECK(r.layers[l].block_influence > 1e-3);
        }
        REQUIRE(r.distance.size() == 5);
        for (std::size_t i = 0; i < 5; ++i)
            for (std::size_t j = 0; j < 5; ++j) CHECK(r.distance[i][j] == Approx(want.distance[i][j]).margin(1e-10));
    }
    SECTION("max_tokens caps the windows") {
        const auto r = analyze_layers(m, ids, {.seq_len = 5, .max_tokens = 12});
        CHECK(r.windows == 2);
        CHECK(r.tokens == 10);
        const auto want = host_analysis(m, ids, 5, 2);
        for (std::size_t l = 0; l < 4; ++l) CHECK(r.layers[l].block_influence == Approx(want.bi[l]).margin(1e-10));
    }
}

TEST_CASE("a layer made an exact identity has BI 0 and angular distance 0, and suggest_split drops it",
          "[recurrence][analysis]") {
    LlamaModel<reference> m(tiny_config(6), 3);
    auto& b = m.layers.blocks[3];
    b.self_attn.o_proj.weight.fill_(0.0);  // attention adds nothing to the residual
    b.mlp.down_proj.weight.fill_(0.0);     // nor does the MLP
    const auto r = analyze_layers(m, random_ids(24, 13, 9), {.seq_len = 8});
    CHECK(r.layers[3].block_influence == 0.0);
    CHECK(r.layers[3].angular_distance == 0.0);
    CHECK(r.layers[3].relative_change == 0.0);
    CHECK(r.distance[3][4] == 0.0);
    for (const std::size_t l : {0u, 1u, 2u, 4u, 5u}) CHECK(r.layers[l].block_influence > 1e-3);
    // One layer dropped (keep 5 of 6) with a one-layer core: prelude 1..3 layers are allowed.
    check_split(suggest_split(r, 1, {.keep = 5}), {0, 1, 2}, {4}, {5});
}

TEST_CASE("stories260K on its reference ids gives BI in [0, 2] and angular distance in [0, 1]",
          "[recurrence][analysis][data]") {
    const std::string dir = RECUR_SHARED_DATA;
    const auto ids = test::read_json_file(dir + "/stories260K_reference.json")["encode_ids"].get<std::vector<std::int32_t>>();
    const auto m = load_llama2c<cpu>(dir + "/stories260K.bin");
    const auto r = analyze_layers(m, ids, {.seq_len = 256});
    CHECK(r.windows == static_cast<std::int64_t>(ids.size()) / 256);
    CHECK(r.tokens == r.windows * 256);
    REQUIRE(r.layers.size() == 5);
    for (const auto& s : r.layers) {
        INFO("layer " << s.layer);
        CHECK(std::isfinite(s.block_influence));
        CHECK(std::isfinite(s.angular_distance));
        CHECK(std::isfinite(s.relative_change));
        CHECK(s.block_influence >= 0.0);
        CHECK(s.block_influence <= 2.0);
        CHECK(s.angular_distance >= 0.0);
        CHECK(s.angular_distance <= 1.0);
        CHECK(s.relative_change >= 0.0);
    }
    const auto split = suggest_split(r, 2);  // keep 4 of 5
    CHECK(split.core.size() == 2);
    CHECK(split.prelude.size() + split.coda.size() == 2);
}

TEST_CASE("suggest_split drops the block whose removal moves the core's input least", "[recurrence][split]") {
    SECTION("the lowest-distance contiguous drop") {
        // keep 7 of 10 with core 3: p in [1, 3]; dropping 3-5 costs 0.15, 2-4 0.29, 1-3 0.55.
        const auto r = additive_report({.5, .3, .2, .05, .04, .06, .2, .3, .1, .6});
        check_split(suggest_split(r, 3, {.keep = 7}), {0, 1, 2}, {6, 7, 8}, {9});
    }
    SECTION("default keep is twice the core: a dip at 4-9 of 22 gives TinyLlama's split") {
        std::vector<double> a(22, 0.2);
        for (std::size_t l = 4; l < 10; ++l) a[l] = 0.01;
        check_split(suggest_split(additive_report(a), 8), range(0, 3), range(10, 17), range(18, 21));
    }
    SECTION("the measured seam distance, not the sum of per-layer BI") {
        // Layers 1 and 2 each move the state a lot but undo each other (h_1 ~ h_3); layers 3 and 4
        // each move it a little. A per-layer sum would drop 3-4; the seam distance drops 1-2.
        layer_report r = additive_report({.3, .4, .4, .1, .1, .3, .3});
        r.distance[1][3] = r.distance[3][1] = 0.01;
        check_split(suggest_split(r, 1, {.keep = 5}), {0}, {3}, {4, 5, 6});
    }
    SECTION("ties go to the most even prelude and coda") {
        // 10 flat layers, core 4, keep 8: p in [1, 3], all seams equal.
        check_split(suggest_split(additive_report(std::vector<double>(10, 0.1)), 4), {0, 1}, {4, 5, 6, 7}, {8, 9});
    }
    SECTION("given sizes fix the split: the published splits of docs/method.md section 3") {
        const auto flat22 = additive_report(std::vector<double>(22, 0.1));
        const auto flat16 = additive_report(std::vector<double>(16, 0.1));
        check_split(suggest_split(flat22, 8, {.prelude = 4, .coda = 4}), range(0, 3), range(10, 17), range(18, 21));
        check_split(suggest_split(flat16, 4, {.prelude = 2, .coda = 2}), range(0, 1), range(10, 13), range(14, 15));
        check_split(suggest_split(flat16, 6, {.prelude = 4, .coda = 4}), range(0, 3), range(6, 11), range(12, 15));
    }
    SECTION("one given size and keep fix the other") {
        const auto r = additive_report({.5, .01, .01, .01, .3, .3, .3, .3});
        check_split(suggest_split(r, 2, {.prelude = 1, .keep = 5}), {0}, {4, 5}, {6, 7});
        check_split(suggest_split(r, 2, {.coda = 1, .keep = 5}), {0, 1}, {5, 6}, {7});
    }
    SECTION("keep = L drops nothing; minimums of 0 allow an empty prelude and coda") {
        const auto r = additive_report({.5, .1, .1, .5});
        check_split(suggest_split(r, 2, {.keep = 4}), {0}, {1, 2}, {3});
        check_split(suggest_split(r, 4, {.prelude_min = 0, .coda_min = 0}), {}, {0, 1, 2, 3}, {});
    }
}

TEST_CASE("suggest_split rejects bad sizes and malformed reports", "[recurrence][split][errors]") {
    const auto r = additive_report(std::vector<double>(8, 0.1));
    CHECK_THROWS_WITH(suggest_split(r, 0), Contains("core_size 0 must be in [1, 8]"));
    CHECK_THROWS_WITH(suggest_split(r, 9), Contains("core_size 9"));
    CHECK_THROWS_WITH(suggest_split(r, 8), Contains("no split of 8 layers keeps 8 with core 8, prelude >= 1"));
    CHECK_THROWS_WITH(suggest_split(r, 3, {.keep = 2}), Contains("2 kept layers must be in [core 3, 8]"));
    CHECK_THROWS_WITH(suggest_split(r, 3, {.keep = 9}), Contains("9 kept layers"));
    CHECK_THROWS_WITH(suggest_split(r, 4, {.prelude = 3, .coda = 3}), Contains("10 kept layers"));
    CHECK_THROWS_WITH(suggest_split(r, 4, {.prelude = 1, .coda = 1, .keep = 7}),
                      Contains("keep 7 disagrees with prelude 1 + core 4 + coda 1 = 6"));
    CHECK_THROWS_WITH(suggest_split(r, 4, {.prelude = -2}), Contains("must be sizes >= 0 or -1"));
    CHECK_THROWS_WITH(suggest_split(r, 4, {.prelude_min = -1}), Contains("prelude_min -1"));
    CHECK_THROWS_WITH(suggest_split(r, 2, {.prelude = 5, .keep = 6}), Contains("no split"));
    CHECK_THROWS_AS(suggest_split(r, 2, {.prelude = 2, .coda = 1, .keep = 6}), error);
    layer_report bad = r;
    bad.distance.pop_back();
    CHECK_THROWS_WITH(suggest_split(bad, 2), Contains("distance has 8 rows, expected 9"));
    bad = r;
    bad.distance[4].pop_back();
    CHECK_THROWS_WITH(suggest_split(bad, 2), Contains("a distance row has 8 entries, expected 9"));
    CHECK_THROWS_WITH(suggest_split(layer_report{}, 1), Contains("no layers"));
    std::ostringstream os;
    CHECK_THROWS_WITH(print_table(os, bad, surgery_spec{{0}, {1}, {2}}), Contains("recur::print_table: a distance row"));
    CHECK_THROWS_WITH(to_json(bad, surgery_spec{{0}, {1}, {2}}), Contains("recur::to_json: a distance row"));
}

TEST_CASE("analyze_layers rejects bad windows and ids", "[recurrence][analysis][errors]") {
    const LlamaModel<reference> m(tiny_config(2), 1);
    const auto ids = random_ids(20, 13, 1);
    CHECK_THROWS_WITH(analyze_layers(m, ids, {.seq_len = 0}), Contains("seq_len 0 must be in [1, 16]"));
    CHECK_THROWS_WITH(analyze_layers(m, ids, {.seq_len = 17}), Contains("seq_len 17"));
    CHECK_THROWS_WITH(analyze_layers(m, ids, {.seq_len = 8, .max_tokens = 4}),
                      Contains("max_tokens 4 is less than one window of seq_len 8"));
    CHECK_THROWS_WITH(analyze_layers(m, std::vector<std::int32_t>(7, 1), {.seq_len = 8}),
                      Contains("one window needs seq_len 8 ids, got 7"));
    auto bad = ids;
    bad[9] = 13;
    CHECK_THROWS_WITH(analyze_layers(m, bad, {.seq_len = 5}),
                      Contains("id 13 at position 9 is outside the vocabulary [0, 13)"));
    bad[9] = -1;
    CHECK_THROWS_WITH(analyze_layers(m, bad, {.seq_len = 5}), Contains("id -1 at position 9"));
    bad[9] = 1;
    bad[17] = 99;  // past the last whole window of 8: never read
    CHECK_NOTHROW(analyze_layers(m, bad, {.seq_len = 8}));
}

TEST_CASE("to_json and print_table show every layer and the split", "[recurrence][analysis]") {
    std::vector<double> a(22, 0.2);
    for (std::size_t l = 4; l < 10; ++l) a[l] = 0.01;
    a[21] = 0.4;
    const auto r = additive_report(a);
    const auto split = suggest_split(r, 8);

    const auto j = to_json(r, split);
    CHECK(j["tokens"] == 8);
    CHECK(j["windows"] == 1);
    CHECK(j["seq_len"] == 8);
    REQUIRE(j["layers"].size() == 22);
    CHECK(j["layers"][5]["layer"] == 5);
    CHECK(j["layers"][5]["block_influence"].get<double>() == 0.01);
    CHECK(j["layers"][5]["angular_distance"].get<double>() == 0.01);
    CHECK(j["distance"].size() == 23);
    CHECK(j["split"]["prelude"] == range(0, 3));
    CHECK(j["split"]["core"] == range(10, 17));
    CHECK(j["split"]["coda"] == range(18, 21));
    CHECK(j["split"]["dropped"] == range(4, 9));
    CHECK(j["split"]["seam_distance"].get<double>() == Approx(0.06));
    CHECK_FALSE(to_json(r).contains("split"));
    CHECK_THROWS_AS(to_json(r, surgery_spec{{0}, {30}, {}}), error);

    std::ostringstream plain, with_split;
    print_table(plain, r);
    print_table(with_split, r, split);
    std::vector<std::string> lines;
    std::istringstream in(with_split.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE(lines.size() == 1 + 22 + 2);
    CHECK_THAT(lines[0], Contains("layer") && Contains("BI") && Contains("angular") && Contains("rel.change"));
    CHECK_THAT(lines[1 + 21], Contains("0.4000") && Contains("coda") && Contains(std::string(30, '#')));
    CHECK_THAT(lines[1 + 5], Contains("0.0100") && Contains("dropped"));
    CHECK(lines[1 + 5].size() == lines[1 + 4].size());  // fixed-width columns, equal bars
    CHECK_THAT(lines[23], Contains("8 tokens: 1 window of 8"));
    CHECK(lines[24] == "split: prelude 0-3, core 10-17, coda 18-21, dropped 4-9; seam distance d(h_4, h_10) = 0.0600");
    CHECK_THAT(plain.str(), !Contains("prelude") && !Contains("split"));
}
