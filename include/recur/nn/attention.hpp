// The attention layer: q/k/v/o projections, optional q/k RMSNorm and q/k(/v) biases, RoPE, causal GQA.
// Not here: the MLP (mlp.hpp), the attention math (ops/attention.hpp) or how caches are shared across iterations (infer/kv_cache.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/ops/attention.hpp>
#include <recur/ops/rope.hpp>

namespace recur {

/// Keys and values of one attention layer for incremental decoding, one row per sequence.
template <Backend B>
struct kv_buffers {
    Tensor<B> k, v;  // (R, P, Hkv, D): R sequences, P positions of capacity
};

/// Multi-head self-attention with grouped-query heads, Hugging Face names (q_proj, k_proj, ...).
template <Backend B>
struct Attention {
    Linear<B> q_proj, k_proj, v_proj, o_proj;
    RMSNorm<B> q_norm, k_norm;  // only with config.qk_norm, over the full projection width
    std::shared_ptr<const rope_table<B>> rope_cache;
    std::int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;

    Attention() = default;
    Attention(const model_config& c, std::shared_ptr<const rope_table<B>> rope_, rng& gen)
        : q_proj(c.d_model, c.n_heads * c.resolved_head_dim(), c.attention_bias || c.qk_bias, gen, c.init_std),
          k_proj(c.d_model, c.n_kv_heads * c.resolved_head_dim(), c.attention_bias || c.qk_bias, gen, c.init_std),
          v_proj(c.d_model, c.n_kv_heads * c.resolved_head_dim(), c.attention_bias, gen, c.init_std),
          o_proj(c.n_heads * c.resolved_head_dim(), c.d_model, false, gen, c.init_std),
          rope_cache(std::move(rope_)),
          n_heads(c.n_heads),
          n_kv_heads(c.n_kv_heads),
          head_dim(c.resolved_head_dim()) {
        if (c.qk_norm) {
            q_norm = RMSNorm<B>(c.n_heads * head_dim, c.norm_eps);
            k_norm = RMSNorm<B>(c.n_kv_heads * head_dim, c.norm_eps);
        }
    }

    /// x (B, T, C) at positions pos0 .. pos0 + T - 1 -> (B, T, C).
    Tensor<B> forward(const Tensor<B>& x, std::int64_t pos0 = 0) const {
        check(x.dim() == 3, "recur::Attention: input must be (B, T, C), got ", x.shape());
        const std::int64_t b = x.size(0), t = x.size(1);
        Tensor<B> q = q_proj.forward(x), k = k_proj.forward(x);  // (B, T, H*D), (B, T, Hkv*D)
        if (q_norm.weight.defined()) {
            q = q_norm.forward(q);
            k = k_norm.forward(k);
        }
        q = rope(q.reshape({b, t, n_heads, head_dim}), *rope_cache, pos0);
        k = rope(k.reshape({b, t, n_kv_heads, head_dim}), *rope_cache, pos0);
        const Tensor<B> v = v_proj.forward(x).reshape({b, t, n_kv_heads, head_dim});
        return o_proj.forward(attention(q, k, v).reshape({b, t, n_heads * head_dim}));
    }

    /// Incremental attention (inference: nothing is recorded). x (N, T, C) holds T new tokens of N
    /// sequences; sequence n is row rows[n] of the cache and its tokens sit at positions pos[n] ..
    /// pos[n] + T - 1. Their keys and values are written into the cache, and each query attends to its
    /// row's positions [0, pos[n] + T) -> (N, T, C).
    Tensor<B> forward_cached(const Tensor<B>& x, std::span<const std::int64_t> rows, std::span<const std::int64_t> pos,
                             const kv_buffers<B>& cache) const {
        no_grad off;
        check(x.dim() == 3, "recur::Attention: input must be (N, T, C), got ", x.shape());
        const std::int64_t n = x.size(0), t = x.size(1);
        check(std::ssize(rows) == n && std::ssize(pos) == n, "recur::Attention: ", rows.size(), " cache rows and ",
              pos.size(), " positions for ", n, " sequences");
        check(cache.k.dim() == 4 && cache.k.shape() == cache.v.shape() && cache.k.size(2) == n_kv_heads &&
                  cache.k.size(3) == head_dim,
              "recur::Attention: cache ", cache.k.shape(), " does not hold (rows, positions, ", n_kv_heads, ", ",
              head_dim, ")");
        Tensor<B> q = q_proj.forward(x), k = k_proj.forward(x);
        if (q_norm.weight.defined()) {
            q = q_norm.forward(q);
            k = k_norm.forward(k);
        }
        q = q.reshape({n, t, n_heads, head_dim});
        k = k.reshape({n, t, n_kv_heads, head_dim});
        const Tensor<B> v = v_proj.forward(x).reshape({n, t, n_kv_heads, head_dim});
        Tensor<B> o = Tensor<B>::empty({n, t, n_heads, head_dim});
        for (std::int64_t i = 0; i < n; ++i) {
            const auto row = rows[static_cast<std::size_t>(i)], p = pos[static_cast<std::size_t>(i)];
            check(row >= 0 && row < cache.k.size(0), "recur::Attention: cache row ", row, " outside [0, ",
                  cache.k.size(0), ")");
            check(p >= 0 && p + t <= cache.k.size(1), "recur::Attention: positions [", p, ", ", p + t,
                  ") exceed the cache's ", cache.k.size(1));
            const Tensor<B> keys = cache.k.slice(0, row, 1), values = cache.v.slice(0, row, 1);  // (1, P, Hkv, D)
            Tensor<B>::copy_into(keys.slice(1, p, t), rope(k.slice(0, i, 1), *rope_cache, p), false);
            Tensor<B>::copy_into(values.slice(1, p, t), v.slice(0, i, 1), false);
            Tensor<B>::copy_into(o.slice(0, i, 1),
                                 attention(rope(q.slice(0, i, 1), *rope_cache, p), keys.slice(1, 0, p + t),
                                           values.slice(1, 0, p + t)),
                                 false);
        }
        return o_proj.forward(o.reshape({n, t, n_heads * head_dim}));
    }

    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        q_proj.visit_parameters(join_name(prefix, "q_proj"), f);
        k_proj.visit_parameters(join_name(prefix, "k_proj"), f);
        v_proj.visit_parameters(join_name(prefix, "v_proj"), f);
        o_proj.visit_parameters(join_name(prefix, "o_proj"), f);
        if (q_norm.weight.defined()) {
            q_norm.visit_parameters(join_name(prefix, "q_norm"), f);
            k_norm.visit_parameters(join_name(prefix, "k_norm"), f);
        }
    }
};

}  // namespace recur
