// Reference GEMM: the triple loop, accumulating each dot product in double.
// Not here: blocking, threads, or anything else that makes it fast.
#pragma once

#include <cstdint>

#include <recur/ops/matmul.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct gemm<basic_reference<T>> {
    static void run(const gemm_args<T>& g) {
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
                        acc += static_cast<double>(a) * static_cast<double>(bv);
                    }
                    T& c = C[i * g.ldc + j];
                    c = static_cast<T>(g.alpha * acc + (g.accumulate ? static_cast<double>(c) : 0.0));
                }
        }
    }
};

}  // namespace recur::kernels
