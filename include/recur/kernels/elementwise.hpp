// Contracts of the element-wise and reduction kernels: broadcast add / mul, scaling, column sums
// (the backward of a broadcast) and the sum of all elements. Not here: the ops (recur/ops/
// elementwise.hpp, reduce.hpp, linear.hpp's bias) or the optimizer's fused updates (kernels/optim.hpp).
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

enum class binary_op { add, mul };

/// out[i] = a[i] op b[i % nb] for i < n: b broadcast over a's leading dims (nb divides n).
template <class T>
struct binary_args {
    T* out = nullptr;      // (n) written; may alias a
    const T* a = nullptr;  // (n)
    std::int64_t n = 0;
    const T* b = nullptr;  // (nb)
    std::int64_t nb = 0;
};

/// out[i] = s * x[i] for i < n.
template <class T>
struct scale_args {
    T* out = nullptr;      // (n) written; may alias x
    const T* x = nullptr;  // (n)
    std::int64_t n = 0;
    T s = 1;
};

/// out[j] += sum_i x[i, j] * (y ? y[i, j] : 1) for j < cols.
template <class T>
struct sum_rows_args {
    T* out = nullptr;      // (cols) accumulated
    const T* x = nullptr;  // (rows, cols)
    const T* y = nullptr;  // (rows, cols) or null
    std::int64_t rows = 0, cols = 0;
};

/// out[0] = sum_i x[i] for i < n, accumulated in at least double.
template <class T>
struct sum_all_args {
    T* out = nullptr;      // (1) written
    const T* x = nullptr;  // (n)
    std::int64_t n = 0;
};

namespace kernels {

/// Broadcast add / mul. Implemented by: reference, cpu, cuda.
template <class B>
struct binary : missing_kernel {
    static constexpr std::string_view name = "binary";
    template <binary_op Op>
    static void run(const binary_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'binary' kernel (specialise recur::kernels::binary<Backend>)");
    }
};

/// Scaling. Implemented by: reference, cpu, cuda.
template <class B>
struct scale : missing_kernel {
    static constexpr std::string_view name = "scale";
    static void run(const scale_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'scale' kernel (specialise recur::kernels::scale<Backend>)");
    }
};

/// Column sums (optionally of a product). Implemented by: reference, cpu, cuda.
template <class B>
struct sum_rows : missing_kernel {
    static constexpr std::string_view name = "sum_rows";
    static void run(const sum_rows_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'sum_rows' kernel (specialise recur::kernels::sum_rows<Backend>)");
    }
};

/// Sum of all elements. Implemented by: reference, cpu, cuda.
template <class B>
struct sum_all : missing_kernel {
    static constexpr std::string_view name = "sum_all";
    static void run(const sum_all_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'sum_all' kernel (specialise recur::kernels::sum_all<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
