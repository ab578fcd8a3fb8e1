// CUDA SiLU and SwiGLU, forward and backward: one element per thread on core.cuh's launch.
// Not here: fusion with the GEMMs around them (cuBLASLt epilogues).
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/kernels/activation.hpp>

namespace recur::cuda_detail {

__device__ inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

struct silu_forward_fn {
    float* y;
    const float* x;
    __device__ void operator()(std::int64_t i) const { y[i] = x[i] * sigmoid(x[i]); }
};

struct silu_backward_fn {
    float* dx;
    const float* x;
    const float* dy;
    __device__ void operator()(std::int64_t i) const {
        const float s = sigmoid(x[i]);
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
};

struct swiglu_forward_fn {
    float* y;
    const float* gate;
    const float* up;
    __device__ void operator()(std::int64_t i) const { y[i] = gate[i] * sigmoid(gate[i]) * up[i]; }
};

struct swiglu_backward_fn {
    float* dgate;
    float* dup;
    const float* gate;
    const float* up;
    const float* dy;
    __device__ void operator()(std::int64_t i) const {
        const float g = gate[i], s = sigmoid(g), d = dy[i];
        dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
        dup[i] = d * g * s;
    }
};

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct silu<cuda> {
    static void forward(const silu_forward_args<float>& a) {
        cuda_detail::launch("silu", a.n, cuda_detail::silu_forward_fn{a.y, a.x});
    }
    static void backward(const silu_backward_args<float>& a) {
        cuda_detail::launch("silu backward", a.n, cuda_detail::silu_backward_fn{a.dx, a.x, a.dy});
    }
};

template <>
struct swiglu<cuda> {
    static void forward(const swiglu_forward_args<float>& a) {
        cuda_detail::launch("swiglu", a.n, cuda_detail::swiglu_forward_fn{a.y, a.gate, a.up});
    }
    static void backward(const swiglu_backward_args<float>& a) {
        cuda_detail::launch("swiglu backward", a.n, cuda_detail::swiglu_backward_fn{a.dgate, a.dup, a.gate, a.up, a.dy});
    }
};

}  // namespace recur::kernels
