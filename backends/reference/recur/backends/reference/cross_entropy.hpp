// Reference cross-entropy: max-subtracted log-sum-exp per row, softmax minus one-hot backward.
// Not here: target validation (the op checks targets before any kernel runs).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <recur/kernels/cross_entropy.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct cross_entropy<basic_reference<T>> {
    static void forward(const cross_entropy_forward_args<T>& a) {
        T *const loss = a.loss, *const lse = a.lse;
        const T* const logits = a.logits;
        const std::int32_t* const targets = a.targets;
        const std::int64_t n = a.n, v = a.v;
        const std::int32_t ignore = a.ignore;
        for (std::int64_t i = 0; i < n; ++i) {
            const T* row = logits + i * v;
            const double mx = *std::max_element(row, row + v);
            double z = 0;
            for (std::int64_t j = 0; j < v; ++j) z += std::exp(row[j] - mx);
            const double l = mx + std::log(z);
            lse[i] = static_cast<T>(l);
            loss[i] = targets[i] == ignore ? T(0) : static_cast<T>(l - row[targets[i]]);
        }
    }
    static void backward(const cross_entropy_backward_args<T>& a) {
        T* const dlogits = a.dlogits;
        const T *const dloss = a.dloss, *const logits = a.logits, *const lse = a.lse;
        const std::int32_t* const targets = a.targets;
        const std::int64_t n = a.n, v = a.v;
        const std::int32_t ignore = a.ignore;
        for (std::int64_t i = 0; i < n; ++i) {
            const bool skip = targets[i] == ignore;
            for (std::int64_t j = 0; j < v; ++j) {
                const double p = std::exp(static_cast<double>(logits[i * v + j]) - lse[i]);
                dlogits[i * v + j] = skip ? T(0) : static_cast<T>(dloss[i] * (p - (j == targets[i] ? 1.0 : 0.0)));
            }
        }
    }
};

}  // namespace recur::kernels
