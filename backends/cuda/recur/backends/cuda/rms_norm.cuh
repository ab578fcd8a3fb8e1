// CUDA RMSNorm: forward and dx with one block per row (the row's sums through block_sum), dw through
// the deterministic column sums of reduce.cuh. Not here: fusion with the residual add or the GEMM.
#pragma once

#include <algorithm>
#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/backends/cuda/reduce.cuh>
#include <recur/kernels/rms_norm.hpp>

namespace recur::cuda_detail {

/// Threads per block for a row of `cols`: a multiple of the warp size, at most block_threads.
inline unsigned row_threads(std::int64_t cols) {
    return static_cast<unsigned>(std::clamp<std::int64_t>((cols + 31) / 32 * 32, 32, block_threads));
}

template <class T>
__global__ void rms_norm_forward(T* y, T* rstd, const T* x, const T* w, std::int64_t cols, T eps) {
    const std::int64_t r = blockIdx.x;
    const float* xr = x + r * cols;
    float ss = 0;
    for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) ss += xr[j] * xr[j];
    ss = block_sum(ss);
    const float s = rsqrtf(ss / static_cast<float>(cols) + eps);
    if (threadIdx.x == 0) rstd[r] = s;
    for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) y[r * cols + j] = xr[j] * s * w[j];
}

/// dx = s dy w - x s^3 mean(dy w x), per row.
template <class T>
__global__ void rms_norm_dx(T* dx, const T* dy, const T* x, const T* w, const T* rstd, std::int64_t cols) {
    const std::int64_t r = blockIdx.x;
    const float *xr = x + r * cols, *dyr = dy + r * cols;
    float dot = 0;
    for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) dot += dyr[j] * w[j] * xr[j];
    dot = block_sum(dot);
    const float s = rstd[r], c = s * s * s * dot / static_cast<float>(cols);
    for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) dx[r * cols + j] = s * dyr[j] * w[j] - c * xr[j];
}

/// dy[r, j] x[r, j] rstd[r]: what dw[j] adds from row r.
struct rms_norm_dw_load {
    const float* dy;
    const float* x;
    const float* rstd;
    std::int64_t cols;
    __device__ float operator()(std::int64_t r, std::int64_t j) const { return dy[r * cols + j] * x[r * cols + j] * rstd[r]; }
};

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct rms_norm<cuda> {
    static void forward(const rms_norm_forward_args<float>& a) {
        using namespace cuda_detail;
        if (a.rows <= 0 || a.cols <= 0) return;
        check(a.rows <= 2147483647, "recur::cuda rms_norm: ", a.rows, " rows exceed one grid");
        rms_norm_forward<<<static_cast<unsigned>(a.rows), row_threads(a.cols)>>>(a.y, a.rstd, a.x, a.w, a.cols, a.eps);
        check_launch("rms_norm");
    }
    static void backward(const rms_norm_backward_args<float>& a) {
        using namespace cuda_detail;
        if (a.rows <= 0 || a.cols <= 0) return;
        check(a.rows <= 2147483647, "recur::cuda rms_norm: ", a.rows, " rows exceed one grid");
        if (a.dx) {
            rms_norm_dx<<<static_cast<unsigned>(a.rows), row_threads(a.cols)>>>(a.dx, a.dy, a.x, a.w, a.rstd, a.cols);
            check_launch("rms_norm backward (dx)");
        }
        if (a.dw) column_sums("rms_norm backward (dw)", a.rows, a.cols, rms_norm_dw_load{a.dy, a.x, a.rstd, a.cols}, a.dw);
    }
};

}  // namespace recur::kernels
