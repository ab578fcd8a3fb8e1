// cpu optimizer kernels: sum of squares (in double, independent of the thread count), the fused AdamW
// update, Muon's momentum and its update, xsimd-vectorised and threaded above a size threshold.
// Not here: the optimizers themselves (include/recur/optim/).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/optim.hpp>

namespace recur::kernels {

template <>
struct sum_squares<cpu> {
    /// out[0] = sum of x^2 in double: fixed-size blocks summed in parallel, then added in order.
    static void run(const sum_squares_args<float>& a) {
        using namespace cpu_detail;
        const float* const x = a.x;
        const std::int64_t n = a.n;
        constexpr std::int64_t block = std::int64_t{1} << 14;
        const std::int64_t blocks = (n + block - 1) / block;
        struct tag;
        double* partial = thread_buffer<tag, double>(static_cast<std::size_t>(std::max<std::int64_t>(blocks, 1)));
        parallel_for(blocks, block, [&](std::int64_t c) {
            const float* p = x + c * block;
            partial[c] = simd_reduce<xsimd::batch<double>>(
                std::min(block, n - c * block), 0.0,
                [&]<class V>(std::int64_t i) {
                    const V v = load<V>(p + i);
                    return v * v;
                },
                plus);
        });
        double total = 0;
        for (std::int64_t c = 0; c < blocks; ++c) total += partial[c];
        a.out[0] = total;
    }
};

template <>
struct adamw_update<cpu> {
    static void run(const adamw_update_args<float>& a) {
        using namespace cpu_detail;
        float *const w = a.w, *const m = a.m, *const v = a.v;
        const float* const g = a.g;
        const adamw_coefficients& c = a.coefficients;
        const float decay = static_cast<float>(c.decay), b1 = static_cast<float>(c.beta1), b2 = static_cast<float>(c.beta2);
        const float step = static_cast<float>(c.step_size), inv_bias2 = static_cast<float>(c.inv_sqrt_bias2);
        const float eps = static_cast<float>(c.eps);
        simd_map(a.n, 8, [&]<class V>(std::int64_t i) {
            using std::sqrt;
            const V gi = load<V>(g + i);
            const V mi = V(b1) * load<V>(m + i) + V(1.0f - b1) * gi;
            const V vi = V(b2) * load<V>(v + i) + V(1.0f - b2) * gi * gi;
            write(m + i, mi);
            write(v + i, vi);
            write(w + i, load<V>(w + i) * V(decay) - V(step) * mi / (sqrt(vi) * V(inv_bias2) + V(eps)));
        });
    }
};

template <>
struct muon_momentum<cpu> {
    static void run(const muon_momentum_args<float>& a) {
        using namespace cpu_detail;
        float *const m = a.m, *const u = a.u;
        const float* const g = a.g;
        const float beta = a.beta;
        simd_map(a.n, 1, [&]<class V>(std::int64_t i) {
            const V gi = V(1.0f - beta) * load<V>(g + i);
            const V mi = V(beta) * load<V>(m + i) + gi;
            write(m + i, mi);
            write(u + i, gi + V(beta) * mi);
        });
    }
};

template <>
struct muon_update<cpu> {
    static void run(const muon_update_args<float>& a) {
        using namespace cpu_detail;
        float* const w = a.w;
        const float* const x = a.x;
        const float decay = a.decay, step = a.step;
        simd_map(a.n, 1, [&]<class V>(std::int64_t i) { write(w + i, load<V>(w + i) * V(decay) - V(step) * load<V>(x + i)); });
    }
};

}  // namespace recur::kernels
