// Reference cross-entropy: max-subtracted log-sum-exp per row, softmax minus one-hot backward.
// Not here: target validation (the op checks targets before any kernel runs).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <recur/ops/cross_entropy.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct cross_entropy<basic_reference<T>> {
    static void forward(T* loss, T* lse, const T* logits, const std::int32_t* targets, std::int64_t n, std::int64_t v,
                        std::int32_t ignore) {
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
    static void backward(T* dlogits, const T* dloss, const T* logits, const T* lse, const std::int32_t* targets,
                         std::int64_t n, std::int64_t v, std::int32_t ignore) {
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
