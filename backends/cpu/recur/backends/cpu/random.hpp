// cpu keyed truncated normal (the recurrent state's initial noise): keyed::truncated_normal with its
// keys and cosines on xsimd batches (64-bit integers, doubles), rows spread over the OpenMP team.
// Every value is a function of its own indices, so the draw is the same on any thread count.
// Not here: the sequential generator (core/random.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

#include <recur/backends/cpu/core.hpp>
#include <recur/core/random.hpp>
#include <recur/kernels/random.hpp>

namespace recur::cpu_detail {

using ubatch = xsimd::batch<std::uint64_t>;
using dbatch = xsimd::batch<double>;

/// keyed::uniform, lane by lane: 53 bits, exact in a double.
inline dbatch keyed_uniform(const ubatch& key) {
    const ubatch bits = keyed::mix_lanes(key, ubatch(std::uint64_t{0})) >> 11;
    return xsimd::batch_cast<double>(xsimd::bitwise_cast<xsimd::batch<std::int64_t>>(bits)) * dbatch(0x1.0p-53);
}

}  // namespace recur::cpu_detail

namespace recur::kernels {

template <>
struct keyed_truncated_normal<cpu> {
    static void run(const keyed_truncated_normal_args<float>& a) {
        using namespace cpu_detail;
        float* const out = a.out;
        const std::int64_t batch = a.batch, t = a.t, c = a.c, pos0 = a.pos0;
        const std::uint64_t base = a.base;
        const double std = a.std;
        constexpr std::int64_t n = dbatch::size;
        parallel_rows(batch * t, c * 16, [&](std::int64_t begin, std::int64_t end) {
            alignas(64) std::uint64_t first[n];
            for (std::int64_t l = 0; l < n; ++l) first[l] = static_cast<std::uint64_t>(l);
            const ubatch lane = ubatch::load_aligned(first);
            alignas(64) double x[n];
            for (std::int64_t row = begin; row < end; ++row) {
                const std::uint64_t key = keyed::row_key(base, row / t, pos0 + row % t);
                float* o = out + row * c;
                std::int64_t k = 0;
                for (; k + n <= c; k += n) {  // the first attempt of keyed::truncated_normal, n values at once
                    const ubatch keys = keyed::mix_lanes(ubatch(key), lane + ubatch(static_cast<std::uint64_t>(k)));
                    const dbatch u1 = dbatch(1.0) - keyed_uniform(keyed::mix_lanes(keys, ubatch(std::uint64_t{0})));
                    const dbatch u2 = keyed_uniform(keyed::mix_lanes(keys, ubatch(std::uint64_t{1})));
                    // The radius lane by lane: xsimd 8.1's double log does not compile unoptimised
                    // on AVX-512 (its select instantiates byte blends on 64-bit integers).
                    u1.store_aligned(x);
                    for (std::int64_t l = 0; l < n; ++l) x[l] = std::sqrt(-2.0 * std::log(x[l]));
                    const dbatch v = dbatch::load_aligned(x) * xsimd::cos(dbatch(2.0 * std::numbers::pi) * u2);
                    v.store_aligned(x);
                    const bool redraw = xsimd::any(xsimd::abs(v) > dbatch(3.0));  // about 1 value in 370
                    for (std::int64_t l = 0; l < n; ++l) {
                        const double value = redraw && std::abs(x[l]) > 3.0
                                                 ? keyed::truncated_normal(keyed::mix(key, static_cast<std::uint64_t>(k + l)), 3.0)
                                                 : x[l];
                        o[k + l] = static_cast<float>(std * value);
                    }
                }
                for (; k < c; ++k) o[k] = static_cast<float>(std * keyed::truncated_normal(keyed::mix(key, static_cast<std::uint64_t>(k)), 3.0));
            }
        });
    }
};

}  // namespace recur::kernels
