// The transformer block, one template with a norm-placement policy (Llama's pre-norm, the sandwich
// block and OLMo-2's post-norm block are its instances), and Stack, a run of identical blocks with the layer indices they carry
// in their names. Not here: the MLP (mlp.hpp), attention (attention.hpp), the models (llama.hpp, recurrence/).
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <recur/nn/attention.hpp>
#include <recur/nn/config.hpp>
#include <recur/nn/layers.hpp>
#include <recur/nn/mlp.hpp>
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

/// Where a block normalises around its two sublayers (attention, then the MLP): each sublayer reads
/// a norm of its input (or the input itself) and adds its output to the residual. The norm after a
/// sublayer normalises the sum, or with `norm_output` the sublayer's output before it is added.
/// `names` holds the Hugging Face names of the four norm slots (before attention, after attention,
/// before the MLP, after the MLP); an empty name means the slot has no norm.
struct pre_norm {
    /// Llama: x += attn(n1 x); x += mlp(n2 x).
    static constexpr block_kind kind = block_kind::llama;
    static constexpr std::array<std::string_view, 4> names = {"input_layernorm", "", "post_attention_layernorm", ""};
    static constexpr bool norm_output = false;
};
struct sandwich_norm {
    /// Huginn / four-norm blocks: x = n2(attn(n1 x) + x); x = n4(mlp(n3 x) + x).
    static constexpr block_kind kind = block_kind::sandwich;
    static constexpr std::array<std::string_view, 4> names = {"input_layernorm", "post_attention_layernorm",
                                                             "pre_feedforward_layernorm", "post_feedforward_layernorm"};
    static constexpr bool norm_output = false;
};
struct post_norm {
    /// OLMo-2: x += n2(attn(x)); x += n4(mlp(x)).
    static constexpr block_kind kind = block_kind::olmo2;
    static constexpr std::array<std::string_view, 4> names = {"", "post_attention_layernorm", "", "post_feedforward_layernorm"};
    static constexpr bool norm_output = true;
};

/// A transformer block: attention and a SwiGLU MLP, each a residual sublayer, with norms where
/// Placement puts them (pre_norm or sandwich_norm). Parameters are visited in the order of the
/// placement's slots around self_attn and mlp, under their Hugging Face names.
template <Backend B, class Placement>
struct TransformerBlock {
    static constexpr block_kind kind = Placement::kind;
    std::array<RMSNorm<B>, 4> norms;  // by slot; an undefined weight where Placement has no norm
    Attention<B> self_attn;
    MLP<B> mlp;

    TransformerBlock() = default;
    TransformerBlock(const model_config& c, std::shared_ptr<const rope_table<B>> rope_, rng& gen)
        : self_attn(c, std::move(rope_), gen), mlp(c, gen) {
        for (std::size_t i = 0; i < norms.size(); ++i)
            if (!Placement::names[i].empty()) norms[i] = RMSNorm<B>(c.d_model, c.norm_eps);
    }

    Tensor<B> forward(const Tensor<B>& x, std::int64_t pos0 = 0) const {
        return apply(x, [&](const Tensor<B>& h) { return self_attn.forward(h, pos0); });
    }
    Tensor<B> forward_cached(const Tensor<B>& x, std::span<const std::int64_t> rows, std::span<const std::int64_t> pos,
                             const kv_buffers<B>& cache) const {
        return apply(x, [&](const Tensor<B>& h) { return self_attn.forward_cached(h, rows, pos, cache); });
    }
    /// The norm attention reads, and the one the MLP reads (undefined weights where the placement has none).
    RMSNorm<B>& attention_input_norm() { return norms[0]; }
    RMSNorm<B>& mlp_input_norm() { return norms[2]; }

    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        visit_norm(0, prefix, f);
        self_attn.visit_parameters(join_name(prefix, "self_attn"), f);
        visit_norm(1, prefix, f);
        visit_norm(2, prefix, f);
        mlp.visit_parameters(join_name(prefix, "mlp"), f);
        visit_norm(3, prefix, f);
    }

private:
    /// norm_after(f(norm_before(x)) + x), or with norm_output norm_after(f(norm_before(x))) + x, for the
    /// sublayer whose slots start at `before` (a slot without a norm passes its input through).
    template <class Sublayer>
    Tensor<B> residual(std::size_t before, const Tensor<B>& x, Sublayer&& f) const {
        const Tensor<B> out = f(Placement::names[before].empty() ? x : norms[before].forward(x));
        if (Placement::names[before + 1].empty()) return add(out, x);
        if constexpr (Placement::norm_output) return add(norms[before + 1].forward(out), x);
        else return norms[before + 1].forward(add(out, x));
    }
    template <class Attend>
    Tensor<B> apply(const Tensor<B>& x, Attend&& attend) const {
        const Tensor<B> h = residual(0, x, attend);
        return residual(2, h, [&](const Tensor<B>& n) { return mlp.forward(n); });
    }
    template <class F>
    void visit_norm(std::size_t slot, const std::string& prefix, F& f) {
        if (!Placement::names[slot].empty()) norms[slot].visit_parameters(join_name(prefix, std::string(Placement::names[slot])), f);
    }
};

/// Llama's pre-norm block.
template <Backend B>
using LlamaBlock = TransformerBlock<B, pre_norm>;
/// The sandwich (four-norm) block.
template <Backend B>
using SandwichBlock = TransformerBlock<B, sandwich_norm>;
/// OLMo-2's block (its config sets qk_norm: RMSNorm over the full q and k projections).
template <Backend B>
using Olmo2Block = TransformerBlock<B, post_norm>;

/// Blocks applied in order; block i is named "<prefix>.<index[i]>" so that a stack cut out of a
/// larger model keeps its source layer numbers.
template <class BlockT>
struct Stack {
    using block_type = BlockT;
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
using block_for = TransformerBlock<
    B, std::conditional_t<K == block_kind::llama, pre_norm, std::conditional_t<K == block_kind::sandwich, sandwich_norm, post_norm>>>;

}  // namespace recur
