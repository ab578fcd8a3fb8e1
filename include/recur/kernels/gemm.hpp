// Contract of the GEMM kernel: strided batched C = alpha op(A) op(B) (+ C) in the precision asked for.
// Not here: reading tensors as operands and the matmul op built on it (recur/ops/matmul.hpp).
#pragma once

#include <cstdint>
#include <string_view>

#include <recur/kernels/contract.hpp>
#include <recur/ops/matmul_precision.hpp>

namespace recur {

/// Arguments of a strided batched GEMM: for each i < batch,
/// C_i = alpha * op(A_i) op(B_i) (+ C_i if accumulate), op(A_i) (m, k), op(B_i) (k, n), C_i (m, n).
/// Matrices are row-major with leading dimension ld; `trans` means the stored matrix is op(X)^T.
/// A batch stride of 0 reuses one matrix for every batch (C's stride is never 0).
/// `precision` says how A and B are read: f32 as they are, bf16 / tf32 with every element rounded
/// (nearest even) to bfloat16 / TensorFloat-32 before the products; products are summed in at least
/// f32 in every case. A backend computes exactly the precision asked for, or throws recur::error
/// naming it (never another precision silently).
template <class T>
struct gemm_args {
    std::int64_t batch = 1, m = 0, n = 0, k = 0;
    const T* a = nullptr;  // op(A_i) (m, k)
    std::int64_t lda = 0, stride_a = 0;
    bool trans_a = false;
    const T* b = nullptr;  // op(B_i) (k, n)
    std::int64_t ldb = 0, stride_b = 0;
    bool trans_b = false;
    T* c = nullptr;  // C_i (m, n)
    std::int64_t ldc = 0, stride_c = 0;
    T alpha = 1;
    bool accumulate = false;
    matmul_precision precision = matmul_precision::f32;
};

namespace kernels {

/// The GEMM of gemm_args. Implemented by: reference (f32, bf16, tf32 by rounding), cpu (oneDNN: f32;
/// bf16 where the CPU has AMX / avx512_bf16; no tf32), cuda (cuBLAS: f32, tf32 and bf16 tensor-core math).
template <class B>
struct gemm : missing_kernel {
    static constexpr std::string_view name = "gemm";
    static void run(const gemm_args<typename B::scalar>&) {
        static_assert(no_kernel_for<B>, "recur: this backend has no 'gemm' kernel (specialise recur::kernels::gemm<Backend>)");
    }
};

}  // namespace kernels
}  // namespace recur
