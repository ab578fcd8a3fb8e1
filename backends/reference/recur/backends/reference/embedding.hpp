// Reference embedding gather and scatter-add.
// Not here: id validation (the op checks ids before any kernel runs).
#pragma once

#include <cstdint>

#include <recur/kernels/embedding.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct embedding<basic_reference<T>> {
    static void forward(const embedding_forward_args<T>& a) {
        T* const out = a.out;
        const std::int32_t* const ids = a.ids;
        const T* const table = a.table;
        const std::int64_t n = a.n, c = a.c;
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < c; ++j) out[i * c + j] = table[ids[i] * c + j];
    }
    static void backward(const embedding_backward_args<T>& a) {
        T* const dtable = a.dtable;
        const std::int32_t* const ids = a.ids;
        const T* const dout = a.dout;
        const std::int64_t n = a.n, c = a.c;
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < c; ++j) dtable[ids[i] * c + j] += dout[i * c + j];
    }
};

}  // namespace recur::kernels
