// cpu causal GQA attention, flash-style: key x query tiles, online softmax, P recomputed from lse in
// backward; no T x T matrix is stored. Not here: other masks, dropout, a decode-specialised path.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/attention.hpp>

namespace recur::cpu_detail {

/// One small product on tiles held in cache: C (+)= alpha A B with A(i, p) = a[i a_rs + p a_cs] (any
/// layout: each element is broadcast), B and C row-major, and n a multiple of `lanes`.
struct tile_args {
    std::int64_t m = 0, n = 0, k = 0;
    const float* a = nullptr;
    std::int64_t a_rs = 0, a_cs = 0;
    const float* b = nullptr;
    std::int64_t ldb = 0;
    float* c = nullptr;
    std::int64_t ldc = 0;
    float alpha = 1;
    bool accumulate = false;
};

/// The register block of tile_gemm: MR rows x NB batches of C accumulate in registers while p runs
/// over k, each step one load per batch of B and one broadcast per row of A.
template <int MR, int NB>
void tile_kernel(const tile_args& t, std::int64_t i, std::int64_t j) {
    fbatch acc[MR][NB];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int q = 0; q < NB; ++q) acc[r][q] = fbatch(0.0f);
    const std::int64_t a_rs = t.a_rs, a_cs = t.a_cs, ldb = t.ldb;
    const float* a = t.a + i * a_rs;
    const float* b = t.b + j;
    for (std::int64_t p = 0; p < t.k; ++p, a += a_cs, b += ldb) {
        fbatch bv[NB];
#pragma GCC unroll 4
        for (int q = 0; q < NB; ++q) bv[q] = fbatch::load_unaligned(b + q * lanes);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const fbatch av(a[r * a_rs]);
#pragma GCC unroll 4
            for (int q = 0; q < NB; ++q) acc[r][q] = fmadd(av, bv[q], acc[r][q]);
        }
    }
    const fbatch alpha(t.alpha);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int q = 0; q < NB; ++q) {
            float* c = t.c + (i + r) * t.ldc + j + q * lanes;
            const fbatch v = acc[r][q] * alpha;
            write(c, t.accumulate ? v + fbatch::load_unaligned(c) : v);
        }
}

inline constexpr int tile_max_rows = 8, tile_max_batches = 4;
using tile_fn = void (*)(const tile_args&, std::int64_t, std::int64_t);

template <std::size_t... I>
constexpr std::array<tile_fn, sizeof...(I)> make_tile_table(std::index_sequence<I...>) {
    return {&tile_kernel<static_cast<int>(I) / tile_max_batches + 1, static_cast<int>(I) % tile_max_batches + 1>...};
}
/// tile_table[(rows - 1) * tile_max_batches + batches - 1] is the kernel of that register block.
inline constexpr auto tile_table = make_tile_table(std::make_index_sequence<tile_max_rows * tile_max_batches>{});

/// C (+)= alpha A B over whole tiles: column panels of up to 4 batches, row blocks of 4 (8 when the
/// panel is narrow, to keep enough independent FMAs in flight).
inline void tile_gemm(const tile_args& t) {
    for (std::int64_t j = 0; j < t.n; j += tile_max_batches * lanes) {
        const int nb = static_cast<int>(std::min<std::int64_t>(tile_max_batches, (t.n - j) / lanes));
        const int rows = nb <= 2 ? 8 : 4;
        for (std::int64_t i = 0; i < t.m; i += rows) {
            const int mr = static_cast<int>(std::min<std::int64_t>(rows, t.m - i));
            tile_table[static_cast<std::size_t>((mr - 1) * tile_max_batches + nb - 1)](t, i, j);
        }
    }
}

/// The call's shape (and its addressing) with the tile sizes shared by forward and backward.
struct attention_plan : attention_shape {
    static constexpr std::int64_t key_tile = 4 * lanes;  // Bc: one register block of scores per row
    static constexpr std::int64_t query_tile = 32;       // Br
    std::int64_t d, dp, offset, tk_pad;                  // D, D rounded up to whole vectors, Tk - Tq, Tk in key tiles

    explicit attention_plan(const attention_shape& s)
        : attention_shape(s), d(s.head_dim), dp(round_up(s.head_dim, lanes)), offset(s.tk - s.tq),
          tk_pad(round_up(s.tk, key_tile)) {}

    std::int64_t q_stride() const { return heads * d; }
    std::int64_t kv_stride() const { return kv_heads * d; }

