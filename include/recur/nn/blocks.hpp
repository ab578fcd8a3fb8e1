// Transformer blocks (Llama pre-norm, sandwich) and Stack, a run of identical blocks with the
// layer indices they carry in their names. Not here: the models that compose them (llama.hpp, recurrence/).
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <recur/nn/attention.hpp>
#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/ops/elementwise.hpp>

namespace recur {

/// A block maps (B, T, C) to (B, T, C) at positions pos0.. and lists its parameters.
template <class M, class B>
concept Block = has_parameters<M, B> && requires(const M& m, const Tensor<B>& x, std::int64_t pos0) {
    { m.forward(x, pos0) } -> std::same_as<Tensor<B>>;
};

/// A block that can also run incrementally against a KV cache (see Attention::forward_cached).
template <class M, class B>
concept CachedBlock = Block<M, B> && requires(const M& m, const Tensor<B>& x, std::span<const std::int64_t> rows,
                                              std::span<const std::int64_t> pos, const kv_buffers<B>& cache) {
    { m.forward_cached(x, rows, pos, cache) } -> std::same_as<Tensor<B>>;
};

/// Llama pre-norm block: x += attn(input_layernorm(x)); x += mlp(post_attention_layernorm(x)).
template <Backend B>
struct LlamaBlock {
    RMSNorm<B> input_layernorm, post_attention_layernorm;
    Attention<B> self_attn;
    MLP<B> mlp;

    LlamaBlock() = default;
    LlamaBlock(const model_config& c, std::shared_ptr<const rope_table<B>> rope_, rng& gen)
        : input_layernorm(c.d_model, c.norm_eps),
          post_attention_layernorm(c.d_model, c.norm_eps),
          self_attn(c, std::move(rope_), gen),
          mlp(c, gen) {}

    Tensor<B> forward(const Tensor<B>& x, std::int64_t pos0 = 0) const {
        return apply(x, [&](const Tensor<B>& h) { return self_attn.forward(h, pos0); });
    }
    Tensor<B> forward_cached(const Tensor<B>& x, std::span<const std::int64_t> rows, std::span<const std::int64_t> pos,
                             const kv_buffers<B>& cache) const {
        return apply(x, [&](const Tensor<B>& h) { return self_attn.forward_cached(h, rows, pos, cache); });
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        input_layernorm.visit_parameters(join_name(prefix, "input_layernorm"), f);
        self_attn.visit_parameters(join_name(prefix, "self_attn"), f);
        post_attention_layernorm.visit_parameters(join_name(prefix, "post_attention_layernorm"), f);
        mlp.visit_parameters(join_name(prefix, "mlp"), f);
    }

private:
    template <class Attend>
    Tensor<B> apply(const Tensor<B>& x, Attend&& attend) const {
        const Tensor<B> h = add(x, attend(input_layernorm.forward(x)));
        return add(h, mlp.forward(post_attention_layernorm.forward(h)));
    }
};

/// Sandwich block with four norms: x = n2(attn(n1 x) + x); x = n4(mlp(n3 x) + x).
/// Names follow Hugging Face's four-norm blocks (input, post_attention, pre_feedforward, post_feedforward).
template <Backend B>
struct SandwichBlock {
    RMSNorm<B> input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm;
    Attention<B> self_attn;
    MLP<B> mlp;

    SandwichBlock() = default;
    SandwichBlock(const model_config& c, std::shared_ptr<const rope_table<B>> rope_, rng& gen)
        : input_layernorm(c.d_model, c.norm_eps),
          post_attention_layernorm(c.d_model, c.norm_eps),
          pre_feedforward_layernorm(c.d_model, c.norm_eps),
          post_feedforward_layernorm(c.d_model, c.norm_eps),
          self_attn(c, std::move(rope_), gen),
          mlp(c, gen) {}

    Tensor<B> forward(const Tensor<B>& x, std::int64_t pos0 = 0) const {
        return apply(x, [&](const Tensor<B>& h) { return self_attn.forward(h, pos0); });
    }
    Tensor<B> forward_cached(const Tensor<B>& x, std::span<const std::int64_t> rows, std::span<const std::int64_t> pos,
                             const kv_buffers<B>& cache) const {
        return apply(x, [&](const Tensor<B>& h) { return self_attn.forward_cached(h, rows, pos, cache); });
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        input_layernorm.visit_parameters(join_name(prefix, "input_layernorm"), f);
        self_attn.visit_parameters(join_name(prefix, "self_attn"), f);
        post_attention_layernorm.visit_parameters(join_name(prefix, "post_attention_layernorm"), f);
        pre_feedforward_layernorm.visit_parameters(join_name(prefix, "pre_feedforward_layernorm"), f);
        mlp.visit_parameters(join_name(prefix, "mlp"), f);
        post_feedforward_layernorm.visit_parameters(join_name(prefix, "post_feedforward_layernorm"), f);
    }

private:
    template <class Attend>
    Tensor<B> apply(const Tensor<B>& x, Attend&& attend) const {
        const Tensor<B> h = post_attention_layernorm.forward(add(attend(input_layernorm.forward(x)), x));
        return post_feedforward_layernorm.forward(add(mlp.forward(pre_feedforward_layernorm.forward(h)), h));
    }
};

/// Blocks applied in order; block i is named "<prefix>.<index[i]>" so that a stack cut out of a
/// larger model keeps its source layer numbers.
template <class BlockT>
struct Stack {
    std::vector<BlockT> blocks;
    std::vector<std::int64_t> index;  // name index of each block

    Stack() = default;
    /// `count` new blocks numbered first_index, first_index + 1, ...
    template <Backend B>
    Stack(std::int64_t count, std::int64_t first_index, const model_config& c,
          const std::shared_ptr<const rope_table<B>>& rope_, rng& gen) {
        for (std::int64_t i = 0; i < count; ++i) {
            blocks.emplace_back(c, rope_, gen);
            index.push_back(first_index + i);
        }
    }

    /// New blocks named by `indices` (a surgery part keeps its source layer numbers).
    template <Backend B>
    Stack(const std::vector<std::int64_t>& indices, const model_config& c,
          const std::shared_ptr<const rope_table<B>>& rope_, rng& gen)
        : index(indices) {
        for (std::size_t i = 0; i < indices.size(); ++i) blocks.emplace_back(c, rope_, gen);
    }

    template <class T>
    T forward(const T& x, std::int64_t pos0 = 0) const {
        T h = x;
        for (const auto& b : blocks) h = b.forward(h, pos0);
        return h;
    }
    /// Incremental forward with one cache per block (see Attention::forward_cached).
    template <class T, class KV>
    T forward_cached(const T& x, std::span<const std::int64_t> rows, std::span<const std::int64_t> pos,
                     std::span<const KV> caches) const {
        check(caches.size() == blocks.size(), "recur::Stack: ", caches.size(), " caches for ", blocks.size(), " blocks");
        T h = x;
        for (std::size_t i = 0; i < blocks.size(); ++i) h = blocks[i].forward_cached(h, rows, pos, caches[i]);
        return h;
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i].visit_parameters(join_name(prefix, std::to_string(index[i])), f);
    }
    std::size_t size() const { return blocks.size(); }
};

/// The block type a config names, for code that picks it at compile time.
template <Backend B, block_kind K>
using block_for = std::conditional_t<K == block_kind::llama, LlamaBlock<B>, SandwichBlock<B>>;

}  // namespace recur
