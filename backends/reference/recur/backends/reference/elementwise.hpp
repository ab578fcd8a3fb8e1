// Reference element-wise kernels: broadcast add/mul, scale, row sums, total sum.
// Not here: activations (activation.hpp).
#pragma once

#include <cstdint>

#include <recur/ops/elementwise.hpp>
#include <recur/ops/reduce.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct binary<basic_reference<T>> {
    template <binary_op Op>
    static void run(T* out, const T* a, std::int64_t n, const T* b, std::int64_t nb) {
        for (std::int64_t i = 0; i < n; ++i) {
            const T y = b[i % nb];
            out[i] = Op == binary_op::add ? a[i] + y : a[i] * y;
        }
    }
};

template <class T>
struct scale<basic_reference<T>> {
    static void run(T* out, const T* x, std::int64_t n, T s) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = s * x[i];
    }
};

template <class T>
struct sum_rows<basic_reference<T>> {
    static void run(T* out, const T* x, const T* y, std::int64_t rows, std::int64_t cols) {
        for (std::int64_t j = 0; j < cols; ++j) {
            double acc = 0;
            for (std::int64_t i = 0; i < rows; ++i) acc += static_cast<double>(x[i * cols + j]) * (y ? y[i * cols + j] : T(1));
            out[j] += static_cast<T>(acc);
        }
    }
};

template <class T>
struct sum_all<basic_reference<T>> {
    static void run(T* out, const T* x, std::int64_t n) {
        double acc = 0;
        for (std::int64_t i = 0; i < n; ++i) acc += x[i];
        out[0] = static_cast<T>(acc);
    }
};

}  // namespace recur::kernels
