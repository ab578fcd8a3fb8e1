// Reference RMSNorm forward and backward, row by row in double.
// Not here: fusion with neighbouring ops.
#pragma once

#include <cmath>
#include <cstdint>

#include <recur/kernels/rms_norm.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct rms_norm<basic_reference<T>> {
    static void forward(const rms_norm_forward_args<T>& a) {
        const auto [y, rstd, x, w, rows, cols, eps] = a;
        for (std::int64_t r = 0; r < rows; ++r) {
            const T* xr = x + r * cols;
            double ss = 0;
            for (std::int64_t j = 0; j < cols; ++j) ss += static_cast<double>(xr[j]) * xr[j];
            const double s = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
            rstd[r] = static_cast<T>(s);
            for (std::int64_t j = 0; j < cols; ++j) y[r * cols + j] = static_cast<T>(xr[j] * s * w[j]);
        }
    }
    // y = x s w with s = (mean(x^2) + eps)^-1/2: dx = s (dy w) - x s^3 mean(dy w x); dw += dy x s.
    static void backward(const rms_norm_backward_args<T>& a) {
        const auto [dx, dw, dy, x, w, rstd, rows, cols] = a;
        for (std::int64_t r = 0; r < rows; ++r) {
            const T* xr = x + r * cols;
            const T* dyr = dy + r * cols;
            const double s = rstd[r];
            if (dx) {
                double dot = 0;
                for (std::int64_t j = 0; j < cols; ++j) dot += static_cast<double>(dyr[j]) * w[j] * xr[j];
                const double c = s * s * s * dot / static_cast<double>(cols);
                for (std::int64_t j = 0; j < cols; ++j) dx[r * cols + j] = static_cast<T>(s * dyr[j] * w[j] - c * xr[j]);
            }
            if (dw)
                for (std::int64_t j = 0; j < cols; ++j) dw[j] += static_cast<T>(dyr[j] * xr[j] * s);
        }
    }
};

}  // namespace recur::kernels
