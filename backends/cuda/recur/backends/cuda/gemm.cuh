// kernels::gemm for cuda: one cublasSgemmStridedBatched call per gemm_args, through a cuBLAS handle
// per thread. Not here: TF32 or reduced-precision math modes (cuBLAS's default full-f32 math is used).
#pragma once

#include <cstdint>
#include <limits>

#include <cublas_v2.h>

#include <recur/backends/cuda.hpp>

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
        cuda_detail::cublas_check(
            cublasSgemmStridedBatched(cuda_detail::cublas_handle(), g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, cublas_int(g.n, "n"), cublas_int(g.m, "m"),
                                      cublas_int(g.k, "k"), &g.alpha, g.b, cublas_int(g.ldb, "ldb"), g.stride_b, g.a,
                                      cublas_int(g.lda, "lda"), g.stride_a, &beta, g.c, cublas_int(g.ldc, "ldc"),
                                      g.stride_c, cublas_int(g.batch, "batch")),
            "cublasSgemmStridedBatched");
    }
};

}  // namespace recur::kernels
