// Reference SiLU and SwiGLU, forward and backward.
// Not here: other activations.
#pragma once

#include <cmath>
#include <cstdint>

#include <recur/kernels/activation.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

namespace detail_ref {
template <class T>
T sigmoid(T x) {
    return T(1) / (T(1) + std::exp(-x));
}
}  // namespace detail_ref

template <class T>
struct silu<basic_reference<T>> {
    static void forward(const silu_forward_args<T>& a) {
        T* const y = a.y;
        const T* const x = a.x;
        const std::int64_t n = a.n;
        for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * detail_ref::sigmoid(x[i]);
    }
    static void backward(const silu_backward_args<T>& a) {
        T* const dx = a.dx;
        const T *const x = a.x, *const dy = a.dy;
        const std::int64_t n = a.n;
        for (std::int64_t i = 0; i < n; ++i) {
            const T s = detail_ref::sigmoid(x[i]);
            dx[i] = dy[i] * s * (T(1) + x[i] * (T(1) - s));
        }
    }
};

template <class T>
struct swiglu<basic_reference<T>> {
    static void forward(const swiglu_forward_args<T>& a) {
        T* const y = a.y;
        const T *const gate = a.gate, *const up = a.up;
        const std::int64_t n = a.n;
        for (std::int64_t i = 0; i < n; ++i) y[i] = gate[i] * detail_ref::sigmoid(gate[i]) * up[i];
    }
    static void backward(const swiglu_backward_args<T>& a) {
        T *const dgate = a.dgate, *const dup = a.dup;
        const T *const gate = a.gate, *const up = a.up, *const dy = a.dy;
        const std::int64_t n = a.n;
        for (std::int64_t i = 0; i < n; ++i) {
            const T s = detail_ref::sigmoid(gate[i]);
            dup[i] = dy[i] * gate[i] * s;
            dgate[i] = dy[i] * up[i] * s * (T(1) + gate[i] * (T(1) - s));
        }
    }
};

}  // namespace recur::kernels
