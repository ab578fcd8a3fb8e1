// kernels::attention for cuda: causal grouped-query attention in f32 on the SIMT cores, flash-attention-2
// style. Forward: one block per (query tile, head, batch) walks the key tiles its queries see through
// shared memory with an online softmax, O in registers. Backward: a pre-kernel for delta = rowsum(dO * O),
// then one block per (key tile, kv head, batch) for dK and dV over every query that sees those keys, and
// one per (query tile, head, batch) for dQ; P is recomputed from lse, nothing is accumulated atomically.
// Not here: a T x T matrix; tensor cores (a bf16 / tf32 mma.sync or WMMA path would replace the
// attention_dots and axpy loops of the three tile kernels, with the same tile plan); a split-KV
// (flash-decoding) path for Tq = 1 with few (batch, head) pairs; head dims above 256; other masks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include <recur/backends/cuda.hpp>
#include <recur/kernels/attention.hpp>
#include <recur/kernels/attention_tiles.hpp>

namespace recur::cuda_detail {

inline constexpr int attention_threads = 256;  // every tile kernel: a 16 x 16 grid of threads (tx, ty)
inline constexpr float attention_log2e = 1.44269504088896340736f;
inline constexpr float attention_ln2 = 0.69314718055994530942f;

/// Row stride in floats of a Q, K, V or dO tile in shared memory: 4 floats of padding keep the 8 rows a
/// quarter-warp reads as float4s at one column in 8 different bank groups (DM is a multiple of 32).
__host__ __device__ constexpr int attention_ld(int dm) { return dm + 4; }
/// Row stride of a probability tile of n columns: 16 mod 32, so the two rows a warp writes (and reads as
/// float4s) fall in opposite halves of the banks.
__host__ __device__ constexpr int attention_ldp(int n) { return (n + 31) / 32 * 32 + 16; }

/// Tile sizes of the three tile kernels for head dims up to DM (32, 64, 128 or 256), and their dynamic
/// shared memory in bytes: smaller tiles for larger DM, so every kernel fits an sm_80 block (163 KiB).
template <int DM>
struct attention_config {
    static_assert(DM == 32 || DM == 64 || DM == 128 || DM == 256, "head-dim buckets: 32, 64, 128, 256");
    static constexpr int ld = attention_ld(DM);
    static constexpr int forward_rows = DM <= 128 ? 64 : 32, forward_keys = DM <= 64 ? 64 : 32;
    static constexpr int dkv_keys = DM <= 64 ? 64 : 32, dkv_rows = DM <= 32 ? 64 : DM <= 128 ? 32 : 16;
    static constexpr int dq_rows = DM <= 64 ? 64 : DM <= 128 ? 32 : 16, dq_keys = DM <= 32 ? 64 : 32;
    // forward: Q, K (ld), V (DM), P (forward_rows x forward_keys)
    static constexpr std::size_t forward_smem =
        sizeof(float) * std::size_t(forward_rows * ld + forward_keys * ld + forward_keys * DM +
                                    forward_rows * attention_ldp(forward_keys));
    // dK dV: K, V, Q, dO (ld), P^T and dS^T (dkv_keys x dkv_rows), lse and delta of the query rows
    static constexpr std::size_t dkv_smem =
        sizeof(float) * std::size_t(2 * dkv_keys * ld + 2 * dkv_rows * ld + 2 * dkv_keys * attention_ldp(dkv_rows) +
                                    2 * dkv_rows);
    // dQ: Q, dO, K, V (ld), dS (dq_rows x dq_keys)
    static constexpr std::size_t dq_smem =
        sizeof(float) * std::size_t(2 * dq_rows * ld + 2 * dq_keys * ld + dq_rows * attention_ldp(dq_keys));
};

/// The smallest head-dim bucket holding d, or 0 above 256.
constexpr int attention_bucket(std::int64_t d) {
    return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : d <= 256 ? 256 : 0;
}

/// attention_shape with its offsets usable on the device.
struct attention_layout {
    std::int64_t batch = 0, tq = 0, tk = 0, heads = 0, kv_heads = 0, head_dim = 0;

