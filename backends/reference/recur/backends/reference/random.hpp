// Reference keyed truncated normal (the recurrent state's initial noise): one plain loop over
// keyed::truncated_normal. Not here: the sequential generator (core/random.hpp).
#pragma once

#include <cstdint>

#include <recur/core/random.hpp>
#include <recur/kernels/random.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct keyed_truncated_normal<basic_reference<T>> {
    static void run(const keyed_truncated_normal_args<T>& a) {
        T* const out = a.out;
        const std::int64_t batch = a.batch, t = a.t, c = a.c, pos0 = a.pos0;
        const std::uint64_t base = a.base;
        const double std = a.std;
        for (std::int64_t i = 0; i < batch; ++i)
            for (std::int64_t j = 0; j < t; ++j) {
                const std::uint64_t row = keyed::row_key(base, i, pos0 + j);
                T* o = out + (i * t + j) * c;
                for (std::int64_t k = 0; k < c; ++k)
                    o[k] = static_cast<T>(std * keyed::truncated_normal(keyed::mix(row, static_cast<std::uint64_t>(k)), 3.0));
            }
    }
};

}  // namespace recur::kernels
