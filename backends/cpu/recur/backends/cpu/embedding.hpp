// cpu embedding: row gather (forward) and scatter-add into the table (backward), threaded over
// rows and over columns respectively, so repeated ids never race. Not here: id validation (the op's).
#pragma once

#include <cstdint>
#include <cstring>

#include <recur/backends/cpu/core.hpp>
#include <recur/ops/embedding.hpp>

namespace recur::kernels {

template <>
struct embedding<cpu> {
    static void forward(float* out, const std::int32_t* ids, const float* table, std::int64_t n, std::int64_t c) {
        cpu_detail::parallel_rows(n, c, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t i = begin; i < end; ++i)
                std::memcpy(out + i * c, table + static_cast<std::int64_t>(ids[i]) * c, static_cast<std::size_t>(c) * sizeof(float));
        });
    }
    /// dtable[ids[i], :] += dout[i, :]. Threads own column ranges, so duplicate ids add in order.
    static void backward(float* dtable, const std::int32_t* ids, const float* dout, std::int64_t n, std::int64_t c) {
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
