// Reference kernels for tensors themselves: fill, strided copy / accumulate, add-into.
// Not here: op kernels (one file per family beside this one).
#pragma once

#include <cstdint>
#include <type_traits>

#include <recur/kernels/copy.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct fill<basic_reference<T>> {
    template <class E>
    static void run(const fill_args<E>& a) {
        for (std::int64_t i = 0; i < a.n; ++i) a.dst[i] = a.value;
    }
};

template <class T>
struct copy_strided<basic_reference<T>> {
    template <class E>
    static void run(const copy_strided_args<E>& a) {
        E* const dst = a.dst;
        const E* const src = a.src;
        const index4 &ds = a.dst_strides, &ss = a.src_strides;
        const auto& n = a.shape.v;
        for (std::int64_t i0 = 0; i0 < n[0]; ++i0)
            for (std::int64_t i1 = 0; i1 < n[1]; ++i1)
                for (std::int64_t i2 = 0; i2 < n[2]; ++i2)
                    for (std::int64_t i3 = 0; i3 < n[3]; ++i3) {
                        E& out = dst[i0 * ds.v[0] + i1 * ds.v[1] + i2 * ds.v[2] + i3 * ds.v[3]];
                        const E in = src[i0 * ss.v[0] + i1 * ss.v[1] + i2 * ss.v[2] + i3 * ss.v[3]];
                        if constexpr (std::is_floating_point_v<E>) out = a.accumulate ? out + in : in;
                        else out = in;
                    }
    }
};

template <class T>
struct add_into<basic_reference<T>> {
    static void run(const add_into_args<T>& a) {
        for (std::int64_t i = 0; i < a.n; ++i) a.dst[i] += a.src[i];
    }
};

}  // namespace recur::kernels
