// The attention layer: q/k/v/o projections, optional q/k RMSNorm and biases, RoPE, causal GQA.
// Not here: the attention math (ops/attention.hpp) or KV caches (infer/, later).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/ops/attention.hpp>
#include <recur/ops/rope.hpp>

namespace recur {

/// Multi-head self-attention with grouped-query heads, Hugging Face names (q_proj, k_proj, ...).
template <Backend B>
struct Attention {
    Linear<B> q_proj, k_proj, v_proj, o_proj;
    RMSNorm<B> q_norm, k_norm;  // only with config.qk_norm, over the full projection width
    std::shared_ptr<const rope_table<B>> rope_cache;
    std::int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;

    Attention() = default;
    Attention(const model_config& c, std::shared_ptr<const rope_table<B>> rope_, rng& gen)
        : q_proj(c.d_model, c.n_heads * c.resolved_head_dim(), c.attention_bias, gen, c.init_std),
          k_proj(c.d_model, c.n_kv_heads * c.resolved_head_dim(), c.attention_bias, gen, c.init_std),
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

/// SwiGLU MLP: down(silu(gate(x)) * up(x)).
template <Backend B>
struct MLP {
    Linear<B> gate_proj, up_proj, down_proj;

    MLP() = default;
    MLP(const model_config& c, rng& gen)
        : gate_proj(c.d_model, c.ffn_dim, false, gen, c.init_std),
          up_proj(c.d_model, c.ffn_dim, false, gen, c.init_std),
          down_proj(c.ffn_dim, c.d_model, false, gen, c.init_std) {}

    Tensor<B> forward(const Tensor<B>& x) const {
        return down_proj.forward(swiglu(gate_proj.forward(x), up_proj.forward(x)));
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        gate_proj.visit_parameters(join_name(prefix, "gate_proj"), f);
        up_proj.visit_parameters(join_name(prefix, "up_proj"), f);
        down_proj.visit_parameters(join_name(prefix, "down_proj"), f);
    }
};

}  // namespace recur
