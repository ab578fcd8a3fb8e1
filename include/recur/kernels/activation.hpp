// Contracts of the element-wise activation kernels: SiLU and the fused SwiGLU product, with their
// backward. Not here: the ops (recur/ops/activation.hpp); letters: core/dims.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>

namespace recur {

/// y = x sigmoid(x) over n contiguous elements.
template <class T>
struct silu_forward_args {
    T* y = nullptr;        // (n) written
    const T* x = nullptr;  // (n)
    std::int64_t n = 0;
};

/// dx = dy s (1 + x (1 - s)) with s = sigmoid(x).
template <class T>
struct silu_backward_args {
    T* dx = nullptr;        // (n) written
    const T* x = nullptr;   // (n)
    const T* dy = nullptr;  // (n)
    std::int64_t n = 0;
};

/// y = silu(gate) up over n contiguous elements (the MLP's (N, F) hidden product).
template <class T>
struct swiglu_forward_args {
    T* y = nullptr;           // (n) written
    const T* gate = nullptr;  // (n)
    const T* up = nullptr;    // (n)
    std::int64_t n = 0;
};

/// dgate = dy up silu'(gate), dup = dy silu(gate): both written.
template <class T>
struct swiglu_backward_args {
    T* dgate = nullptr;       // (n) written
    T* dup = nullptr;         // (n) written
    const T* gate = nullptr;  // (n)
    const T* up = nullptr;    // (n)
    const T* dy = nullptr;    // (n)
    std::int64_t n = 0;
};

namespace kernels {

/// SiLU forward and backward. Implemented by: reference, cpu, cuda.
template <class B>
struct silu : missing_kernel {
    static constexpr std::string_view name = "silu";
    static void forward(const silu_forward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'silu' kernel (specialise recur::kernels::silu<Backend>)");
    }
    static void backward(const silu_backward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'silu' kernel (specialise recur::kernels::silu<Backend>)");
    }
};

/// SwiGLU forward and backward. Implemented by: reference, cpu, cuda.
template <class B>
struct swiglu : missing_kernel {
    static constexpr std::string_view name = "swiglu";
    static void forward(const swiglu_forward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'swiglu' kernel (specialise recur::kernels::swiglu<Backend>)");
    }
    static void backward(const swiglu_backward_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'swiglu' kernel (specialise recur::kernels::swiglu<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