    __host__ __device__ std::int64_t group() const { return heads / kv_heads; }
    __host__ __device__ std::int64_t q_stride() const { return heads * head_dim; }      // between query positions
    __host__ __device__ std::int64_t kv_stride() const { return kv_heads * head_dim; }  // between key positions
    __host__ __device__ std::int64_t q_at(std::int64_t b, std::int64_t t, std::int64_t h) const {
        return ((b * tq + t) * heads + h) * head_dim;
    }
    __host__ __device__ std::int64_t kv_at(std::int64_t b, std::int64_t t, std::int64_t h) const {
        return ((b * tk + t) * kv_heads + h) * head_dim;
    }
    __host__ __device__ std::int64_t lse_at(std::int64_t b, std::int64_t h, std::int64_t t) const {
        return (b * heads + h) * tq + t;
    }
};

/// The forward kernel's arguments; scores are kept in base 2 (scale_log2 = scale * log2(e)).
struct attention_forward_params {
    attention_layout layout;
    float* o;
    float* lse;
    const float* q;
    const float* k;
    const float* v;
    float scale_log2;
};

/// The backward kernels' arguments, with delta (B, H, Tq) from attention_delta_kernel.
struct attention_backward_params {
    attention_layout layout;
    float* dq;
    float* dk;
    float* dv;
    float* delta;
    const float* d_o;
    const float* q;
    const float* k;
    const float* v;
    const float* o;
    const float* lse;
    float scale, scale_log2;
};

/// The block's dynamic shared memory, as floats (16-byte aligned).
__device__ inline float* attention_shared() {
    extern __shared__ float4 attention_smem[];
    return reinterpret_cast<float*>(attention_smem);
}

/// Copies ROWS rows of `src` (rows `stride` apart, `valid` of them real, d floats each) into dst (rows LD
/// apart, DM columns), zero past d and past `valid`. Coalesced: consecutive threads take consecutive
/// floats (float4s when d is a multiple of 4 and src is 16-byte aligned) of a row.
template <int ROWS, int LD, int DM>
__device__ __forceinline__ void attention_load_tile(float* dst, const float* __restrict__ src, std::int64_t stride,
                                                    int valid, int d) {
    if ((d & 3) == 0 && (reinterpret_cast<std::uintptr_t>(src) & 15) == 0) {
        constexpr int per = DM / 4;
#pragma unroll 4
        for (int idx = static_cast<int>(threadIdx.x); idx < ROWS * per; idx += attention_threads) {
            const int r = idx / per, c = (idx - r * per) * 4;
            float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (r < valid && c < d) x = *reinterpret_cast<const float4*>(src + r * stride + c);
            *reinterpret_cast<float4*>(dst + r * LD + c) = x;
        }
    } else {
        for (int idx = static_cast<int>(threadIdx.x); idx < ROWS * DM; idx += attention_threads) {
            const int r = idx / DM, c = idx - r * DM;
            dst[r * LD + c] = r < valid && c < d ? src[r * stride + c] : 0.0f;
        }
    }
}

/// acc[r][c] = a_r . b_c over n columns (a multiple of 4), a_r = a + 16 r LD and b_c = b + 16 c LD in
/// shared memory. Each dot is one fma chain in column order, the order attention_delta_kernel uses, so
/// dO . v and delta = dO . o agree to the bit where o is v (a query that sees one key): its dS is exactly 0.
template <int R, int C, int LD>
__device__ __forceinline__ void attention_dots(float (&acc)[R][C], const float* a, const float* b, int n) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int c = 0; c < C; ++c) acc[r][c] = 0.0f;
#pragma unroll 1
    for (int x = 0; x < n; x += 4) {
        float4 av[R], bv[C];
#pragma unroll
        for (int r = 0; r < R; ++r) av[r] = *reinterpret_cast<const float4*>(a + 16 * r * LD + x);
#pragma unroll
        for (int c = 0; c < C; ++c) bv[c] = *reinterpret_cast<const float4*>(b + 16 * c * LD + x);
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
            for (int c = 0; c < C; ++c) {
                float s = acc[r][c];
                s = fmaf(av[r].x, bv[c].x, s);
                s = fmaf(av[r].y, bv[c].y, s);
                s = fmaf(av[r].z, bv[c].z, s);
                s = fmaf(av[r].w, bv[c].w, s);
                acc[r][c] = s;
            }
    }
}