    /// Whether some query in [i0, i0 + rows) does not see every key of the tile at j0.
    bool needs_mask(std::int64_t i0, std::int64_t j0) const { return j0 + key_tile > i0 + offset + 1 || j0 + key_tile > tk; }
    /// Sets the scores of keys a query does not see (later, or past tk) to -inf: probability 0.
    void mask(float* s, std::int64_t i0, std::int64_t rows, std::int64_t j0) const {
        for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t seen = std::clamp<std::int64_t>(std::min(i0 + r + offset + 1, tk) - j0, 0, key_tile);
            std::fill(s + r * key_tile + seen, s + (r + 1) * key_tile, -std::numeric_limits<float>::infinity());
        }
    }

    /// n rows of one kv head (K or V from src) as a (d, key_tile) tile, columns n.. zero: the B
    /// operand of Q K^T and dO V^T.
    void transpose_keys(float* dst, const float* src, std::int64_t n) const {
        for (std::int64_t c0 = 0; c0 < key_tile; c0 += lanes)  // blocks of keys: short strided reads, contiguous writes
            for (std::int64_t x = 0; x < d; ++x)
                for (std::int64_t c = c0; c < c0 + lanes; ++c) dst[x * key_tile + c] = c < n ? src[c * kv_stride() + x] : 0.0f;
    }

    /// n rows `stride` apart as a row-major B operand {pointer, leading dimension}: the rows
    /// themselves when d is whole batches, else a zero-padded (n, dp) copy in scratch.
    std::pair<const float*, std::int64_t> rows(const float* src, std::int64_t stride, std::int64_t n, float* scratch) const {
        if (d == dp) return {src, stride};
        for (std::int64_t r = 0; r < n; ++r) {
            std::copy_n(src + r * stride, d, scratch + r * dp);
            std::fill(scratch + r * dp + d, scratch + (r + 1) * dp, 0.0f);
        }
        return {scratch, dp};
    }
};

struct attention_forward_tag;
struct attention_backward_tag;
struct attention_dq_tag;
struct attention_delta_tag;

}  // namespace recur::cpu_detail

namespace recur::kernels {

template <>
struct attention<cpu> {
    /// o and lse, one task per (batch, head, query tile), the latest (heaviest under the causal
    /// mask) tiles first.
    static void forward(const attention_forward_args<float>& a) {
        using namespace cpu_detail;
        const attention_plan P(a.shape);
        constexpr std::int64_t Br = attention_plan::query_tile;
        const std::int64_t q_tiles = (P.tq + Br - 1) / Br, bh = P.batch * P.heads;
        // Useful work of a task: its real query rows (decoding has one) against the keys they see.
        const std::int64_t rows = std::min(Br, P.tq), keys = P.tq == 1 ? P.tk : std::max<std::int64_t>(P.tk / 2, 1);
        const std::int64_t cost = rows * keys * P.d * 4;
        parallel_for(bh * q_tiles, cost, [&](std::int64_t task) {
            const std::int64_t qt = q_tiles - 1 - task / bh, b = (task % bh) / P.heads, h = task % P.heads;
            forward_tile(a, P, b, h, qt * Br, std::min(Br, P.tq - qt * Br));
        });
    }

