// Reference causal GQA attention: one query row at a time (a row of scores, never a T x T matrix),
// in double; backward recomputes probabilities from the saved log-sum-exp.
// Not here: tiling or threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <recur/kernels/attention.hpp>

namespace recur {
template <class T> struct basic_reference;
}

namespace recur::kernels {

template <class T>
struct attention<basic_reference<T>> {
    static double dot(const T* x, const T* y, std::int64_t n) {
        double s = 0;
        for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * y[i];
        return s;
    }

    static void forward(const attention_forward_args<T>& a) {
        const attention_shape& L = a.shape;
        const std::int64_t group = L.group(), D = L.head_dim;
        std::vector<double> s(static_cast<std::size_t>(L.tk)), acc(static_cast<std::size_t>(D));
        for (std::int64_t b = 0; b < L.batch; ++b)
            for (std::int64_t h = 0; h < L.heads; ++h)
                for (std::int64_t i = 0; i < L.tq; ++i) {
                    const T* q = a.q + L.q_at(b, i, h);
                    const std::int64_t n = L.visible(i);
                    double mx = -std::numeric_limits<double>::infinity();
                    for (std::int64_t j = 0; j < n; ++j) {
                        s[static_cast<std::size_t>(j)] = a.scale * dot(q, a.k + L.kv_at(b, j, h / group), D);
                        mx = std::max(mx, s[static_cast<std::size_t>(j)]);
                    }
                    double z = 0;
                    std::fill(acc.begin(), acc.end(), 0.0);
                    for (std::int64_t j = 0; j < n; ++j) {
                        const double p = std::exp(s[static_cast<std::size_t>(j)] - mx);
                        z += p;
                        const T* v = a.v + L.kv_at(b, j, h / group);
                        for (std::int64_t d = 0; d < D; ++d) acc[static_cast<std::size_t>(d)] += p * v[d];
                    }
                    T* o = a.o + L.q_at(b, i, h);
                    for (std::int64_t d = 0; d < D; ++d) o[d] = static_cast<T>(acc[static_cast<std::size_t>(d)] / z);
                    a.lse[L.lse_at(b, h, i)] = static_cast<T>(mx + std::log(z));
                }
    }

    static void backward(const attention_backward_args<T>& a) {
        const attention_shape& L = a.shape;
        const std::int64_t group = L.group(), D = L.head_dim;
        std::fill(a.dk, a.dk + L.batch * L.tk * L.kv_heads * D, T(0));
        std::fill(a.dv, a.dv + L.batch * L.tk * L.kv_heads * D, T(0));
        std::vector<double> dq(static_cast<std::size_t>(D));
        for (std::int64_t b = 0; b < L.batch; ++b)
            for (std::int64_t h = 0; h < L.heads; ++h)
                for (std::int64_t i = 0; i < L.tq; ++i) {
                    const std::int64_t qi = L.q_at(b, i, h);
                    const T *q = a.q + qi, *o = a.o + qi, *d_o = a.d_o + qi;
                    const double lse = a.lse[L.lse_at(b, h, i)];
                    const double delta = dot(d_o, o, D);  // rowsum(dO * O)
                    std::fill(dq.begin(), dq.end(), 0.0);
                    for (std::int64_t j = 0; j < L.visible(i); ++j) {
                        const std::int64_t kj = L.kv_at(b, j, h / group);
                        const T *k = a.k + kj, *v = a.v + kj;
                        const double p = std::exp(a.scale * dot(q, k, D) - lse);
                        const double ds = p * (dot(d_o, v, D) - delta);
                        for (std::int64_t d = 0; d < D; ++d) {
                            dq[static_cast<std::size_t>(d)] += a.scale * ds * k[d];
                            a.dk[kj + d] += static_cast<T>(a.scale * ds * q[d]);
                            a.dv[kj + d] += static_cast<T>(p * d_o[d]);
                        }
                    }
                    for (std::int64_t d = 0; d < D; ++d) a.dq[qi + d] = static_cast<T>(dq[static_cast<std::size_t>(d)]);
                }
    }
};

}  // namespace recur::kernels
