// Basic parameter-owning layers: Linear (HF (out, in) weight, optional bias), Embedding, RMSNorm.
// Not here: attention and blocks (attention.hpp, blocks.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include <recur/nn/module.hpp>
#include <recur/ops/elementwise.hpp>
#include <recur/ops/embedding.hpp>
#include <recur/ops/linear.hpp>
#include <recur/ops/rms_norm.hpp>

namespace recur {

/// y = x W^T (+ b), W (out, in). Initialised N(0, std^2), bias zero.
template <Backend B>
struct Linear {
    Tensor<B> weight;  // (out, in)
    Tensor<B> bias;    // (out) or undefined

    Linear() = default;
    Linear(std::int64_t in, std::int64_t out, bool with_bias, rng& gen, double std = 0.02)
        : weight(randn<B>({out, in}, gen, 0.0, std).set_requires_grad()) {
        if (with_bias) bias = Tensor<B>::zeros({out}).set_requires_grad();
    }
    Tensor<B> forward(const Tensor<B>& x) const { return linear(x, weight, bias); }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(join_name(prefix, "weight"), weight);
        if (bias.defined()) f(join_name(prefix, "bias"), bias);
    }
};

/// Token embedding table (V, C), initialised N(0, std^2); rows are multiplied by `scale` on lookup
/// (Huginn-0125 scales by sqrt(C); the table itself, which a tied head shares, is not scaled).
template <Backend B>
struct Embedding {
    Tensor<B> weight;  // (V, C)
    double scale = 1.0;

    Embedding() = default;
    Embedding(std::int64_t vocab, std::int64_t dim, rng& gen, double std = 0.02, double scale_ = 1.0)
        : weight(randn<B>({vocab, dim}, gen, 0.0, std).set_requires_grad()), scale(scale_) {}
    Tensor<B> forward(const Tensor<B>& ids) const {
        Tensor<B> e = embedding(ids, weight);
        return scale == 1.0 ? e : recur::scale(e, scale);
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(join_name(prefix, "weight"), weight);
    }
};

/// RMSNorm over the last dim with a learned scale (initialised to one).
template <Backend B>
struct RMSNorm {
    Tensor<B> weight;  // (C)
    double eps = 1e-5;

    RMSNorm() = default;
    RMSNorm(std::int64_t dim, double eps_) : weight(Tensor<B>::full({dim}, 1.0).set_requires_grad()), eps(eps_) {}
    Tensor<B> forward(const Tensor<B>& x) const { return rms_norm(x, weight, eps); }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(join_name(prefix, "weight"), weight);
    }
};

}  // namespace recur
