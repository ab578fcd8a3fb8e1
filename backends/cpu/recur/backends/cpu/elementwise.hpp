// cpu broadcast add/mul, scale, column sums and the total sum (sums in double), xsimd-vectorised and
// threaded above a size threshold. Not here: activations (activation.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include <recur/backends/cpu/core.hpp>
#include <recur/kernels/elementwise.hpp>

namespace recur::kernels {

template <>
struct binary<cpu> {
    /// out[i] = a[i] op b[i % nb]; out may alias a.
    template <binary_op Op>
    static void run(const binary_args<float>& args) {
        float* const out = args.out;
        const float *const a = args.a, *const b = args.b;
        const std::int64_t n = args.n, nb = args.nb;
        using namespace cpu_detail;
        const auto op = [](auto x, auto y) {
            if constexpr (Op == binary_op::add) return x + y;
            else return x * y;
        };
        if (nb == 1) {  // a scalar operand: one broadcast register
            const float s = b[0];
            simd_map(n, 1, [&]<class V>(std::int64_t i) { write(out + i, op(load<V>(a + i), V(s))); });
            return;
        }
        parallel_ranges(n, 1, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t i = begin; i < end;) {  // runs that stay inside one repeat of b
                const std::int64_t j = i % nb, len = std::min(end - i, nb - j);
                float* o = out + i;
                const float *x = a + i, *y = b + j;
                simd_for(0, len, [&]<class V>(std::int64_t t) { write(o + t, op(load<V>(x + t), load<V>(y + t))); });
                i += len;
            }
        });
    }
};

template <>
struct scale<cpu> {
    static void run(const scale_args<float>& args) {
        float* const out = args.out;
        const float* const x = args.x;
        const std::int64_t n = args.n;
        const float s = args.s;
        using namespace cpu_detail;
        simd_map(n, 1, [&]<class V>(std::int64_t i) { write(out + i, V(s) * load<V>(x + i)); });
    }
};

template <>
struct sum_rows<cpu> {
    /// out[j] += sum_i x[i, j] * (y ? y[i, j] : 1), accumulated in double.
    static void run(const sum_rows_args<float>& args) {
        float* const out = args.out;
        const float *const x = args.x, *const y = args.y;
        const std::int64_t rows = args.rows, cols = args.cols;
        using namespace cpu_detail;
        const auto columns = [&](auto term) {
            reduce_rows(out, rows, cols, cols, [&](std::int64_t r0, std::int64_t r1, double* acc) {
                for (std::int64_t r = r0; r < r1; ++r) {
                    const std::int64_t row = r * cols;
                    simd_for<xsimd::batch<double>>(0, cols, [&]<class V>(std::int64_t j) {
                        write(acc + j, load<V>(acc + j) + term.template operator()<V>(row + j));
                    });
                }
            });
        };
        if (y) columns([&]<class V>(std::int64_t i) { return load<V>(x + i) * load<V>(y + i); });
        else columns([&]<class V>(std::int64_t i) { return load<V>(x + i); });
    }
};

template <>
struct sum_all<cpu> {
    /// out[0] = sum of x in double: fixed-size blocks summed in parallel, then added in order, so
    /// the result does not depend on the thread count.
    static void run(const sum_all_args<float>& args) {
        float* const out = args.out;
        const float* const x = args.x;
        const std::int64_t n = args.n;
        using namespace cpu_detail;
        using dbatch = xsimd::batch<double>;
        constexpr std::int64_t dl = static_cast<std::int64_t>(dbatch::size), block = std::int64_t{1} << 14;
        const std::int64_t blocks = (n + block - 1) / block;
        const auto block_sum = [&](std::int64_t c) {
            const std::int64_t begin = c * block, end = std::min(n, begin + block);
            dbatch s0(0.0), s1(0.0);
            std::int64_t i = begin;
            for (; i + 2 * dl <= end; i += 2 * dl) {
                s0 += dbatch::load_unaligned(x + i);
                s1 += dbatch::load_unaligned(x + i + dl);
            }
            double s = xsimd::hadd(s0 + s1);
            for (; i < end; ++i) s += x[i];
            return s;
        };
        struct tag;
        double* partial = thread_buffer<tag, double>(static_cast<std::size_t>(std::max<std::int64_t>(blocks, 1)));
        parallel_for(blocks, block, [&](std::int64_t c) { partial[c] = block_sum(c); });
        double total = 0;
        for (std::int64_t c = 0; c < blocks; ++c) total += partial[c];
        out[0] = static_cast<float>(total);
    }
};

}  // namespace recur::kernels
