// cpu cross-entropy: per row a vectorised max, a sum of exp(x - max) (the stable log-sum-exp),
// and in backward softmax minus one-hot; rows split across threads. Not here: target validation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/cross_entropy.hpp>

namespace recur::kernels {

template <>
struct cross_entropy<cpu> {
    static void forward(const cross_entropy_forward_args<float>& a) {
        float *const loss = a.loss, *const lse = a.lse;
        const float* const logits = a.logits;
        const std::int32_t* const targets = a.targets;
        const std::int64_t n = a.n, v = a.v;
        const std::int32_t ignore = a.ignore;
        using namespace cpu_detail;
        parallel_rows(n, 8 * v, [&](std::int64_t r0, std::int64_t r1) {
            for (std::int64_t i = r0; i < r1; ++i) {
                const float* row = logits + i * v;
                const float mx = simd_reduce(v, -std::numeric_limits<float>::infinity(),
                                             [&]<class V>(std::int64_t j) { return load<V>(row + j); }, maximum);
                const float z = simd_reduce(v, 0.0f, [&]<class V>(std::int64_t j) {
                    return xsimd::exp(load<V>(row + j) - V(mx));
                }, plus);
                const float l = mx + std::log(z);
                lse[i] = l;
                loss[i] = targets[i] == ignore ? 0.0f : l - row[targets[i]];
            }
        });
    }

    static void backward(const cross_entropy_backward_args<float>& a) {
        float* const dlogits = a.dlogits;
        const float *const dloss = a.dloss, *const logits = a.logits, *const lse = a.lse;
        const std::int32_t* const targets = a.targets;
        const std::int64_t n = a.n, v = a.v;
        const std::int32_t ignore = a.ignore;
        using namespace cpu_detail;
        parallel_rows(n, 8 * v, [&](std::int64_t r0, std::int64_t r1) {
            for (std::int64_t i = r0; i < r1; ++i) {
                const float* row = logits + i * v;
                float* drow = dlogits + i * v;
                if (targets[i] == ignore) {
                    std::fill(drow, drow + v, 0.0f);
                    continue;
                }
                const float g = dloss[i], l = lse[i];
                simd_for(0, v, [&]<class V>(std::int64_t j) { write(drow + j, V(g) * xsimd::exp(load<V>(row + j) - V(l))); });
                drow[targets[i]] -= g;
            }
        });
    }
};

}  // namespace recur::kernels
