// Reference embedding gather and scatter-add.
// Not here: id validation (the op checks ids before any kernel runs).
#pragma once

#include <cstdint>

#include <recur/ops/embedding.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct embedding<basic_reference<T>> {
    static void forward(T* out, const std::int32_t* ids, const T* table, std::int64_t n, std::int64_t c) {
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < c; ++j) out[i * c + j] = table[ids[i] * c + j];
    }
    static void backward(T* dtable, const std::int32_t* ids, const T* dout, std::int64_t n, std::int64_t c) {
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < c; ++j) dtable[ids[i] * c + j] += dout[i * c + j];
    }
};

}  // namespace recur::kernels
