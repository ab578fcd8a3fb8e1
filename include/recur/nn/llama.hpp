// LlamaModel: the ordinary (non-recurrent) decoder: embedding, a stack of blocks, final norm, LM head
// (tied or untied). The baseline, and the source of model surgery.
// Not here: loading checkpoints (io/, later) or generation (infer/, later).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <recur/nn/blocks.hpp>
#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/ops/cross_entropy.hpp>
#include <recur/ops/linear.hpp>

namespace recur {

/// Llama-family decoder with Hugging Face parameter names (model.embed_tokens.weight,
/// model.layers.N...., model.norm.weight, lm_head.weight).
template <Backend B, class BlockT = LlamaBlock<B>>
    requires Block<BlockT, B>
struct LlamaModel {
    model_config config;
    std::shared_ptr<const rope_table<B>> rope_cache;
    Embedding<B> embed_tokens;
    Stack<BlockT> layers;
    RMSNorm<B> norm;
    Linear<B> lm_head;  // untied only

    LlamaModel() = default;
    LlamaModel(const model_config& c, std::uint64_t seed) : LlamaModel(c, rng(seed)) {}
    /// Parameters drawn from `gen`; with rng::for_loading(), zeros of the right shapes for a loader.
    LlamaModel(const model_config& c, rng gen) : config(c) {
        c.validate();
        rope_cache = std::make_shared<const rope_table<B>>(c.rope, c.resolved_head_dim(), c.max_seq_len);
        embed_tokens = Embedding<B>(c.vocab_size, c.d_model, gen, c.init_std, c.embed_scale);
        layers = Stack<BlockT>(c.n_layers, 0, c, rope_cache, gen);
        norm = RMSNorm<B>(c.d_model, c.norm_eps);
        if (!c.tie_embeddings) lm_head = Linear<B>(c.d_model, c.vocab_size, false, gen, c.init_std);
    }

    /// Final hidden states after the norm: ids (B, T) i32 -> (B, T, C).
    Tensor<B> hidden(const Tensor<B>& ids, std::int64_t pos0 = 0) const {
        check(ids.dim() == 2, "recur::LlamaModel: ids must be (B, T), got ", ids.shape());
        return norm.forward(layers.forward(embed_tokens.forward(ids), pos0));
    }
    /// Logits (B, T, V).
    Tensor<B> forward(const Tensor<B>& ids, std::int64_t pos0 = 0) const { return head(hidden(ids, pos0)); }
    Tensor<B> head(const Tensor<B>& h) const {
        return config.tie_embeddings ? linear(h, embed_tokens.weight) : lm_head.forward(h);
    }
    /// Mean next-token cross-entropy of ids (B, T) against targets (B, T) (ignore index skipped).
    Tensor<B> loss(const Tensor<B>& ids, const Tensor<B>& targets) const { return cross_entropy(forward(ids), targets); }

    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        embed_tokens.visit_parameters(join_name(prefix, "model.embed_tokens"), f);
        layers.visit_parameters(join_name(prefix, "model.layers"), f);
        norm.visit_parameters(join_name(prefix, "model.norm"), f);
        if (!config.tie_embeddings) lm_head.visit_parameters(join_name(prefix, "lm_head"), f);
    }
};

}  // namespace recur
