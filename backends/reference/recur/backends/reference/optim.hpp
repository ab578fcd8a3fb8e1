// Reference optimizer kernels: sum of squares, the AdamW update, Muon's momentum and update, one plain
// loop each.
// Not here: the optimizers themselves (include/recur/optim/).
#pragma once

#include <cmath>
#include <cstdint>

#include <recur/kernels/optim.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct sum_squares<basic_reference<T>> {
    static void run(const sum_squares_args<T>& a) {
        const T* const x = a.x;
        double acc = 0;
        for (std::int64_t i = 0; i < a.n; ++i) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
        a.out[0] = acc;
    }
};

template <class T>
struct adamw_update<basic_reference<T>> {
    static void run(const adamw_update_args<T>& a) {
        T *const w = a.w, *const m = a.m, *const v = a.v;
        const T* const g = a.g;
        const std::int64_t n = a.n;
        const adamw_coefficients& c = a.coefficients;
        const T decay = static_cast<T>(c.decay), b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2);
        const T step = static_cast<T>(c.step_size), inv_bias2 = static_cast<T>(c.inv_sqrt_bias2), eps = static_cast<T>(c.eps);
        for (std::int64_t i = 0; i < n; ++i) {
            m[i] = b1 * m[i] + (T(1) - b1) * g[i];
            v[i] = b2 * v[i] + (T(1) - b2) * g[i] * g[i];
            w[i] = w[i] * decay - step * m[i] / (std::sqrt(v[i]) * inv_bias2 + eps);
        }
    }
};

template <class T>
struct muon_momentum<basic_reference<T>> {
    static void run(const muon_momentum_args<T>& a) {
        T *const m = a.m, *const u = a.u;
        const T* const g = a.g;
        const std::int64_t n = a.n;
        const T beta = a.beta;
        for (std::int64_t i = 0; i < n; ++i) {
            m[i] = beta * m[i] + (T(1) - beta) * g[i];
            u[i] = (T(1) - beta) * g[i] + beta * m[i];
        }
    }
};

template <class T>
struct muon_update<basic_reference<T>> {
    static void run(const muon_update_args<T>& a) {
        T* const w = a.w;
        const T* const x = a.x;
        const T decay = a.decay, step = a.step;
        for (std::int64_t i = 0; i < a.n; ++i) w[i] = w[i] * decay - step * x[i];
    }
};

}  // namespace recur::kernels
