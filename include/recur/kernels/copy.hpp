// Contracts of the kernels every backend needs for tensors themselves: fill, strided copy (or
// accumulate) and add-into (gradient accumulation). Not here: the tensor methods that call them
// (recur/core/tensor.hpp fill_ and copy_into, autograd/tape.hpp) or op kernels (one header per family
// beside this one); letters: core/dims.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/core/shape.hpp>
#include <recur/kernels/contract.hpp>

namespace recur {

/// dst[i] = value for i < n. E is the storage element: float, double, std::int32_t, or std::uint16_t
/// holding bf16 / f16 bits.
template <class E>
struct fill_args {
    E* dst = nullptr;  // (n) written
    std::int64_t n = 0;
    E value{};
};

/// For every index i = (i0, i1, i2, i3) < shape: dst[i . dst_strides] (= or +=) src[i . src_strides].
/// Shapes and strides (in elements) are padded to four dimensions with leading ones (pad4); dst and
/// src must not overlap. E as for fill_args; `accumulate` is for floating-point E only (gradients).
template <class E>
struct copy_strided_args {
    E* dst = nullptr;        // shape, strided by dst_strides; written, or accumulated when `accumulate`
    index4 dst_strides;
    const E* src = nullptr;  // shape, strided by src_strides
    index4 src_strides;
    index4 shape;            // extents, leading ones
    bool accumulate = false;
};

/// dst[i] += src[i] for i < n (gradient accumulation).
template <class T>
struct add_into_args {
    T* dst = nullptr;        // (n) accumulated
    const T* src = nullptr;  // (n)
    std::int64_t n = 0;
};

namespace kernels {

/// Fill with one value, of any storage element type. Implemented by: reference, cpu, cuda.
template <class B>
struct fill : missing_kernel {
    static constexpr std::string_view name = "fill";
    template <class E>
    static void run(const fill_args<E>&) {
        static_assert(no_kernel_for<B, E>, "recur: this backend has no 'fill' kernel (specialise recur::kernels::fill<Backend>)");
    }
};

/// Strided copy or accumulate, of any storage element type. Implemented by: reference, cpu, cuda.
template <class B>
struct copy_strided : missing_kernel {
    static constexpr std::string_view name = "copy_strided";
    template <class E>
    static void run(const copy_strided_args<E>&) {
        static_assert(no_kernel_for<B, E>, "recur: this backend has no 'copy_strided' kernel (specialise recur::kernels::copy_strided<Backend>)");
    }
};

/// Gradient accumulation. Implemented by: reference, cpu, cuda.
template <class B>
struct add_into : missing_kernel {
    static constexpr std::string_view name = "add_into";
    static void run(const add_into_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'add_into' kernel (specialise recur::kernels::add_into<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
