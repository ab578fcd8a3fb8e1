// CUDA cross-entropy: one block per row; forward takes the row's maximum and the sum of exponentials
// (block_max, block_sum) for its log-sum-exp, backward writes softmax minus one-hot scaled by the
// row's upstream gradient. Not here: target validation (the op's) or fusion with the LM-head GEMM.
#pragma once

#include <cstdint>

#include <recur/backends/cuda.hpp>
#include <recur/backends/cuda/core.cuh>
#include <recur/kernels/cross_entropy.hpp>

namespace recur::cuda_detail {

template <class T>
__global__ void cross_entropy_forward(T* loss, T* lse, const T* logits, const std::int32_t* targets, std::int64_t v,
                                      std::int32_t ignore) {
    const std::int64_t i = blockIdx.x;
    const float* row = logits + i * v;
    float mx = -INFINITY;
    for (std::int64_t j = threadIdx.x; j < v; j += blockDim.x) mx = fmaxf(mx, row[j]);
    mx = block_max(mx);
    float z = 0;
    for (std::int64_t j = threadIdx.x; j < v; j += blockDim.x) z += expf(row[j] - mx);
    z = block_sum(z);
    if (threadIdx.x == 0) {
        const float l = mx + logf(z);
        lse[i] = l;
        loss[i] = targets[i] == ignore ? 0.0f : l - row[targets[i]];
    }
}

template <class T>
__global__ void cross_entropy_backward(T* dlogits, const T* dloss, const T* logits, const T* lse,
                                       const std::int32_t* targets, std::int64_t v, std::int32_t ignore) {
    const std::int64_t i = blockIdx.x;
    const std::int32_t target = targets[i];
    const bool skip = target == ignore;
    const float l = lse[i], d = dloss[i];
    const float* row = logits + i * v;
    float* out = dlogits + i * v;
    for (std::int64_t j = threadIdx.x; j < v; j += blockDim.x)
        out[j] = skip ? 0.0f : d * (expf(row[j] - l) - (j == target ? 1.0f : 0.0f));
}

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct cross_entropy<cuda> {
    static void forward(const cross_entropy_forward_args<float>& a) {
        using namespace cuda_detail;
        if (a.n <= 0) return;
        check(a.n <= 2147483647, "recur::cuda cross_entropy: ", a.n, " rows exceed one grid");
        cross_entropy_forward<<<static_cast<unsigned>(a.n), block_threads>>>(a.loss, a.lse, a.logits, a.targets, a.v, a.ignore);
        check_launch("cross_entropy");
    }
    static void backward(const cross_entropy_backward_args<float>& a) {
        using namespace cuda_detail;
        if (a.n <= 0) return;
        check(a.n <= 2147483647, "recur::cuda cross_entropy: ", a.n, " rows exceed one grid");
        cross_entropy_backward<<<static_cast<unsigned>(a.n), block_threads>>>(a.dlogits, a.dloss, a.logits, a.lse,
                                                                              a.targets, a.v, a.ignore);
        check_launch("cross_entropy backward");
    }
};

}  // namespace recur::kernels
