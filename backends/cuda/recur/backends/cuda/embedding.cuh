// CUDA embedding: a row gather (forward) and a deterministic scatter-add (backward): thread (column
// j, partition p) adds, in row order, the rows whose id falls in partition p, so every table element
// has one writer and repeated ids add in the same order on every run (no atomics).
// Not here: id validation (the op's, before any kernel runs).
#pragma once

#include <algorithm>
#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/kernels/embedding.hpp>

namespace recur::cuda_detail {

struct embedding_gather_fn {
    float* out;
    const std::int32_t* ids;
    const float* table;
    std::int64_t c;
    __device__ void operator()(std::int64_t i) const {
        const std::int64_t row = i / c, j = i % c;
        out[i] = table[static_cast<std::int64_t>(ids[row]) * c + j];
    }
};

/// Thread (j, blockIdx.y): dtable[id, j] += dout[i, j] for the rows i whose id % gridDim.y is blockIdx.y.
template <class T>
__global__ void embedding_scatter(T* dtable, const std::int32_t* ids, const T* dout, std::int64_t n, std::int64_t c) {
    const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= c) return;
    const std::int32_t partitions = static_cast<std::int32_t>(gridDim.y), mine = static_cast<std::int32_t>(blockIdx.y);
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int32_t id = ids[i];
        if (id % partitions == mine) dtable[static_cast<std::int64_t>(id) * c + j] += dout[i * c + j];
    }
}

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct embedding<cuda> {
    static void forward(const embedding_forward_args<float>& a) {
        cuda_detail::launch("embedding", a.n * a.c, cuda_detail::embedding_gather_fn{a.out, a.ids, a.table, a.c});
    }
    /// Partitions: enough threads to fill the device, each scanning every id but loading only the
    /// rows of its partition (n / partitions of them).
    static void backward(const embedding_backward_args<float>& a) {
        using namespace cuda_detail;
        if (a.n <= 0 || a.c <= 0) return;
        const auto partitions = static_cast<unsigned>(std::clamp<std::int64_t>(a.n / 32, 1, 64));
        const auto column_blocks = static_cast<unsigned>((a.c + block_threads - 1) / block_threads);
        embedding_scatter<<<dim3(column_blocks, partitions), block_threads>>>(a.dtable, a.ids, a.dout, a.n, a.c);
        check_launch("embedding backward");
    }
};

}  // namespace recur::kernels
