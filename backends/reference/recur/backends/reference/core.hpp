// Reference kernels for tensors themselves: fill, strided copy / accumulate, add-into.
// Not here: op kernels (one file per op beside this one).
#pragma once

#include <cstdint>

#include <recur/core/kernels.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct fill<basic_reference<T>> {
    template <class E>
    static void run(E* dst, std::int64_t n, E value) {
        for (std::int64_t i = 0; i < n; ++i) dst[i] = value;
    }
};

template <class T>
struct copy_strided<basic_reference<T>> {
    template <class E>
    static void run(E* dst, const index4& ds, const E* src, const index4& ss, const index4& shape, bool accumulate) {
        const auto& n = shape.v;
        for (std::int64_t a = 0; a < n[0]; ++a)
            for (std::int64_t b = 0; b < n[1]; ++b)
                for (std::int64_t c = 0; c < n[2]; ++c)
                    for (std::int64_t d = 0; d < n[3]; ++d) {
                        E& out = dst[a * ds.v[0] + b * ds.v[1] + c * ds.v[2] + d * ds.v[3]];
                        const E in = src[a * ss.v[0] + b * ss.v[1] + c * ss.v[2] + d * ss.v[3]];
                        if constexpr (std::is_floating_point_v<E>) out = accumulate ? out + in : in;
                        else out = in;
                    }
    }
};

template <class T>
struct add_into<basic_reference<T>> {
    static void run(T* dst, const T* src, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
    }
};

}  // namespace recur::kernels
