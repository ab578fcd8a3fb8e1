// cpu embedding: row gather (forward) and scatter-add into the table (backward), threaded over
// rows and over columns respectively, so repeated ids never race. Not here: id validation (the op's).
#pragma once

#include <cstdint>
#include <cstring>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/embedding.hpp>

namespace recur::kernels {

template <>
struct embedding<cpu> {
    static void forward(const embedding_forward_args<float>& a) {
        float* const out = a.out;
        const std::int32_t* const ids = a.ids;
        const float* const table = a.table;
        const std::int64_t n = a.n, c = a.c;
        cpu_detail::parallel_rows(n, c, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t i = begin; i < end; ++i)
                std::memcpy(out + i * c, table + static_cast<std::int64_t>(ids[i]) * c, static_cast<std::size_t>(c) * sizeof(float));
        });
    }
    /// dtable[ids[i], :] += dout[i, :]. Threads own column ranges, so duplicate ids add in order.
    static void backward(const embedding_backward_args<float>& a) {
        float* const dtable = a.dtable;
        const std::int32_t* const ids = a.ids;
        const float* const dout = a.dout;
        const std::int64_t n = a.n, c = a.c;
        using namespace cpu_detail;
        parallel_ranges(c, n, [&](std::int64_t c0, std::int64_t c1) {
            for (std::int64_t i = 0; i < n; ++i) {
                float* d = dtable + static_cast<std::int64_t>(ids[i]) * c;
                const float* s = dout + i * c;
                simd_for(c0, c1, [&]<class V>(std::int64_t j) { write(d + j, load<V>(d + j) + load<V>(s + j)); });
            }
        });
    }
};

}  // namespace recur::kernels