/// The columns a thread owns of a DM-wide row: TD = DM / 16 of them, in NV runs of W adjacent columns
/// (float4s, or float2s for DM = 32), run v at 16 W v + W tx; a warp reading a row reads it whole.
template <int DM>
struct attention_columns {
    static constexpr int td = DM / 16, w = td < 4 ? td : 4, nv = td / w;
    __device__ static constexpr int column(int tx, int v, int e) { return 16 * w * v + w * tx + e; }
    /// Loads the thread's columns of `row` (shared memory) into x.
    __device__ static void load(float (&x)[td], const float* row, int tx) {
#pragma unroll
        for (int v = 0; v < nv; ++v) {
            const float* p = row + column(tx, v, 0);
            if constexpr (w == 4) {
                const float4 t = *reinterpret_cast<const float4*>(p);
                x[4 * v] = t.x, x[4 * v + 1] = t.y, x[4 * v + 2] = t.z, x[4 * v + 3] = t.w;
            } else if constexpr (w == 2) {
                const float2 t = *reinterpret_cast<const float2*>(p);
                x[2 * v] = t.x, x[2 * v + 1] = t.y;
            } else {
                x[v] = p[0];
            }
        }
    }
    /// Stores scale * x to the thread's columns below d of `out` (global memory).
    __device__ static void store(float* out, const float (&x)[td], float scale, int tx, int d) {
#pragma unroll
        for (int v = 0; v < nv; ++v)
#pragma unroll
            for (int e = 0; e < w; ++e) {
                const int col = column(tx, v, e);
                if (col < d) out[col] = scale * x[w * v + e];
            }
    }
};

/// acc[r] += sum over j < nj of w[row r][j] x_j, for the thread's TM rows (ty + 16 r) and its columns of
/// the DM-wide rows x_j (shared memory, LDX apart); w is a row-major tile (LDW apart) in shared memory.
/// P V in the forward, dS K for dQ: nj a multiple of 4 or the tile's end, w zero past the visible keys.
template <int DM, int TM, int LDW, int LDX>
__device__ __forceinline__ void attention_accumulate(float (&acc)[TM][DM / 16], const float* w, const float* x_rows,
                                                     int nj, int tx, int ty) {
    using cols = attention_columns<DM>;
    #pragma unroll 1
    for (int j = 0; j < nj; j += 4) {
        float4 wr[TM];
#pragma unroll
        for (int r = 0; r < TM; ++r) wr[r] = *reinterpret_cast<const float4*>(w + (ty + 16 * r) * LDW + j);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            float x[cols::td];
            cols::load(x, x_rows + (j + e) * LDX, tx);
#pragma unroll
            for (int r = 0; r < TM; ++r) {
                const float we = e == 0 ? wr[r].x : e == 1 ? wr[r].y : e == 2 ? wr[r].z : wr[r].w;
#pragma unroll
                for (int c = 0; c < cols::td; ++c) acc[r][c] = fmaf(we, x[c], acc[r][c]);
            }
        }
    }
}

/// The max over the 16 threads of a half-warp (the threads sharing a row).
__device__ __forceinline__ float attention_row_max(float x) {
#pragma unroll
    for (int m = 8; m > 0; m >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, m));
    return x;
}
/// The sum over the 16 threads of a half-warp.
__device__ __forceinline__ float attention_row_sum(float x) {
#pragma unroll
    for (int m = 8; m > 0; m >>= 1) x += __shfl_xor_sync(0xffffffffu, x, m);
    return x;
}

