// Reference GEMM: the triple loop, accumulating each dot product in double (operands rounded to
// bf16 / tf32 first under matmul_precision::bf16 / tf32).
// Not here: blocking, threads, or anything else that makes it fast.
#pragma once

#include <cstdint>

#include <recur/core/dtype.hpp>
#include <recur/kernels/gemm.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct gemm<basic_reference<T>> {
    static void run(const gemm_args<T>& g) {
        const auto operand = [p = g.precision](T x) {
            switch (p) {
                case matmul_precision::bf16: return static_cast<double>(bf16_to_f32(f32_to_bf16(static_cast<float>(x))));
                case matmul_precision::tf32: return static_cast<double>(f32_round_to_tf32(static_cast<float>(x)));
                case matmul_precision::f32: break;
            }
            return static_cast<double>(x);
        };
        for (std::int64_t b = 0; b < g.batch; ++b) {
            const T* A = g.a + b * g.stride_a;
            const T* Bm = g.b + b * g.stride_b;
            T* C = g.c + b * g.stride_c;
            for (std::int64_t i = 0; i < g.m; ++i)
                for (std::int64_t j = 0; j < g.n; ++j) {
                    double acc = 0;
                    for (std::int64_t p = 0; p < g.k; ++p) {
                        const T a = g.trans_a ? A[p * g.lda + i] : A[i * g.lda + p];
                        const T bv = g.trans_b ? Bm[j * g.ldb + p] : Bm[p * g.ldb + j];
                        acc += operand(a) * operand(bv);
                    }
                    T& c = C[i * g.ldc + j];
                    c = static_cast<T>(g.alpha * acc + (g.accumulate ? static_cast<double>(c) : 0.0));
                }
        }
    }
};

}  // namespace recur::kernels
