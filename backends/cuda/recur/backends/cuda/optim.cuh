// CUDA optimizer kernels: the sum of squares in double (reduce.cuh's deterministic two passes), and
// AdamW's update, Muon's momentum and Muon's update, each one pass over the parameter.
// Not here: the optimizers (include/recur/optim/), Newton-Schulz (GEMMs through kernels::gemm).
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/backends/cuda/reduce.cuh>
#include <recur/kernels/optim.hpp>

namespace recur::cuda_detail {

struct square_double {
    const float* x;
    __device__ double operator()(std::int64_t i) const {
        const double v = x[i];
        return v * v;
    }
};

struct store_double {
    double* out;
    __device__ void operator()(double sum) const { out[0] = sum; }
};

struct adamw_fn {
    float *w, *m, *v;
    const float* g;
    float decay, b1, b2, step, inv_bias2, eps;
    __device__ void operator()(std::int64_t i) const {
        const float gi = g[i];
        const float mi = b1 * m[i] + (1.0f - b1) * gi, vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * decay - step * mi / (sqrtf(vi) * inv_bias2 + eps);
    }
};

struct muon_momentum_fn {
    float *m, *u;
    const float* g;
    float beta;
    __device__ void operator()(std::int64_t i) const {
        const float mi = beta * m[i] + (1.0f - beta) * g[i];
        m[i] = mi;
        u[i] = (1.0f - beta) * g[i] + beta * mi;
    }
};

struct muon_update_fn {
    float* w;
    const float* x;
    float decay, step;
    __device__ void operator()(std::int64_t i) const { w[i] = w[i] * decay - step * x[i]; }
};

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct sum_squares<cuda> {
    static void run(const sum_squares_args<float>& a) {
        cuda_detail::reduce_all<double>("sum_squares", a.n, cuda_detail::square_double{a.x}, cuda_detail::store_double{a.out});
    }
};

template <>
struct adamw_update<cuda> {
    static void run(const adamw_update_args<float>& a) {
        const adamw_coefficients& c = a.coefficients;
        cuda_detail::launch("adamw_update", a.n,
                            cuda_detail::adamw_fn{a.w, a.m, a.v, a.g, static_cast<float>(c.decay), static_cast<float>(c.beta1),
                                                  static_cast<float>(c.beta2), static_cast<float>(c.step_size),
                                                  static_cast<float>(c.inv_sqrt_bias2), static_cast<float>(c.eps)});
    }
};

template <>
struct muon_momentum<cuda> {
    static void run(const muon_momentum_args<float>& a) {
        cuda_detail::launch("muon_momentum", a.n, cuda_detail::muon_momentum_fn{a.m, a.u, a.g, a.beta});
    }
};

template <>
struct muon_update<cuda> {
    static void run(const muon_update_args<float>& a) {
        cuda_detail::launch("muon_update", a.n, cuda_detail::muon_update_fn{a.w, a.x, a.decay, a.step});
    }
};

}  // namespace recur::kernels