/// o and lse of query tile (gridDim.x - 1 - blockIdx.x: the heaviest tiles first), head blockIdx.y, batch
/// blockIdx.z. Thread (tx, ty) owns query rows ty + 16 r (r < BR / 16): their scores against keys
/// tx + 16 c of each tile, their running max and (partial) sum, and its columns of their O.
template <int DM, int BR, int BC>
__global__ void __launch_bounds__(attention_threads, 2) attention_forward_kernel(const attention_forward_params p) {
    constexpr int LD = attention_ld(DM), LDP = attention_ldp(BC), TM = BR / 16, TN = BC / 16;
    using cols = attention_columns<DM>;
    constexpr int TD = cols::td;
    float* const sq = attention_shared();  // (BR, LD)
    float* const sk = sq + BR * LD;        // (BC, LD)
    float* const sv = sk + BC * LD;        // (BC, DM)
    float* const sp = sv + BC * DM;        // (BR, LDP) probabilities
    const attention_layout& L = p.layout;
    const attention_tiles T{L.tq, L.tk, BR, BC};
    const int tx = static_cast<int>(threadIdx.x & 15), ty = static_cast<int>(threadIdx.x >> 4);
    const std::int64_t qt = T.query_tiles() - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, kvh = h / L.group();
    const std::int64_t i0 = qt * BR;
    const int d = static_cast<int>(L.head_dim), dpad = (d + 3) & ~3, nr = static_cast<int>(T.rows_in(qt));
    attention_load_tile<BR, LD, DM>(sq, p.q + L.q_at(b, i0, h), L.q_stride(), nr, d);

    float m[TM], l[TM], o[TM][TD];
#pragma unroll
    for (int r = 0; r < TM; ++r) {
        m[r] = -INFINITY, l[r] = 0.0f;
#pragma unroll
        for (int x = 0; x < TD; ++x) o[r][x] = 0.0f;
    }
    const int key_end = static_cast<int>(T.key_end(qt)), kt_end = static_cast<int>(T.key_tile_end(qt));
    for (int kt = 0; kt < kt_end; ++kt) {
        const int j0 = kt * BC;
        const int nk = static_cast<int>(T.keys_in(kt));
        __syncthreads();  // the last tile's readers of sk, sv, sp are done
        attention_load_tile<BC, LD, DM>(sk, p.k + L.kv_at(b, j0, kvh), L.kv_stride(), nk, d);
        attention_load_tile<BC, DM, DM>(sv, p.v + L.kv_at(b, j0, kvh), L.kv_stride(), nk, d);
        __syncthreads();
        float s[TM][TN];
        attention_dots<TM, TN, LD>(s, sq + ty * LD, sk + tx * LD, dpad);
        const bool edge = !T.full(qt, kt);
        const int diag = static_cast<int>(i0 + T.offset()) - j0;  // row r of the tile sees its keys c <= r + diag
#pragma unroll
        for (int r = 0; r < TM; ++r) {
            float mx = m[r];
#pragma unroll
            for (int c = 0; c < TN; ++c) {
                float x = s[r][c] * p.scale_log2;
                if (edge && (ty + 16 * r >= nr || tx + 16 * c > ty + 16 * r + diag)) x = -INFINITY;
                s[r][c] = x;
                mx = fmaxf(mx, x);
            }
            mx = attention_row_max(mx);
            const float base = mx == -INFINITY ? 0.0f : mx;  // a row that has seen no key yet (padding only)
            const float corr = m[r] == base ? 1.0f : exp2f(m[r] - base);
            m[r] = mx;
            l[r] *= corr;
#pragma unroll
            for (int x = 0; x < TD; ++x) o[r][x] *= corr;
#pragma unroll
            for (int c = 0; c < TN; ++c) {
                const float e = s[r][c] == base ? 1.0f : exp2f(s[r][c] - base);  // exactly 1 at the max
                l[r] += e;
                sp[(ty + 16 * r) * LDP + tx + 16 * c] = e;
            }
        }
        __syncthreads();
        const int nj = key_end - j0 < BC ? key_end - j0 : BC;  // keys of this tile some row sees; P is 0 past them
        attention_accumulate<DM, TM, LDP, DM>(o, sp, sv, nj, tx, ty);
    }
#pragma unroll
    for (int r = 0; r < TM; ++r) {
        const float sum = attention_row_sum(l[r]);
        const std::int64_t i = i0 + ty + 16 * r;
        if (i < L.tq) {
            cols::store(p.o + L.q_at(b, i, h), o[r], 1.0f / sum, tx, d);
            if (tx == 0) p.lse[L.lse_at(b, h, i)] = m[r] * attention_ln2 + logf(sum);
        }
    }
}

inline constexpr int attention_delta_rows = 128, attention_delta_cols = 32;

