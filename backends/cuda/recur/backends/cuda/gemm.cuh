// kernels::gemm for cuda: one cublasGemmStridedBatchedEx call per gemm_args, through a cuBLAS handle
// per thread, with the compute type of the precision asked for: CUBLAS_COMPUTE_32F (f32; the handle
// keeps CUBLAS_DEFAULT_MATH, so no TF32), _FAST_TF32 (tf32) or _FAST_16BF (bf16 operands, f32
// accumulation). Not here: cuBLASLt epilogues.
#pragma once

#include <cstdint>
#include <limits>

#include <cublas_v2.h>

#include <recur/backends/cuda.hpp>
#include <recur/kernels/gemm.hpp>

namespace recur::cuda_detail {

inline void cublas_check(cublasStatus_t status, const char* what) {
    if (status != CUBLAS_STATUS_SUCCESS)
        fail("recur::cuda: ", what, " failed: ", cublasGetStatusName(status), " (", cublasGetStatusString(status), ")");
}

/// The calling thread's cuBLAS handle (on the default stream): created on first use, destroyed
/// when the thread exits.
inline cublasHandle_t cublas_handle() {
    struct owner {
        cublasHandle_t handle = nullptr;
        ~owner() {
            if (handle) static_cast<void>(cublasDestroy(handle));
        }
    };
    thread_local owner t;
    if (!t.handle) cublas_check(cublasCreate(&t.handle), "cublasCreate");
    return t.handle;
}

/// cuBLAS's sizes are 32-bit: v as an int, or recur::error naming the argument.
inline int cublas_int(std::int64_t v, const char* what) {
    check(v <= std::numeric_limits<int>::max(), "recur::cuda gemm: ", what, " = ", v, " exceeds cuBLAS's limit of ",
          std::numeric_limits<int>::max());
    return static_cast<int>(v);
}

}  // namespace recur::cuda_detail

namespace recur::kernels {

template <>
struct gemm<cuda> {
    /// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix read
    /// column-major is its transpose: so B goes first and each operand keeps its own trans flag.
    static void run(const gemm_args<float>& g) {
        using cuda_detail::cublas_int;
        if (g.batch == 0 || g.m == 0 || g.n == 0) return;
        const float beta = g.accumulate ? 1.0f : 0.0f;
        const cublasComputeType_t compute = g.precision == matmul_precision::bf16   ? CUBLAS_COMPUTE_32F_FAST_16BF
                                            : g.precision == matmul_precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                                    : CUBLAS_COMPUTE_32F;
        cuda_detail::cublas_check(
            cublasGemmStridedBatchedEx(cuda_detail::cublas_handle(), g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                       g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, cublas_int(g.n, "n"), cublas_int(g.m, "m"),
                                       cublas_int(g.k, "k"), &g.alpha, g.b, CUDA_R_32F, cublas_int(g.ldb, "ldb"),
                                       g.stride_b, g.a, CUDA_R_32F, cublas_int(g.lda, "lda"), g.stride_a, &beta, g.c,
                                       CUDA_R_32F, cublas_int(g.ldc, "ldc"), g.stride_c, cublas_int(g.batch, "batch"),
                                       compute, CUBLAS_GEMM_DEFAULT),
            "cublasGemmStridedBatchedEx");
    }
};

}  // namespace recur::kernels
