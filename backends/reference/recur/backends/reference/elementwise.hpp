// Reference element-wise kernels: broadcast add/mul, scale, row sums, total sum.
// Not here: activations (activation.hpp).
#pragma once

#include <cstdint>

#include <recur/kernels/elementwise.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct binary<basic_reference<T>> {
    template <binary_op Op>
    static void run(const binary_args<T>& args) {
        T* const out = args.out;
        const T *const a = args.a, *const b = args.b;
        const std::int64_t n = args.n, nb = args.nb;
        for (std::int64_t i = 0; i < n; ++i) {
            const T y = b[i % nb];
            out[i] = Op == binary_op::add ? a[i] + y : a[i] * y;
        }
    }
};

template <class T>
struct scale<basic_reference<T>> {
    static void run(const scale_args<T>& args) {
        T* const out = args.out;
        const T* const x = args.x;
        const std::int64_t n = args.n;
        const T s = args.s;
        for (std::int64_t i = 0; i < n; ++i) out[i] = s * x[i];
    }
};

template <class T>
struct sum_rows<basic_reference<T>> {
    static void run(const sum_rows_args<T>& args) {
        T* const out = args.out;
        const T *const x = args.x, *const y = args.y;
        const std::int64_t rows = args.rows, cols = args.cols;
        for (std::int64_t j = 0; j < cols; ++j) {
            double acc = 0;
            for (std::int64_t i = 0; i < rows; ++i) acc += static_cast<double>(x[i * cols + j]) * (y ? y[i * cols + j] : T(1));
            out[j] += static_cast<T>(acc);
        }
    }
};

template <class T>
struct sum_all<basic_reference<T>> {
    static void run(const sum_all_args<T>& args) {
        T* const out = args.out;
        const T* const x = args.x;
        const std::int64_t n = args.n;
        double acc = 0;
        for (std::int64_t i = 0; i < n; ++i) acc += x[i];
        out[0] = static_cast<T>(acc);
    }
};

}  // namespace recur::kernels