/// delta[b, h, i] = dO . O of one query row per thread, 128 rows per block: the rows are contiguous, so
/// the block stages them through shared memory 32 columns at a time with coalesced loads, then each
/// thread sums its row in column order (see attention_dots).
__global__ void __launch_bounds__(attention_delta_rows) attention_delta_kernel(const attention_backward_params p) {
    constexpr int R = attention_delta_rows, C = attention_delta_cols;
    __shared__ float sdo[R][C + 1], so[R][C + 1];
    const attention_layout& L = p.layout;
    const std::int64_t rows = L.batch * L.tq * L.heads, r0 = static_cast<std::int64_t>(blockIdx.x) * R;
    const int d = static_cast<int>(L.head_dim), t = static_cast<int>(threadIdx.x);
    float acc = 0.0f;
    for (int x0 = 0; x0 < d; x0 += C) {
        const int n = d - x0 < C ? d - x0 : C;
        __syncthreads();
        for (int idx = t; idx < R * C; idx += R) {
            const int rr = idx / C, c = idx - rr * C;
            const std::int64_t at = (r0 + rr) * d + x0 + c;
            if (r0 + rr < rows && c < n) sdo[rr][c] = p.d_o[at], so[rr][c] = p.o[at];
        }
        __syncthreads();
        for (int c = 0; c < n; ++c) acc = fmaf(sdo[t][c], so[t][c], acc);
    }
    const std::int64_t row = r0 + t;  // = (b Tq + i) H + h
    if (row < rows) p.delta[L.lse_at(row / (L.heads * L.tq), row % L.heads, row / L.heads % L.tq)] = acc;
}

/// dK and dV of key tile blockIdx.x (the earliest, heaviest tiles first), kv head blockIdx.y, batch
/// blockIdx.z: every query row of the kv head's query heads that sees one of its keys, BR rows at a time.
/// Thread (tx, ty) owns keys ty + 16 r (r < BC / 16): their scores against rows tx + 16 c, then its
/// columns of their dK and dV. Written, not accumulated; keys no query sees get zeros.
template <int DM, int BR, int BC>
__global__ void __launch_bounds__(attention_threads, 2) attention_dkv_kernel(const attention_backward_params p) {
    constexpr int LD = attention_ld(DM), LDP = attention_ldp(BR), TK = BC / 16, TR = BR / 16;
    using cols = attention_columns<DM>;
    constexpr int TD = cols::td;
    float* const sk = attention_shared();  // (BC, LD)
    float* const sv = sk + BC * LD;        // (BC, LD)
    float* const sq = sv + BC * LD;        // (BR, LD)
    float* const sdo = sq + BR * LD;       // (BR, LD)
    float* const spt = sdo + BR * LD;      // (BC, LDP) P^T
    float* const sdst = spt + BC * LDP;    // (BC, LDP) dS^T
    float* const slse = sdst + BC * LDP;   // (BR) lse * log2(e)
    float* const sdelta = slse + BR;       // (BR)
    const attention_layout& L = p.layout;
    const attention_tiles T{L.tq, L.tk, BR, BC};
    const int t = static_cast<int>(threadIdx.x), tx = t & 15, ty = t >> 4;
    const std::int64_t kt = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z, j0 = kt * BC, group = L.group();
    const int d = static_cast<int>(L.head_dim), dpad = (d + 3) & ~3, nk = static_cast<int>(T.keys_in(kt));
    attention_load_tile<BC, LD, DM>(sk, p.k + L.kv_at(b, j0, kvh), L.kv_stride(), nk, d);
    attention_load_tile<BC, LD, DM>(sv, p.v + L.kv_at(b, j0, kvh), L.kv_stride(), nk, d);

    float dk[TK][TD], dv[TK][TD];
#pragma unroll
    for (int r = 0; r < TK; ++r)
#pragma unroll
        for (int x = 0; x < TD; ++x) dk[r][x] = 0.0f, dv[r][x] = 0.0f;
    for (std::int64_t g = 0; g < group; ++g) {
        const std::int64_t h = kvh * group + g;
        for (std::int64_t qt = T.first_query_tile(kt); qt < T.query_tiles(); ++qt) {
            const std::int64_t i0 = qt * BR;
            const int nr = static_cast<int>(T.rows_in(qt));
            __syncthreads();  // the last step's readers of sq, sdo, spt, sdst are done
            attention_load_tile<BR, LD, DM>(sq, p.q + L.q_at(b, i0, h), L.q_stride(), nr, d);
            attention_load_tile<BR, LD, DM>(sdo, p.d_o + L.q_at(b, i0, h), L.q_stride(), nr, d);
            if (t < BR) {
                slse[t] = t < nr ? p.lse[L.lse_at(b, h, i0 + t)] * attention_log2e : 0.0f;
                sdelta[t] = t < nr ? p.delta[L.lse_at(b, h, i0 + t)] : 0.0f;
            }
            __syncthreads();
            float s[TK][TR], dp[TK][TR];
            attention_dots<TK, TR, LD>(s, sk + ty * LD, sq + tx * LD, dpad);    // q . k
            attention_dots<TK, TR, LD>(dp, sv + ty * LD, sdo + tx * LD, dpad);  // dO . v
            const bool edge = !T.full(qt, kt);
            const int diag = static_cast<int>(i0 + T.offset() - j0);
#pragma unroll
            for (int r = 0; r < TK; ++r)
#pragma unroll
                for (int c = 0; c < TR; ++c) {
                    const int key = ty + 16 * r, row = tx + 16 * c;
                    float e = 0.0f;
                    if (!edge || (row < nr && key <= row + diag)) e = exp2f(fmaf(s[r][c], p.scale_log2, -slse[row]));
                    spt[key * LDP + row] = e;
                    sdst[key * LDP + row] = e * (dp[r][c] - sdelta[row]);
                }
            __syncthreads();
            // rows past nr have P = dS = 0
            attention_accumulate<DM, TK, LDP, LD>(dv, spt, sdo, nr, tx, ty);  // dV += P^T dO
            attention_accumulate<DM, TK, LDP, LD>(dk, sdst, sq, nr, tx, ty);  // dK += dS^T Q
        }
    }
#pragma unroll
    for (int r = 0; r < TK; ++r) {
        const int key = ty + 16 * r;
        if (key < nk) {
            cols::store(p.dk + L.kv_at(b, j0 + key, kvh), dk[r], p.scale, tx, d);
            cols::store(p.dv + L.kv_at(b, j0 + key, kvh), dv[r], 1.0f, tx, d);
        }
    }
}

