// RECUR_HOST_DEVICE: marks the math every backend shares (keyed random numbers, index arithmetic,
// tile plans) as callable from CUDA device code as well as from the host, so the CPU tests exercise
// the very functions the cuda kernels run. Not here: anything CUDA-only (backends/cuda/).
#pragma once

#if defined(__CUDACC__)
#define RECUR_HOST_DEVICE __host__ __device__
#else
#define RECUR_HOST_DEVICE
#endif
