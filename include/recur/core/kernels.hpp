// Kernels every backend needs for tensors themselves: fill, strided copy (and accumulate), add-into.
// Not here: op kernels; each op header declares its own. Backends specialise these templates.
#pragma once

#include <cstdint>

#include <recur/core/backend.hpp>
#include <recur/core/shape.hpp>

namespace recur::kernels {

/// dst[i] = value for i < n.
template <class B>
struct fill {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'fill' kernel (specialise recur::kernels::fill<Backend>)");
};

/// For every index (i0, i1, i2, i3) < shape: dst[i . dst_strides] (= or +=) src[i . src_strides].
/// Shapes and strides are padded to four dimensions; dst and src must not overlap.
template <class B>
struct copy_strided {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'copy_strided' kernel (specialise recur::kernels::copy_strided<Backend>)");
};

/// dst[i] += src[i] for i < n (gradient accumulation).
template <class B>
struct add_into {
    static_assert(no_kernel_for<B>, "recur: this backend has no 'add_into' kernel (specialise recur::kernels::add_into<Backend>)");
};

}  // namespace recur::kernels
