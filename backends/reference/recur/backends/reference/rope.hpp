// Reference rotary embedding: rotate each (x1, x2) pair of every head by its position's angle.
// Not here: table construction (ops/rope.hpp).
#pragma once

#include <cstdint>

#include <recur/kernels/rope.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct rope<basic_reference<T>> {
    static void run(const rope_args<T>& a) {
        T* const y = a.y;
        const T *const x = a.x, *const cos = a.cos, *const sin = a.sin;
        const std::int64_t b = a.b, t = a.t, h = a.h, d = a.d;
        const rope_layout layout = a.layout;
        const bool inverse = a.inverse;
        const std::int64_t half = d / 2;
        for (std::int64_t bi = 0; bi < b; ++bi)
            for (std::int64_t ti = 0; ti < t; ++ti)
                for (std::int64_t hi = 0; hi < h; ++hi) {
                    const std::int64_t base = ((bi * t + ti) * h + hi) * d;
                    for (std::int64_t i = 0; i < half; ++i) {
                        const std::int64_t i1 = layout == rope_layout::half ? i : 2 * i;
                        const std::int64_t i2 = layout == rope_layout::half ? i + half : 2 * i + 1;
                        const T c = cos[ti * half + i], s = inverse ? -sin[ti * half + i] : sin[ti * half + i];
                        const T x1 = x[base + i1], x2 = x[base + i2];
                        y[base + i1] = x1 * c - x2 * s;
                        y[base + i2] = x2 * c + x1 * s;
                    }
                }
    }
};

}  // namespace recur::kernels