    /// dq, dk, dv. Tasks are (batch, kv head, chunk of key tiles): a task owns dk and dv of its keys
    /// and sums dS K for the kv head's query heads into a dq partial. With one chunk (the usual case)
    /// the task owns those dq rows and writes them itself; with several (too few (batch, kv head)
    /// pairs to keep the threads busy) the partials are summed into dq afterwards.
    static void backward(const attention_backward_args<float>& a) {
        using namespace cpu_detail;
        const attention_plan P(a.shape);
        constexpr std::int64_t Bc = attention_plan::key_tile;
        const std::int64_t key_tiles = P.tk_pad / Bc, pairs = P.batch * P.kv_heads;
        const std::int64_t chunks =
            std::clamp<std::int64_t>((4 * omp_get_max_threads() + pairs - 1) / pairs, 1, key_tiles);
        const std::int64_t tiles_per_chunk = (key_tiles + chunks - 1) / chunks;
        const std::int64_t rows = P.group() * P.tq * P.dp;  // one dq partial: (group, tq, dp)
        float* shared = chunks > 1 ? thread_buffer<attention_dq_tag>(static_cast<std::size_t>(pairs * chunks * rows)) : nullptr;
        // dq[b, i, h] = scale * sum of the partials of (b, h's kv head), read at part(b, h, i) + c * rows.
        const auto write_dq = [&](std::int64_t b, std::int64_t i, std::int64_t h, const float* part, std::int64_t count) {
            float* out = a.dq + P.q_at(b, i, h);
            simd_for(0, P.d, [&]<class V>(std::int64_t x) {
                V sum = load<V>(part + x);
                for (std::int64_t c = 1; c < count; ++c) sum += load<V>(part + c * rows + x);
                write(out + x, V(a.scale) * sum);
            });
        };
        const std::int64_t cost = tiles_per_chunk * Bc * P.group() * std::max<std::int64_t>(P.tq / 2, 1) * P.d * 10;
        parallel_for(pairs * chunks, cost, [&](std::int64_t task) {
            const std::int64_t chunk = task / pairs, pair = task % pairs;
            const std::int64_t b = pair / P.kv_heads, kvh = pair % P.kv_heads;
            const std::int64_t t0 = chunk * tiles_per_chunk, t1 = std::min(key_tiles, t0 + tiles_per_chunk);
            float* dq_part = shared ? shared + (pair * chunks + chunk) * rows
                                    : thread_buffer<attention_dq_tag>(static_cast<std::size_t>(rows));
            std::fill(dq_part, dq_part + rows, 0.0f);
            float* delta = thread_buffer<attention_delta_tag>(static_cast<std::size_t>(P.group() * P.tq));
            row_delta(a, P, b, kvh, delta);
            for (std::int64_t kt = t0; kt < t1; ++kt) backward_key_tile(a, P, b, kvh, kt, delta, dq_part);
            if (!shared)
                for (std::int64_t g = 0; g < P.group(); ++g)
                    for (std::int64_t i = 0; i < P.tq; ++i) write_dq(b, i, kvh * P.group() + g, dq_part + (g * P.tq + i) * P.dp, 1);
        });
        if (shared)
            parallel_for(P.batch * P.tq, P.heads * P.d * chunks, [&](std::int64_t bi) {
                const std::int64_t b = bi / P.tq, i = bi % P.tq;
                for (std::int64_t h = 0; h < P.heads; ++h)
                    write_dq(b, i, h, shared + (b * P.kv_heads + h / P.group()) * chunks * rows + (h % P.group() * P.tq + i) * P.dp, chunks);
            });
    }

private:
    /// Query rows [i0, i0 + nr) of head h: online softmax over the key tiles they see. Scores are
    /// kept transposed, (keys, queries): K and V are then read in place as broadcast operands, and
    /// the running max and sum of every query are plain vertical (lane-wise) reductions.
    static void forward_tile(const attention_forward_args<float>& a, const cpu_detail::attention_plan& P,
                             std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t nr) {
        using namespace cpu_detail;
        constexpr std::int64_t Bc = attention_plan::key_tile, Br = attention_plan::query_tile;
        static_assert(Br % lanes == 0);
        const std::int64_t d = P.d, n = round_up(nr, lanes), kvh = h / P.group();  // n: queries padded to batches
        float* buf = thread_buffer<attention_forward_tag>(static_cast<std::size_t>((2 * d + Bc + 3) * Br));
        float* qt = buf;             // (d, n)   Q tile transposed, zero-padded
        float* ot = qt + d * n;      // (d, n)   unnormalised output, transposed
        float* st = ot + d * n;      // (Bc, n)  scores, then probabilities, transposed
        float* mx = st + Bc * n;     // (n)      running max per query
        float* sum = mx + n;         // (n)      running sum of exp(score - max)
        float* corr = sum + n;       // (n)      exp(old max - new max)
        const float* q = a.q + P.q_at(b, i0, h);
        std::fill(qt, qt + 2 * d * n, 0.0f);  // qt's padding and ot
        // Row by row: rows of q are H * D apart, often a power of two that crowds them into a few
        // cache sets, so each is read once, start to end.
        for (std::int64_t r = 0; r < nr; ++r)
            for (std::int64_t x = 0; x < d; ++x) qt[x * n + r] = q[r * P.q_stride() + x];
        std::fill(mx, mx + n, -std::numeric_limits<float>::infinity());
        std::fill(sum, sum + n, 0.0f);
        const std::int64_t j_end = std::min(P.tk, i0 + nr + P.offset);
        for (std::int64_t j0 = 0; j0 < j_end; j0 += Bc) {
            const std::int64_t nj = std::min(Bc, j_end - j0);
            const float *k = a.k + P.kv_at(b, j0, kvh), *v = a.v + P.kv_at(b, j0, kvh);
            tile_gemm({nj, n, d, k, P.kv_stride(), 1, qt, n, st, n, a.scale, false});  // S^T = scale K Q^T
            for (std::int64_t j = 0; j < nj; ++j) {  // key j0 + j is hidden from queries i < j0 + j - offset
                const std::int64_t hidden = std::clamp<std::int64_t>(j0 + j - P.offset - i0, 0, n);
                std::fill(st + j * n, st + j * n + hidden, -std::numeric_limits<float>::infinity());
            }
            for (std::int64_t r = 0; r < n; r += lanes) {
                fbatch m = fbatch::load_unaligned(mx + r);
                for (std::int64_t j = 0; j < nj; ++j) m = xsimd::max(m, fbatch::load_unaligned(st + j * n + r));
                fbatch total(0.0f);
                for (std::int64_t j = 0; j < nj; ++j) {
                    const fbatch p = xsimd::exp(fbatch::load_unaligned(st + j * n + r) - m);
                    write(st + j * n + r, p);
                    total += p;
                }
                const fbatch c = xsimd::exp(fbatch::load_unaligned(mx + r) - m);
                write(corr + r, c);
                write(sum + r, fmadd(fbatch::load_unaligned(sum + r), c, total));
                write(mx + r, m);
            }
            for (std::int64_t x = 0; x < d; ++x)
                for (std::int64_t r = 0; r < n; r += lanes)
                    write(ot + x * n + r, fbatch::load_unaligned(ot + x * n + r) * fbatch::load_unaligned(corr + r));
            tile_gemm({d, n, nj, v, 1, P.kv_stride(), st, n, ot, n, 1.0f, true});  // O^T += V^T P^T
        }
        for (std::int64_t r = 0; r < nr; ++r) {
            float* out = a.o + P.q_at(b, i0 + r, h);
            const float inv = 1.0f / sum[r];
            for (std::int64_t x = 0; x < d; ++x) out[x] = ot[x * n + r] * inv;
            a.lse[P.lse_at(b, h, i0 + r)] = mx[r] + std::log(sum[r]);
        }
    }

