// What every cpu kernel shares: OpenMP above a work threshold (parallel_ranges, parallel_rows,
// parallel_for), xsimd loops and reductions (simd_for, simd_reduce, simd_map, reduce_rows), fmadd,
// per-thread buffers. Not here: any kernel (fill and the copies are in copy.hpp; one file per family).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

// GCC 12 reports (maybe-)uninitialized values inside its own AVX-512 intrinsic headers (GCC bug
// 105593) wherever xsimd inlines them; the warnings point into those headers, which xsimd first
// includes here, so consumers build clean without flags of their own.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace recur {
struct cpu;
}

namespace recur::cpu_detail {

/// The SIMD register of the instruction set this translation unit is compiled for.
using fbatch = xsimd::batch<float>;
inline constexpr std::int64_t lanes = static_cast<std::int64_t>(fbatch::size);

/// Work (about one element operation per unit) below which a kernel stays on the calling thread:
/// waking the OpenMP team costs about as much.
inline constexpr std::int64_t parallel_work = std::int64_t{1} << 15;

inline bool go_parallel(std::int64_t work) {
    return work >= parallel_work && omp_get_max_threads() > 1 && !omp_in_parallel();
}

inline std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

/// Calls f(begin, end) on contiguous chunks covering [0, n): one chunk per OpenMP thread, edges on
/// multiples of `align`, when n * cost_per_item reaches parallel_work; else f(0, n) here.
template <class F>
void parallel_chunks(std::int64_t n, std::int64_t cost_per_item, std::int64_t align, F&& f) {
    if (n <= 0) return;
    if (!go_parallel(n * cost_per_item)) {
        f(std::int64_t{0}, n);
        return;
    }
#pragma omp parallel
    {
        const std::int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
        const std::int64_t chunk = round_up((n + threads - 1) / threads, align);
        const std::int64_t begin = std::min(n, t * chunk), end = std::min(n, begin + chunk);
        if (begin < end) f(begin, end);
    }
}

/// parallel_chunks over elements: chunk edges on whole batches, so SIMD loops keep full batches.
template <class F>
void parallel_ranges(std::int64_t n, std::int64_t cost_per_item, F&& f) {
    parallel_chunks(n, cost_per_item, lanes, std::forward<F>(f));
}

/// parallel_chunks over rows: an even split.
template <class F>
void parallel_rows(std::int64_t n, std::int64_t cost_per_row, F&& f) {
    parallel_chunks(n, cost_per_row, 1, std::forward<F>(f));
}

/// Calls f(i) for every i < n: spread over the OpenMP team (dynamic schedule, for uneven items)
/// when n * cost_per_item reaches parallel_work, else in order here.
template <class F>
void parallel_for(std::int64_t n, std::int64_t cost_per_item, F&& f) {
    if (!go_parallel(n * cost_per_item)) {
        for (std::int64_t i = 0; i < n; ++i) f(i);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) f(i);
}

/// A per-thread, 64-byte-aligned buffer of T that grows and is then reused: the only memory cpu
/// kernels keep between calls. Each `Tag` is a separate buffer, so nested users do not collide.
template <class Tag, class T = float>
T* thread_buffer(std::size_t n) {
    struct buffer {
        T* p = nullptr;
        std::size_t capacity = 0;
        ~buffer() { std::free(p); }
    };
    thread_local buffer buf;
    if (buf.capacity < n) {
        const std::size_t want = (n + 63) / 64 * 64;
        std::free(buf.p);
        buf.p = static_cast<T*>(std::aligned_alloc(64, want * sizeof(T)));
        buf.capacity = buf.p ? want : 0;
        if (!buf.p) throw std::bad_alloc();
    }
    return buf.p;
}

/// Loads one value (V a scalar) or one batch from p, converting (float to double) as V asks.
template <class V, class T>
V load(const T* p) {
    if constexpr (std::is_arithmetic_v<V>) return static_cast<V>(*p);
    else return V::load_unaligned(p);
}
/// Stores one value or one batch at p, converting to p's type.
template <class T, class V>
void write(T* p, const V& v) {
    if constexpr (std::is_arithmetic_v<V>) *p = static_cast<T>(v);
    else v.store_unaligned(p);
}

/// a * b + c, fused exactly where the target has FMA, for batches and scalars alike (so a scalar
/// tail rounds like the batches). xsimd 8.1 has no AVX-512 fma kernel (it multiplies, then adds).
template <class V>
V fmadd(const V& a, const V& b, const V& c) {
    if constexpr (std::is_arithmetic_v<V>) {
#if defined(__FMA__)
        return std::fma(a, b, c);  // one instruction here, rounding like the batch version
#else
        return a * b + c;
#endif
    } else {
#if defined(__AVX512F__)
        using T = typename V::value_type;
        if constexpr (std::is_base_of_v<xsimd::avx512f, typename V::arch_type> && std::is_same_v<T, float>)
            return _mm512_fmadd_ps(a, b, c);
        else if constexpr (std::is_base_of_v<xsimd::avx512f, typename V::arch_type> && std::is_same_v<T, double>)
            return _mm512_fmadd_pd(a, b, c);
        else
            return xsimd::fma(a, b, c);
#else
        return xsimd::fma(a, b, c);
#endif
    }
}

/// The one loop of every element-wise cpu kernel: calls f.template operator()<Batch>(i) on full
/// batches of [begin, end), then f.template operator()<scalar>(i) on the tail, so a kernel written
/// once as a generic lambda over V serves both. Batch = xsimd::batch<double> computes in double.
template <class Batch = fbatch, class F>
void simd_for(std::int64_t begin, std::int64_t end, F&& f) {
    constexpr auto width = static_cast<std::int64_t>(Batch::size);
    std::int64_t i = begin;
    for (; i + width <= end; i += width) f.template operator()<Batch>(i);
    for (; i < end; ++i) f.template operator()<typename Batch::value_type>(i);
}

/// Folds f.template operator()<V>(i) over i < n with an associative `combine` (a generic lambda
/// such as a sum or xsimd::max): two batch accumulators, then their lanes, then the scalar tail.
/// Batch = xsimd::batch<double> folds in double.
template <class Batch = fbatch, class F, class Combine, class T = typename Batch::value_type>
T simd_reduce(std::int64_t n, T init, F&& f, Combine&& combine) {
    constexpr auto width = static_cast<std::int64_t>(Batch::size);
    Batch acc0(init), acc1(init);
    std::int64_t i = 0;
    for (; i + 2 * width <= n; i += 2 * width) {
        acc0 = combine(acc0, f.template operator()<Batch>(i));
        acc1 = combine(acc1, f.template operator()<Batch>(i + width));
    }
    if (i + width <= n) {
        acc0 = combine(acc0, f.template operator()<Batch>(i));
        i += width;
    }
    alignas(64) T part[width];
    combine(acc0, acc1).store_aligned(part);
    T r = init;
    for (T p : part) r = combine(r, p);
    for (; i < n; ++i) r = combine(r, f.template operator()<T>(i));
    return r;
}

inline constexpr auto plus = [](const auto& a, const auto& b) { return a + b; };
inline constexpr auto maximum = [](const auto& a, const auto& b) { return xsimd::max(a, b); };

/// Element-wise map over [0, n) split across threads: f.template operator()<V>(i) as in simd_for.
template <class F>
void simd_map(std::int64_t n, std::int64_t cost_per_item, F&& f) {
    parallel_ranges(n, cost_per_item, [&](std::int64_t begin, std::int64_t end) { simd_for(begin, end, f); });
}

struct reduce_rows_tag;

/// Column sums added into out[0, cols), accumulated in double: f(r0, r1, acc) adds the
/// contribution of rows [r0, r1) to a zeroed acc[0, cols) (double). In parallel each thread fills
/// its own partial and the partials are then summed into out, so there is no race and no atomics.
template <class F>
void reduce_rows(float* out, std::int64_t rows, std::int64_t cols, std::int64_t cost_per_row, F&& f) {
    using dbatch = xsimd::batch<double>;
    const bool parallel = rows > 1 && go_parallel(rows * cost_per_row);
    const int team = parallel ? omp_get_max_threads() : 1;
    const std::int64_t stride = round_up(cols, 8);
    double* partials = thread_buffer<reduce_rows_tag, double>(static_cast<std::size_t>(team * stride));
#pragma omp parallel num_threads(team) if (parallel)
    {
        const std::int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
        double* acc = partials + t * stride;
        std::fill(acc, acc + cols, 0.0);
        const std::int64_t chunk = (rows + threads - 1) / threads;
        const std::int64_t begin = std::min(rows, t * chunk), end = std::min(rows, begin + chunk);
        if (begin < end) f(begin, end, acc);
#pragma omp barrier
        const std::int64_t cchunk = round_up((cols + threads - 1) / threads, lanes);
        const std::int64_t c0 = std::min(cols, t * cchunk), c1 = std::min(cols, c0 + cchunk);
        simd_for<dbatch>(c0, c1, [&]<class V>(std::int64_t j) {
            V sum = load<V>(out + j);
            for (std::int64_t p = 0; p < threads; ++p) sum += load<V>(partials + p * stride + j);
            write(out + j, sum);
        });
    }
}

}  // namespace recur::cpu_detail

