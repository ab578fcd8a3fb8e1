// The causal tile plan of the attention kernels (kernels/attention_tiles.hpp), walked on the host exactly as
// the cuda forward, dQ and dK dV kernels walk it: every visible (query, key) pair is met once by each walk,
// every other pair a tile kernel computes is masked, and the tile counts and ranges are tight.
// Not here: the kernels' numbers (tests/cuda/test_cuda.cu against the reference backend).
#include <catch2/catch.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <recur/kernels/attention_tiles.hpp>

using recur::attention_tiles;

namespace {

/// Query i sees key j: both real and j <= i + (Tk - Tq). Written out here, not taken from the plan.
bool visible(const attention_tiles& T, std::int64_t i, std::int64_t j) {
    return i >= 0 && i < T.tq && j >= 0 && j < T.tk && j <= i + (T.tk - T.tq);
}

/// Whether a tile kernel keeps the score of row `row` and key `key` of the tile pair (qt, kt), as the three
/// kernels of backends/cuda/.../attention.cuh mask it: nothing in a full() pair, else the rows past rows_in
/// and the keys past the causal diagonal.
bool kept(const attention_tiles& T, std::int64_t qt, std::int64_t kt, std::int64_t row, std::int64_t key) {
    const bool edge = !T.full(qt, kt);
    const std::int64_t nr = T.rows_in(qt), diag = qt * T.rows + T.offset() - kt * T.keys;
    return !edge || (row < nr && key <= row + diag);
}

/// Whether the tile pair (qt, kt) holds a visible pair.
bool meets(const attention_tiles& T, std::int64_t qt, std::int64_t kt) {
    for (std::int64_t i = qt * T.rows; i < (qt + 1) * T.rows; ++i)
        for (std::int64_t j = kt * T.keys; j < (kt + 1) * T.keys; ++j)
            if (visible(T, i, j)) return true;
    return false;
}

/// What is wrong with the plan, a line each (the first few), or nothing.
struct problems {
    std::vector<std::string> lines;
    template <class... A>
    void add(const A&... a) {
        if (lines.size() >= 8) return;
        std::ostringstream s;
        (s << ... << a);
        lines.push_back(s.str());
    }
    bool empty() const { return lines.empty(); }
};

std::ostream& operator<<(std::ostream& os, const problems& p) {
    for (const auto& line : p.lines) os << "\n  " << line;
    return os;
}

std::string describe(const attention_tiles& T) {
    std::ostringstream s;
    s << "Tq " << T.tq << ", Tk " << T.tk << ", tiles of " << T.rows << " rows x " << T.keys << " keys";
    return s.str();
}

/// Counts the visits of the (query, key) pair of a kept score in `count` (Tq x Tk) and flags a kept pair
/// that is not visible (padding, or past the diagonal).
void visit(const attention_tiles& T, std::int64_t qt, std::int64_t kt, std::vector<int>& count, problems& p) {
    for (std::int64_t row = 0; row < T.rows; ++row)
        for (std::int64_t key = 0; key < T.keys; ++key) {
            if (!kept(T, qt, kt, row, key)) continue;
            const std::int64_t i = qt * T.rows + row, j = kt * T.keys + key;
            if (!visible(T, i, j))
                p.add("tiles (", qt, ", ", kt, ") keep the invisible pair (", i, ", ", j, ")");
            else
                ++count[static_cast<std::size_t>(i * T.tk + j)];
        }
}

/// Flags every pair not visited exactly once when visible (invisible ones are flagged by visit).
void covered_once(const attention_tiles& T, const std::vector<int>& count, const char* walk, problems& p) {
    for (std::int64_t i = 0; i < T.tq; ++i)
        for (std::int64_t j = 0; j < T.tk; ++j) {
            const int n = count[static_cast<std::size_t>(i * T.tk + j)];
            if (visible(T, i, j) && n != 1) p.add(walk, ": visible pair (", i, ", ", j, ") met ", n, " times");
        }
}

/// The forward and dQ kernels: one block per query tile (blockIdx.x from the last tile down), each walking
/// key tiles [0, key_tile_end(qt)) and, in each, the key columns [0, nj) of its P or dS with
/// nj = min(key_end(qt) - j0, keys); columns past nj are read as zero, so no kept score may lie there.
problems query_walk(const attention_tiles& T) {
    problems p;
    std::vector<int> count(static_cast<std::size_t>(T.tq * T.tk), 0);
    for (std::int64_t block = 0; block < T.query_tiles(); ++block) {
        const std::int64_t qt = T.query_tiles() - 1 - block;
        const std::int64_t key_end = T.key_end(qt), kt_end = T.key_tile_end(qt);
        if (kt_end < 1 || kt_end > T.key_tiles())
            p.add("query tile ", qt, ": key_tile_end ", kt_end, " outside [1, ", T.key_tiles(), "]");
        if (!meets(T, qt, 0)) p.add("query tile ", qt, " sees nothing of key tile 0");
        if (kt_end >= 1 && !meets(T, qt, kt_end - 1))
            p.add("query tile ", qt, ": its last key tile ", kt_end - 1, " holds no visible pair");
        for (std::int64_t kt = 0; kt < kt_end; ++kt) {
            const std::int64_t j0 = kt * T.keys;
            const std::int64_t nj = key_end - j0 < T.keys ? key_end - j0 : T.keys;
            if (nj < 1 || nj > T.keys_in(kt))
                p.add("tiles (", qt, ", ", kt, "): nj ", nj, " outside [1, keys_in ", T.keys_in(kt), "]");
            for (std::int64_t row = 0; row < T.rows; ++row)
                for (std::int64_t key = nj; key < T.keys; ++key)
                    if (kept(T, qt, kt, row, key))
                        p.add("tiles (", qt, ", ", kt, ") keep key ", j0 + key, " past nj = ", nj);
            visit(T, qt, kt, count, p);
        }
    }
    covered_once(T, count, "forward / dQ walk", p);
    return p;
}

/// The dK dV kernel: one block per key tile, each walking query tiles [first_query_tile(kt), query_tiles()).
problems key_walk(const attention_tiles& T) {
    problems p;
    std::vector<int> count(static_cast<std::size_t>(T.tq * T.tk), 0);
    for (std::int64_t kt = 0; kt < T.key_tiles(); ++kt) {
        const std::int64_t first = T.first_query_tile(kt), last = T.query_tiles() - 1;
        if (first < 0 || first > last)
            p.add("key tile ", kt, ": first_query_tile ", first, " outside [0, ", last, "]");
        else {
            if (!meets(T, first, kt))
                p.add("key tile ", kt, ": its first query tile ", first, " holds no visible pair");
            if (!meets(T, last, kt)) p.add("key tile ", kt, ": the last query tile holds no visible pair");
        }
        for (std::int64_t qt = first; qt < T.query_tiles(); ++qt) visit(T, qt, kt, count, p);
    }
    covered_once(T, count, "dK dV walk", p);
    return p;
}

/// Tile counts, partial tiles, sees() and full() against their definitions.
problems counts_and_masks(const attention_tiles& T) {
    problems p;
    std::int64_t qn = 0, kn = 0, rows = 0, keys = 0;
    while (qn * T.rows < T.tq) ++qn;
    while (kn * T.keys < T.tk) ++kn;
    if (T.query_tiles() != qn) p.add("query_tiles ", T.query_tiles(), ", want ", qn);
    if (T.key_tiles() != kn) p.add("key_tiles ", T.key_tiles(), ", want ", kn);
    if (T.offset() != T.tk - T.tq) p.add("offset ", T.offset(), ", want ", T.tk - T.tq);
    for (std::int64_t qt = 0; qt < qn; ++qt) {
        const std::int64_t want = qt + 1 < qn ? T.rows : T.tq - qt * T.rows;
        if (T.rows_in(qt) != want) p.add("rows_in(", qt, ") ", T.rows_in(qt), ", want ", want);
        rows += T.rows_in(qt);
    }
    for (std::int64_t kt = 0; kt < kn; ++kt) {
        const std::int64_t want = kt + 1 < kn ? T.keys : T.tk - kt * T.keys;
        if (T.keys_in(kt) != want) p.add("keys_in(", kt, ") ", T.keys_in(kt), ", want ", want);
        keys += T.keys_in(kt);
    }
    if (rows != T.tq || keys != T.tk) p.add("the tiles hold ", rows, " queries and ", keys, " keys");
    for (std::int64_t i = -1; i <= T.tq; ++i)
        for (std::int64_t j = -1; j <= T.tk; ++j)
            if (T.sees(i, j) != visible(T, i, j)) p.add("sees(", i, ", ", j, ") is ", T.sees(i, j));
    for (std::int64_t qt = 0; qt < qn; ++qt) {
        // key_end: one past the last key the tile's last real query sees.
        const std::int64_t last = qt * T.rows + T.rows_in(qt) - 1;
        if (T.key_end(qt) != last + T.tk - T.tq + 1) p.add("key_end(", qt, ") ", T.key_end(qt));
        for (std::int64_t kt = 0; kt < kn; ++kt) {
            bool all = true;  // every pair of the padded tiles is real and visible: the kernels mask nothing
            for (std::int64_t i = qt * T.rows; i < (qt + 1) * T.rows; ++i)
                for (std::int64_t j = kt * T.keys; j < (kt + 1) * T.keys; ++j) all = all && visible(T, i, j);
            if (T.full(qt, kt) != all) p.add("full(", qt, ", ", kt, ") is ", T.full(qt, kt), ", want ", all);
        }
    }
    return p;
}

/// Every (Tq, Tk, rows, keys) the plan is checked on: Tq = 1, odd and even Tq, Tk = Tq and Tk > Tq by a
/// little and by more than a tile, the kernels' tile sizes (16, 32, 64), odd tile sizes, and tiles larger
/// than the whole sequence.
std::vector<attention_tiles> plans() {
    std::vector<std::int64_t> tqs;
    for (std::int64_t tq = 1; tq <= 20; ++tq) tqs.push_back(tq);
    for (std::int64_t tq : {31, 33, 47, 63, 64, 65, 70, 97, 128, 129}) tqs.push_back(tq);
    const std::int64_t extras[] = {0, 1, 2, 3, 15, 17, 64, 100};
    const std::int64_t sizes[] = {1, 2, 3, 5, 7, 16, 32, 64, 200};
    std::vector<attention_tiles> out;
    for (std::int64_t tq : tqs)
        for (std::int64_t extra : extras)
            for (std::int64_t rows : sizes)
                for (std::int64_t keys : sizes) out.push_back({tq, tq + extra, rows, keys});
    for (std::int64_t extra : {0, 3, 250})  // a longer sequence on the kernels' tile shapes
        for (std::int64_t rows : {16, 32, 64})
            for (std::int64_t keys : {32, 64}) out.push_back({257, 257 + extra, rows, keys});
    return out;
}

}  // namespace