    /// delta (group, tq) = rowsum(dO * O) for the query heads of kv head kvh, each row by the fmadd
    /// sequence of the tile kernel's dO V^T (rows interleaved to overlap the chains): where O is
    /// exactly V (a query that sees one key), dP - delta is then exactly 0.
    static void row_delta(const attention_backward_args<float>& a, const cpu_detail::attention_plan& P,
                          std::int64_t b, std::int64_t kvh, float* delta) {
        using namespace cpu_detail;
        constexpr std::int64_t block = 8;
        for (std::int64_t g = 0; g < P.group(); ++g)
            for (std::int64_t i0 = 0; i0 < P.tq; i0 += block) {
                const std::int64_t n = std::min(block, P.tq - i0), at = P.q_at(b, i0, kvh * P.group() + g);
                float acc[block] = {};
                for (std::int64_t x = 0; x < P.d; ++x)
                    for (std::int64_t r = 0; r < n; ++r) {
                        const std::int64_t e = at + r * P.q_stride() + x;
                        acc[r] = fmadd(a.d_o[e], a.o[e], acc[r]);
                    }
                std::copy_n(acc, n, delta + g * P.tq + i0);
            }
    }

    /// Key tile kt of kv head kvh against every query row (of its query heads) that sees it:
    /// writes dk and dv of those keys and adds dS K into dq_part (group, tq, dp), unscaled.
    static void backward_key_tile(const attention_backward_args<float>& a, const cpu_detail::attention_plan& P,
                                  std::int64_t b, std::int64_t kvh, std::int64_t key_tile, const float* delta,
                                  float* dq_part) {
        using namespace cpu_detail;
        constexpr std::int64_t Bc = attention_plan::key_tile, Br = attention_plan::query_tile;
        const std::int64_t d = P.d, dp = P.dp, j0 = key_tile * Bc, nj = std::min(Bc, P.tk - j0);
        const std::size_t size = static_cast<std::size_t>(2 * d * Bc + 3 * Bc * dp + 2 * Br * dp + 2 * Br * Bc);
        float* buf = thread_buffer<attention_backward_tag>(size);
        float* kt = buf;               // (d, Bc)  K tile transposed
        float* vt = kt + d * Bc;       // (d, Bc)  V tile transposed
        float* kp = vt + d * Bc;       // (Bc, dp) K tile, when rows need padding
        float* dk = kp + Bc * dp;      // (Bc, dp) dK accumulator (unscaled)
        float* dv = dk + Bc * dp;      // (Bc, dp) dV accumulator
        float* qp = dv + Bc * dp;      // (Br, dp) Q rows, when rows need padding
        float* dop = qp + Br * dp;     // (Br, dp) dO rows, when rows need padding
        float* p = dop + Br * dp;      // (Br, Bc) probabilities
        float* ds = p + Br * Bc;       // (Br, Bc) dP, then dS
        const float* k = a.k + P.kv_at(b, j0, kvh);
        P.transpose_keys(kt, k, nj);
        P.transpose_keys(vt, a.v + P.kv_at(b, j0, kvh), nj);
        const auto [kr, ldk] = P.rows(k, P.kv_stride(), nj, kp);
        std::fill(dk, dk + 2 * Bc * dp, 0.0f);
        const std::int64_t i_start = std::max<std::int64_t>(0, j0 - P.offset);  // first query that sees key j0
        for (std::int64_t g = 0; g < P.group(); ++g) {
            const std::int64_t h = kvh * P.group() + g;
            for (std::int64_t i0 = i_start; i0 < P.tq; i0 += Br) {
                const std::int64_t nr = std::min(Br, P.tq - i0), at = P.q_at(b, i0, h);
                // The keys some row of this query tile sees: ne of them, nb in whole batches. On the
                // diagonal that is part of the tile; the rest has P = 0 and dS = 0, so it is skipped.
                const std::int64_t ne = std::min(nj, i0 + nr + P.offset - j0), nb = round_up(ne, lanes);
                const auto [q, ldq] = P.rows(a.q + at, P.q_stride(), nr, qp);
                const auto [d_o, ldo] = P.rows(a.d_o + at, P.q_stride(), nr, dop);
                const float *lse = a.lse + P.lse_at(b, h, i0), *dl = delta + g * P.tq + i0;
                tile_gemm({nr, nb, d, q, ldq, 1, kt, Bc, p, Bc, a.scale, false});     // S = scale Q K^T
                if (P.needs_mask(i0, j0)) P.mask(p, i0, nr, j0);
                for (std::int64_t r = 0; r < nr; ++r)                                  // P = exp(S - lse)
                    for (std::int64_t j = r * Bc; j < r * Bc + nb; j += lanes)
                        write(p + j, xsimd::exp(fbatch::load_unaligned(p + j) - fbatch(lse[r])));
                tile_gemm({nr, nb, d, d_o, ldo, 1, vt, Bc, ds, Bc, 1.0f, false});     // dP = dO V^T
                tile_gemm({ne, dp, nr, p, 1, Bc, d_o, ldo, dv, dp, 1.0f, true});      // dV += P^T dO
                for (std::int64_t r = 0; r < nr; ++r)                                  // dS = P (dP - delta)
                    for (std::int64_t j = r * Bc; j < r * Bc + nb; j += lanes)
                        write(ds + j, fbatch::load_unaligned(p + j) * (fbatch::load_unaligned(ds + j) - fbatch(dl[r])));
                tile_gemm({ne, dp, nr, ds, 1, Bc, q, ldq, dk, dp, 1.0f, true});       // dK += dS^T Q
                tile_gemm({nr, dp, ne, ds, Bc, 1, kr, ldk, dq_part + (g * P.tq + i0) * dp, dp, 1.0f, true});  // dQ += dS K
            }
        }
        for (std::int64_t c = 0; c < nj; ++c) {
            float* dk_out = a.dk + P.kv_at(b, j0 + c, kvh);
            float* dv_out = a.dv + P.kv_at(b, j0 + c, kvh);
            const float *dk_row = dk + c * dp, *dv_row = dv + c * dp;
            simd_for(0, d, [&]<class V>(std::int64_t x) {
                write(dk_out + x, V(a.scale) * load<V>(dk_row + x));
                write(dv_out + x, load<V>(dv_row + x));
            });
        }
    }
};

}  // namespace recur::kernels