/// dQ of query tile gridDim.x - 1 - blockIdx.x, head blockIdx.y, batch blockIdx.z over the key tiles it
/// sees. Thread (tx, ty) owns rows ty + 16 r (r < BR / 16): their scores against keys tx + 16 c, then
/// its columns of their dQ. Written.
template <int DM, int BR, int BC>
__global__ void __launch_bounds__(attention_threads, 2) attention_dq_kernel(const attention_backward_params p) {
    constexpr int LD = attention_ld(DM), LDP = attention_ldp(BC), TM = BR / 16, TN = BC / 16;
    using cols = attention_columns<DM>;
    constexpr int TD = cols::td;
    float* const sq = attention_shared();  // (BR, LD)
    float* const sdo = sq + BR * LD;       // (BR, LD)
    float* const sk = sdo + BR * LD;       // (BC, LD)
    float* const sv = sk + BC * LD;        // (BC, LD)
    float* const sds = sv + BC * LD;       // (BR, LDP) dS
    const attention_layout& L = p.layout;
    const attention_tiles T{L.tq, L.tk, BR, BC};
    const int tx = static_cast<int>(threadIdx.x & 15), ty = static_cast<int>(threadIdx.x >> 4);
    const std::int64_t qt = T.query_tiles() - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z, kvh = h / L.group();
    const std::int64_t i0 = qt * BR;
    const int d = static_cast<int>(L.head_dim), dpad = (d + 3) & ~3, nr = static_cast<int>(T.rows_in(qt));
    attention_load_tile<BR, LD, DM>(sq, p.q + L.q_at(b, i0, h), L.q_stride(), nr, d);
    attention_load_tile<BR, LD, DM>(sdo, p.d_o + L.q_at(b, i0, h), L.q_stride(), nr, d);

    float lse2[TM], delta[TM], dq[TM][TD];
#pragma unroll
    for (int r = 0; r < TM; ++r) {
        const int row = ty + 16 * r;
        lse2[r] = row < nr ? p.lse[L.lse_at(b, h, i0 + row)] * attention_log2e : 0.0f;
        delta[r] = row < nr ? p.delta[L.lse_at(b, h, i0 + row)] : 0.0f;
#pragma unroll
        for (int x = 0; x < TD; ++x) dq[r][x] = 0.0f;
    }
    const int key_end = static_cast<int>(T.key_end(qt)), kt_end = static_cast<int>(T.key_tile_end(qt));
    for (int kt = 0; kt < kt_end; ++kt) {
        const int j0 = kt * BC;
        const int nk = static_cast<int>(T.keys_in(kt));
        __syncthreads();  // the last tile's readers of sk, sv, sds are done
        attention_load_tile<BC, LD, DM>(sk, p.k + L.kv_at(b, j0, kvh), L.kv_stride(), nk, d);
        attention_load_tile<BC, LD, DM>(sv, p.v + L.kv_at(b, j0, kvh), L.kv_stride(), nk, d);
        __syncthreads();
        float s[TM][TN], dp[TM][TN];
        attention_dots<TM, TN, LD>(s, sq + ty * LD, sk + tx * LD, dpad);
        attention_dots<TM, TN, LD>(dp, sdo + ty * LD, sv + tx * LD, dpad);
        const bool edge = !T.full(qt, kt);
        const int diag = static_cast<int>(i0 + T.offset()) - j0;
#pragma unroll
        for (int r = 0; r < TM; ++r)
#pragma unroll
            for (int c = 0; c < TN; ++c) {
                const int row = ty + 16 * r, key = tx + 16 * c;
                float e = 0.0f;
                if (!edge || (row < nr && key <= row + diag)) e = exp2f(fmaf(s[r][c], p.scale_log2, -lse2[r]));
                sds[row * LDP + key] = e * (dp[r][c] - delta[r]);
            }
        __syncthreads();
        const int nj = key_end - j0 < BC ? key_end - j0 : BC;
        attention_accumulate<DM, TM, LDP, LD>(dq, sds, sk, nj, tx, ty);
    }
#pragma unroll
    for (int r = 0; r < TM; ++r) {
        const int row = ty + 16 * r;
        if (row < nr) cols::store(p.dq + L.q_at(b, i0 + row, h), dq[r], p.scale, tx, d);
    }
}

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct attention<cuda> {
    /// o and lse: one block per (query tile, head, batch).
    static void forward(const attention_forward_args<float>& a) {
        const attention_shape& s = a.shape;
        if (s.batch == 0 || s.tq == 0 || s.heads == 0 || s.kv_heads == 0 || s.head_dim == 0) return;
        switch (checked_bucket(s)) {
            case 32: return forward_for<32>(a);
            case 64: return forward_for<64>(a);
            case 128: return forward_for<128>(a);
            default: return forward_for<256>(a);
        }
    }

    /// dq, dk and dv: delta into a stream-ordered scratch buffer, then the dK dV and the dQ kernels.
    static void backward(const attention_backward_args<float>& a) {
        const attention_shape& s = a.shape;
        if (s.batch == 0 || s.tk == 0 || s.kv_heads == 0 || s.head_dim == 0) return;  // dk, dv (and dq) empty
        if (s.tq == 0 || s.heads == 0) {  // no query sees any key: dk and dv are zero
            const auto bytes = sizeof(float) * static_cast<std::size_t>(s.batch * s.tk * s.kv_heads * s.head_dim);
            detail::cuda_check(cudaMemsetAsync(a.dk, 0, bytes, 0), "zeroing dk of attention");
            detail::cuda_check(cudaMemsetAsync(a.dv, 0, bytes, 0), "zeroing dv of attention");
            return;
        }
        switch (checked_bucket(s)) {
            case 32: return backward_for<32>(a);
            case 64: return backward_for<64>(a);
            case 128: return backward_for<128>(a);
            default: return backward_for<256>(a);
        }
    }

private:
    /// The head-dim bucket of s, after checking that s fits the kernels and the grid.
    static int checked_bucket(const attention_shape& s) {
        const int bucket = cuda_detail::attention_bucket(s.head_dim);
        check(bucket != 0, "recur::cuda attention: head_dim = ", s.head_dim, " exceeds the supported maximum of 256");
        check(s.heads <= 65535 && s.batch <= 65535, "recur::cuda attention: heads = ", s.heads, ", batch = ", s.batch,
              " exceed the grid limit of 65535");
        check(s.tq <= std::numeric_limits<int>::max() && s.tk <= std::numeric_limits<int>::max(),
              "recur::cuda attention: tq = ", s.tq, ", tk = ", s.tk, " exceed ", std::numeric_limits<int>::max());
        return bucket;
    }

    /// The shape as the kernels read it.
    static cuda_detail::attention_layout layout_of(const attention_shape& s) {
        return {s.batch, s.tq, s.tk, s.heads, s.kv_heads, s.head_dim};
    }

    /// Launches `kernel` on `grid` x attention_threads with `smem` bytes of dynamic shared memory, raising
    /// the kernel's limit first when that is above the default 48 KiB.
    template <class Params>
    static void launch(void (*kernel)(Params), const char* name, dim3 grid, std::size_t smem, const Params& p) {
        if (smem > 48 * 1024)
            detail::cuda_check(
                cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
                "raising the shared memory of the `", name, "` kernel to ", smem, " bytes");
        kernel<<<grid, cuda_detail::attention_threads, smem>>>(p);
        detail::cuda_check(cudaGetLastError(), "launch of the `", name, "` kernel");
    }

    /// The forward launch for head dims in bucket DM.
    template <int DM>
    static void forward_for(const attention_forward_args<float>& a) {
        using C = cuda_detail::attention_config<DM>;
        const attention_tiles T{a.shape.tq, a.shape.tk, C::forward_rows, C::forward_keys};
        const cuda_detail::attention_forward_params p{layout_of(a.shape), a.o, a.lse, a.q, a.k, a.v,
                                                      a.scale * cuda_detail::attention_log2e};
        const dim3 grid(static_cast<unsigned>(T.query_tiles()), static_cast<unsigned>(a.shape.heads),
                        static_cast<unsigned>(a.shape.batch));
        launch(cuda_detail::attention_forward_kernel<DM, C::forward_rows, C::forward_keys>, "attention_forward", grid,
               C::forward_smem, p);
    }

    /// Frees a stream-ordered allocation after the kernels queued before it, also when a launch throws.
    struct scratch {
        float* data = nullptr;
        ~scratch() {
            if (data) static_cast<void>(cudaFreeAsync(data, 0));
        }
    };

    /// The backward launches for head dims in bucket DM; delta lives in a stream-ordered allocation.
    template <int DM>
    static void backward_for(const attention_backward_args<float>& a) {
        using C = cuda_detail::attention_config<DM>;
        const attention_shape& s = a.shape;
        scratch delta;
        const std::int64_t rows = s.batch * s.heads * s.tq;
        const auto bytes = sizeof(float) * static_cast<std::size_t>(rows);
        detail::cuda_check(cudaMallocAsync(reinterpret_cast<void**>(&delta.data), bytes, 0), "cudaMallocAsync of ",
                           bytes, " bytes for attention's delta");
        const cuda_detail::attention_backward_params p{layout_of(s), a.dq, a.dk, a.dv, delta.data, a.d_o, a.q, a.k, a.v,
                                                       a.o, a.lse, a.scale, a.scale * cuda_detail::attention_log2e};
        constexpr std::int64_t per = cuda_detail::attention_delta_rows;
        cuda_detail::attention_delta_kernel<<<static_cast<unsigned>((rows + per - 1) / per), per>>>(p);
        detail::cuda_check(cudaGetLastError(), "launch of the `attention_delta` kernel");

        const auto batch = static_cast<unsigned>(s.batch);
        const attention_tiles kv{s.tq, s.tk, C::dkv_rows, C::dkv_keys};
        launch(cuda_detail::attention_dkv_kernel<DM, C::dkv_rows, C::dkv_keys>, "attention_dkv",
               dim3(static_cast<unsigned>(kv.key_tiles()), static_cast<unsigned>(s.kv_heads), batch), C::dkv_smem, p);
        const attention_tiles q{s.tq, s.tk, C::dq_rows, C::dq_keys};
        launch(cuda_detail::attention_dq_kernel<DM, C::dq_rows, C::dq_keys>, "attention_dq",
               dim3(static_cast<unsigned>(q.query_tiles()), static_cast<unsigned>(s.heads), batch), C::dq_smem, p);
    }
};

}  // namespace recur::kernels
