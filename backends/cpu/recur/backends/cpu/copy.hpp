// cpu fill, strided copy / accumulate and add-into, split across threads above a work threshold;
// contiguous runs are memcpy'd, f32 accumulation is vectorised. bf16 / f16 are copied only.
// Not here: what every cpu kernel shares (core.hpp) or op kernels (one file per family beside this one).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/copy.hpp>

namespace recur::kernels {

template <>
struct fill<cpu> {
    template <class E>
    static void run(const fill_args<E>& a) {
        E* const dst = a.dst;
        const E value = a.value;
        cpu_detail::parallel_ranges(a.n, 1, [&](std::int64_t begin, std::int64_t end) { std::fill(dst + begin, dst + end, value); });
    }
};

template <>
struct copy_strided<cpu> {
    /// Merges dimensions that are contiguous in both tensors (a contiguous copy becomes one run of
    /// n elements), then copies rows of the innermost dimension, split across threads.
    template <class E>
    static void run(const copy_strided_args<E>& a) {
        E* const dst = a.dst;
        const E* const src = a.src;
        const index4 &dst_strides = a.dst_strides, &src_strides = a.src_strides, &shape = a.shape;
        const bool accumulate = a.accumulate;
        std::array<std::int64_t, 4> n{}, ds{}, ss{};
        int dims = 0;
        for (std::size_t d = 0; d < 4; ++d) {
            const std::int64_t extent = shape.v[d];
            if (extent == 0) return;
            if (extent == 1) continue;
            const auto last = static_cast<std::size_t>(dims - 1);
            if (dims > 0 && ds[last] == extent * dst_strides.v[d] && ss[last] == extent * src_strides.v[d]) {
                n[last] *= extent;
                ds[last] = dst_strides.v[d];
                ss[last] = src_strides.v[d];
            } else {
                const auto at = static_cast<std::size_t>(dims++);
                n[at] = extent;
                ds[at] = dst_strides.v[d];
                ss[at] = src_strides.v[d];
            }
        }
        if (dims == 0) {  // a single element
            n[0] = 1;
            dims = 1;
        }
        // Right-align into four dims: (outer0, outer1, outer2, inner).
        std::array<std::int64_t, 4> N{1, 1, 1, 1}, DS{0, 0, 0, 0}, SS{0, 0, 0, 0};
        for (int d = 0; d < dims; ++d) {
            const auto to = static_cast<std::size_t>(4 - dims + d), from = static_cast<std::size_t>(d);
            N[to] = n[from], DS[to] = ds[from], SS[to] = ss[from];
        }
        const std::int64_t inner = N[3], rows = N[0] * N[1] * N[2];
        const bool add = std::is_floating_point_v<E> && accumulate;
        // Work items are pieces of rows, so one long contiguous run is still split across threads.
        const std::int64_t piece = std::min(inner, std::int64_t{1} << 14), pieces = (inner + piece - 1) / piece;
        cpu_detail::parallel_rows(rows * pieces, piece, [&](std::int64_t w0, std::int64_t w1) {
            for (std::int64_t w = w0; w < w1; ++w) {
                const std::int64_t r = w / pieces, x = w % pieces * piece, len = std::min(piece, inner - x);
                const std::int64_t i2 = r % N[2], i1 = (r / N[2]) % N[1], i0 = r / (N[2] * N[1]);
                E* d = dst + i0 * DS[0] + i1 * DS[1] + i2 * DS[2] + x * DS[3];
                const E* s = src + i0 * SS[0] + i1 * SS[1] + i2 * SS[2] + x * SS[3];
                copy_row(d, DS[3], s, SS[3], len, add);
            }
        });
    }

private:
    template <class E>
    static void copy_row(E* d, std::int64_t dstride, const E* s, std::int64_t sstride, std::int64_t n, bool add) {
        if constexpr (std::is_same_v<E, float>) {
            if (dstride == 1 && sstride == 1 && add) {
                using namespace cpu_detail;
                simd_for(0, n, [&]<class V>(std::int64_t i) { write(d + i, load<V>(d + i) + load<V>(s + i)); });
                return;
            }
        }
        if (dstride == 1 && sstride == 1 && !add) {
            std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(E));
            return;
        }
        for (std::int64_t i = 0; i < n; ++i) {
            if constexpr (std::is_floating_point_v<E>) d[i * dstride] = add ? d[i * dstride] + s[i * sstride] : s[i * sstride];
            else d[i * dstride] = s[i * sstride];
        }
    }
};

template <>
struct add_into<cpu> {
    static void run(const add_into_args<float>& a) {
        using namespace cpu_detail;
        float* const dst = a.dst;
        const float* const src = a.src;
        simd_map(a.n, 1, [&]<class V>(std::int64_t i) { write(dst + i, load<V>(dst + i) + load<V>(src + i)); });
    }
};

}  // namespace recur::kernels
