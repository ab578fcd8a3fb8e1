// Deterministic reductions the cuda kernels share: the sum of a whole array (two passes through
// reduction_plan) and column sums of a (rows, cols) matrix (partials over fixed row chunks, then the
// chunks in order), each over a functor that loads the value to add. Fixed orders, no atomics: the
// same input gives the same bits on every run. Not here: the kernels using them (sum_all,
// sum_squares, sum_rows, rms_norm's dw).
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>

namespace recur::cuda_detail {

/// Pass 1 of reduce_all: block b adds load(i) for i = b * blockDim + thread, stepping by stride.
template <class A, class Load>
__global__ void partial_sums(std::int64_t n, std::int64_t stride, Load load, A* partial) {
    A acc = 0;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        acc += load(i);
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/// Pass 2 of reduce_all: one block adds the partials in a fixed order and stores store(sum).
template <class A, class Store>
__global__ void finish_sum(const A* partial, std::int64_t count, Store store) {
    A acc = 0;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) store(acc);
}

/// store(sum of load(i) for i < n), accumulated in A. Load: `__device__ A operator()(std::int64_t)`;
/// Store: `__device__ void operator()(A)`. n = 0 stores 0.
template <class A, class Load, class Store>
void reduce_all(const char* kernel, std::int64_t n, const Load& load, const Store& store) {
    const reduction_plan plan{n};
    scratch<A> partial(plan.blocks());
    partial_sums<A><<<static_cast<unsigned>(plan.blocks()), block_threads>>>(n, plan.stride(), load, partial.get());
    check_launch(kernel);
    finish_sum<A><<<1, block_threads>>>(partial.get(), plan.blocks(), store);
    check_launch(kernel);
}

/// Rows each partial of column_sums covers.
inline constexpr std::int64_t column_chunk_rows = 64;

/// Pass 1 of column_sums: thread (column j, chunk blockIdx.y) adds load(r, j) over its chunk's rows.
template <class Load>
__global__ void column_partials(std::int64_t rows, std::int64_t cols, Load load, float* partial) {
    const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * column_chunk_rows;
    const std::int64_t r1 = r0 + column_chunk_rows < rows ? r0 + column_chunk_rows : rows;
    float acc = 0;
    for (std::int64_t r = r0; r < r1; ++r) acc += load(r, j);
    partial[static_cast<std::int64_t>(blockIdx.y) * cols + j] = acc;
}

/// Pass 2 of column_sums: out[j] += the chunks' partials of column j, in chunk order.
template <class T>
__global__ void column_finish(const T* partial, std::int64_t chunks, std::int64_t cols, T* out) {
    const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    T acc = 0;
    for (std::int64_t c = 0; c < chunks; ++c) acc += partial[c * cols + j];
    out[j] += acc;
}

/// out[j] += sum over r < rows of load(r, j), for j < cols (Load: `__device__ float operator()(r, j)`).
/// Coalesced along columns, parallel over columns and chunks of column_chunk_rows rows.
template <class Load>
void column_sums(const char* kernel, std::int64_t rows, std::int64_t cols, const Load& load, float* out) {
    if (rows <= 0 || cols <= 0) return;
    const std::int64_t chunks = (rows + column_chunk_rows - 1) / column_chunk_rows;
    check(chunks <= 65535, "recur::cuda ", kernel, ": ", rows, " rows exceed the column reduction's ",
          65535 * column_chunk_rows);
    scratch<float> partial(chunks * cols);
    const unsigned column_blocks = static_cast<unsigned>((cols + block_threads - 1) / block_threads);
    column_partials<<<dim3(column_blocks, static_cast<unsigned>(chunks)), block_threads>>>(rows, cols, load, partial.get());
    check_launch(kernel);
    column_finish<<<column_blocks, block_threads>>>(partial.get(), chunks, cols, out);
    check_launch(kernel);
}

}  // namespace recur::cuda_detail
