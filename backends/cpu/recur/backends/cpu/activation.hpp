// cpu SiLU and SwiGLU, forward and backward: one xsimd pass each (exp on batches), threaded above a
// size threshold. Not here: other activations, or fusing the gate into the preceding GEMM.
#pragma once

#include <cstdint>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/activation.hpp>

namespace recur::cpu_detail {

/// Elements per unit of work for kernels that evaluate one exp per element.
inline constexpr std::int64_t exp_cost = 8;

template <class V>
V sigmoid(V x) {
    return V(1.0f) / (V(1.0f) + xsimd::exp(-x));
}

}  // namespace recur::cpu_detail

namespace recur::kernels {

template <>
struct silu<cpu> {
    static void forward(const silu_forward_args<float>& a) {
        float* const y = a.y;
        const float* const x = a.x;
        const std::int64_t n = a.n;
        using namespace cpu_detail;
        simd_map(n, exp_cost, [&]<class V>(std::int64_t i) {
            const V v = load<V>(x + i);
            write(y + i, v * sigmoid(v));
        });
    }
    static void backward(const silu_backward_args<float>& a) {
        float* const dx = a.dx;
        const float *const x = a.x, *const dy = a.dy;
        const std::int64_t n = a.n;
        using namespace cpu_detail;
        simd_map(n, exp_cost, [&]<class V>(std::int64_t i) {
            const V v = load<V>(x + i), s = sigmoid(v);
            write(dx + i, load<V>(dy + i) * s * (V(1.0f) + v * (V(1.0f) - s)));
        });
    }
};

template <>
struct swiglu<cpu> {
    static void forward(const swiglu_forward_args<float>& a) {
        float* const y = a.y;
        const float *const gate = a.gate, *const up = a.up;
        const std::int64_t n = a.n;
        using namespace cpu_detail;
        simd_map(n, exp_cost, [&]<class V>(std::int64_t i) {
            const V g = load<V>(gate + i);
            write(y + i, g * sigmoid(g) * load<V>(up + i));
        });
    }
    static void backward(const swiglu_backward_args<float>& a) {
        float *const dgate = a.dgate, *const dup = a.dup;
        const float *const gate = a.gate, *const up = a.up, *const dy = a.dy;
        const std::int64_t n = a.n;
        using namespace cpu_detail;
        simd_map(n, exp_cost, [&]<class V>(std::int64_t i) {
            const V g = load<V>(gate + i), s = sigmoid(g), d = load<V>(dy + i);
            write(dup + i, d * g * s);
            write(dgate + i, d * load<V>(up + i) * s * (V(1.0f) + g * (V(1.0f) - s)));
        });
    }
};

}  // namespace recur::kernels
