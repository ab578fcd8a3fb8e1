// Reference SiLU and SwiGLU, forward and backward.
// Not here: other activations.
#pragma once

#include <cmath>
#include <cstdint>

#include <recur/ops/activation.hpp>

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
    static void forward(T* y, const T* x, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * detail_ref::sigmoid(x[i]);
    }
    static void backward(T* dx, const T* x, const T* dy, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) {
            const T s = detail_ref::sigmoid(x[i]);
            dx[i] = dy[i] * s * (T(1) + x[i] * (T(1) - s));
        }
    }
};

template <class T>
struct swiglu<basic_reference<T>> {
    static void forward(T* y, const T* gate, const T* up, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) y[i] = gate[i] * detail_ref::sigmoid(gate[i]) * up[i];
    }
    static void backward(T* dgate, T* dup, const T* gate, const T* up, const T* dy, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) {
            const T s = detail_ref::sigmoid(gate[i]);
            dup[i] = dy[i] * gate[i] * s;
            dgate[i] = dy[i] * up[i] * s * (T(1) + gate[i] * (T(1) - s));
        }
    }
};

}  // namespace recur::kernels
