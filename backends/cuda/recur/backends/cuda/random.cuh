// CUDA keyed truncated normal (the recurrent state's initial noise): one value per thread from
// keyed::truncated_normal itself (RECUR_HOST_DEVICE in core/random.hpp), so cuda draws the values cpu
// and reference draw for the same keys. Not here: the sequential generator (host only).
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/core/random.hpp>
#include <recur/kernels/random.hpp>

namespace recur::cuda_detail {

struct keyed_truncated_normal_fn {
    float* out;
    std::int64_t t, c, pos0;
    std::uint64_t base;
    double std;

    __device__ void operator()(std::int64_t i) const {
        const std::int64_t row = i / c, k = i % c;
        const std::uint64_t key = keyed::row_key(base, row / t, pos0 + row % t);
        out[i] = static_cast<float>(std * keyed::truncated_normal(keyed::mix(key, static_cast<std::uint64_t>(k)), 3.0));
    }
};

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct keyed_truncated_normal<cuda> {
    static void run(const keyed_truncated_normal_args<float>& a) {
        cuda_detail::launch("keyed_truncated_normal", a.batch * a.t * a.c,
                            cuda_detail::keyed_truncated_normal_fn{a.out, a.t, a.c, a.pos0, a.base, a.std});
    }
};

}  // namespace recur::kernels
