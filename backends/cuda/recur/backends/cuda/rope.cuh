// CUDA rotary embedding: one rotated pair per thread, in either layout (rotate-half or interleaved),
// forward or inverse. Not here: the cos/sin tables (ops/rope.hpp builds them on the host once).
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/kernels/rope.hpp>

namespace recur::cuda_detail {

struct rope_fn {
    float* y;
    const float* x;
    const float* cos;
    const float* sin;
    std::int64_t t, h, half;
    bool interleaved, inverse;

    /// p indexes (b, t, h, i) row-major with i < D/2; y may alias x (each pair is read before written).
    __device__ void operator()(std::int64_t p) const {
        const std::int64_t i = p % half, head = p / half, ti = (head / h) % t;
        const std::int64_t base = head * 2 * half;
        const std::int64_t i1 = base + (interleaved ? 2 * i : i), i2 = base + (interleaved ? 2 * i + 1 : i + half);
        const float c = cos[ti * half + i], s = inverse ? -sin[ti * half + i] : sin[ti * half + i];
        const float x1 = x[i1], x2 = x[i2];
        y[i1] = x1 * c - x2 * s;
        y[i2] = x2 * c + x1 * s;
    }
};

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct rope<cuda> {
    static void run(const rope_args<float>& a) {
        const std::int64_t half = a.d / 2;
        cuda_detail::launch("rope", a.b * a.t * a.h * half,
                            cuda_detail::rope_fn{a.y, a.x, a.cos, a.sin, a.t, a.h, half,
                                                 a.layout == rope_layout::interleaved, a.inverse});
    }
};

}  // namespace recur::kernels
