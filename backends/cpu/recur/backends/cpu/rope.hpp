// cpu rotary embedding, both pair layouts, forward and inverse: rotate-half on contiguous halves,
// interleaved pairs with an in-register pair swap. Not here: building the cos/sin table (ops/rope.hpp).
#pragma once

#include <cstdint>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/rope.hpp>

namespace recur::cpu_detail {

/// Lane permutation (1, 0, 3, 2, ...): each lane's partner in an interleaved pair.
struct pair_swap {
    static constexpr std::uint32_t get(std::size_t i, std::size_t) { return static_cast<std::uint32_t>(i ^ 1u); }
};

}  // namespace recur::cpu_detail

namespace recur::kernels {

template <>
struct rope<cpu> {
    /// Pair (x1, x2) at angle a -> (x1 cos a - x2 sin a, x2 cos a + x1 sin a), a negated when inverse.
    /// y may alias x: every step reads its pairs before writing them.
    static void run(const rope_args<float>& a) {
        float* const y = a.y;
        const float *const x = a.x, *const cos = a.cos, *const sin = a.sin;
        const std::int64_t b = a.b, t = a.t, h = a.h, d = a.d;
        const rope_layout layout = a.layout;
        const bool inverse = a.inverse;
        using namespace cpu_detail;
        const std::int64_t half = d / 2, rows = b * t * h;
        const float sign = inverse ? -1.0f : 1.0f;
        parallel_rows(rows, 2 * d, [&](std::int64_t r0, std::int64_t r1) {
            if (layout == rope_layout::half) {
                for (std::int64_t r = r0; r < r1; ++r) {
                    const std::int64_t pos = (r / h) % t;
                    const float *c = cos + pos * half, *s = sin + pos * half, *xr = x + r * d;
                    float* yr = y + r * d;
                    simd_for(0, half, [&]<class V>(std::int64_t i) {
                        const V cv = load<V>(c + i), sv = V(sign) * load<V>(s + i);
                        const V x1 = load<V>(xr + i), x2 = load<V>(xr + half + i);
                        write(yr + i, x1 * cv - x2 * sv);
                        write(yr + half + i, x2 * cv + x1 * sv);
                    });
                }
                return;
            }
            // Interleaved: per position, cos duplicated to (c0, c0, c1, c1, ..) and sin signed to
            // (-s0, s0, -s1, s1, ..), so y = x * cc + swap_pairs(x) * ss on whole batches.
            struct tag;
            float* cc = thread_buffer<tag>(static_cast<std::size_t>(2 * d));
            float* ss = cc + d;
            constexpr auto swap = xsimd::make_batch_constant<xsimd::batch<std::uint32_t>, pair_swap>();
            std::int64_t built = -1;
            for (std::int64_t r = r0; r < r1; ++r) {
                const std::int64_t pos = (r / h) % t;
                const float *c = cos + pos * half, *s = sin + pos * half, *xr = x + r * d;
                float* yr = y + r * d;
                if (pos != built) {
                    for (std::int64_t i = 0; i < half; ++i) {
                        cc[2 * i] = cc[2 * i + 1] = c[i];
                        ss[2 * i] = -sign * s[i];
                        ss[2 * i + 1] = sign * s[i];
                    }
                    built = pos;
                }
                std::int64_t j = 0;
                for (; j + lanes <= d; j += lanes) {
                    const fbatch v = fbatch::load_unaligned(xr + j);
                    write(yr + j, fmadd(v, fbatch::load_unaligned(cc + j), xsimd::swizzle(v, swap) * fbatch::load_unaligned(ss + j)));
                }
                for (; j < d; j += 2) {  // scalar tail, one pair at a time
                    const float x1 = xr[j], x2 = xr[j + 1];
                    yr[j] = x1 * cc[j] + x2 * ss[j];
                    yr[j + 1] = x2 * cc[j + 1] + x1 * ss[j + 1];
                }
            }
        });
    }
};

}  // namespace recur::kernels
