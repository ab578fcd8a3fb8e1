// cpu RMSNorm forward and backward: rows split across threads, row statistics, dx and the weight
// gradient's column sums in double (short rows cancel badly in float). Not here: fusion with GEMMs.
#pragma once

#include <cmath>
#include <cstdint>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/rms_norm.hpp>

namespace recur::kernels {

template <>
struct rms_norm<cpu> {
    static void forward(const rms_norm_forward_args<float>& a) {
        float* const y = a.y;
        float* const rstd = a.rstd;
        const float* const x = a.x;
        const float* const w = a.w;
        const std::int64_t rows = a.rows, cols = a.cols;
        const float eps = a.eps;
        using namespace cpu_detail;
        using dbatch = xsimd::batch<double>;
        parallel_rows(rows, 3 * cols, [&](std::int64_t r0, std::int64_t r1) {
            for (std::int64_t r = r0; r < r1; ++r) {
                const float* xr = x + r * cols;
                float* yr = y + r * cols;
                const double ss = simd_reduce<dbatch>(cols, 0.0, [&]<class V>(std::int64_t j) {
                    const V v = load<V>(xr + j);
                    return v * v;
                }, plus);
                const auto s = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(cols) + eps));
                rstd[r] = s;
                simd_for(0, cols, [&]<class V>(std::int64_t j) { write(yr + j, load<V>(xr + j) * V(s) * load<V>(w + j)); });
            }
        });
    }

    /// y = x s w with s = (mean(x^2) + eps)^-1/2: dx = s dy w - x s^3 mean(dy w x); dw += dy x s.
    static void backward(const rms_norm_backward_args<float>& a) {
        float* const dx = a.dx;
        float* const dw = a.dw;
        const float *const dy = a.dy, *const x = a.x, *const w = a.w, *const rstd = a.rstd;
        const std::int64_t rows = a.rows, cols = a.cols;
        using namespace cpu_detail;
        // In double: the two terms of dx nearly cancel when the row is short (C = 1: exactly up to eps),
        // and the pass is bound by memory traffic, not arithmetic.
        using dbatch = xsimd::batch<double>;
        const auto input_grad = [&](std::int64_t r) {
            const float *xr = x + r * cols, *dyr = dy + r * cols;
            float* dxr = dx + r * cols;
            const double s = rstd[r];
            const double dot = simd_reduce<dbatch>(cols, 0.0, [&]<class V>(std::int64_t j) {
                return load<V>(dyr + j) * load<V>(w + j) * load<V>(xr + j);
            }, plus);
            const double c = s * s * s * dot / static_cast<double>(cols);
            simd_for<dbatch>(0, cols, [&]<class V>(std::int64_t j) {
                write(dxr + j, V(s) * load<V>(dyr + j) * load<V>(w + j) - V(c) * load<V>(xr + j));
            });
        };
        if (dw) {
            reduce_rows(dw, rows, cols, 5 * cols, [&](std::int64_t r0, std::int64_t r1, double* acc) {
                for (std::int64_t r = r0; r < r1; ++r) {
                    if (dx) input_grad(r);
                    const float *xr = x + r * cols, *dyr = dy + r * cols;
                    const double s = rstd[r];
                    simd_for<dbatch>(0, cols, [&]<class V>(std::int64_t j) {
                        write(acc + j, fmadd(load<V>(dyr + j) * load<V>(xr + j), V(s), load<V>(acc + j)));
                    });
                }
            });
        } else if (dx) {
            parallel_rows(rows, 3 * cols, [&](std::int64_t r0, std::int64_t r1) {
                for (std::int64_t r = r0; r < r1; ++r) input_grad(r);
            });
        }
    }
};

}  // namespace recur::kernels