// A worked example, checked at compile time (the plan is constexpr on the host as on the device): Tq 5,
// Tk 9, offset 4, query tiles of 2 (2, 2, 1 rows), key tiles of 4 (4, 4, 1 keys).
constexpr attention_tiles example{5, 9, 2, 4};
static_assert(example.offset() == 4 && example.query_tiles() == 3 && example.key_tiles() == 3);
static_assert(example.rows_in(1) == 2 && example.rows_in(2) == 1 && example.keys_in(1) == 4 && example.keys_in(2) == 1);
static_assert(example.key_end(0) == 6 && example.key_tile_end(0) == 2);
static_assert(example.key_end(2) == 9 && example.key_tile_end(2) == 3);
static_assert(example.first_query_tile(0) == 0 && example.first_query_tile(1) == 0 && example.first_query_tile(2) == 2);
static_assert(example.full(0, 0) && !example.full(0, 1) && !example.full(1, 1));
static_assert(!example.full(2, 0));  // the last query tile is partial
static_assert(example.sees(0, 4) && !example.sees(0, 5) && example.sees(4, 8));

TEST_CASE("attention tile plan: counts, partial tiles, sees and full match their definitions", "[attention][tiles]") {
    for (const attention_tiles& T : plans()) {
        const problems p = counts_and_masks(T);
        INFO(describe(T) << p);
        CHECK(p.empty());
    }
}

TEST_CASE("attention tile plan: the forward / dQ walk meets each visible pair once and masks every other",
          "[attention][tiles]") {
    for (const attention_tiles& T : plans()) {
        const problems p = query_walk(T);
        INFO(describe(T) << p);
        CHECK(p.empty());
    }
}

TEST_CASE("attention tile plan: the dK dV walk meets each visible pair once and masks every other",
          "[attention][tiles]") {
    for (const attention_tiles& T : plans()) {
        const problems p = key_walk(T);
        INFO(describe(T) << p);
        CHECK(p.empty());
    }
}
