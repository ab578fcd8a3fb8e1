// model_config: the shape of a Llama-family decoder (widths, heads, RoPE, norms, block kind, layers).
// Not here: reading and writing it as JSON (io/, next), or the recurrence split (recurrence/).
#pragma once

#include <cstdint>

#include <recur/core/error.hpp>
#include <recur/ops/rope.hpp>

namespace recur {

/// Which transformer block a model stacks.
enum class block_kind {
    llama,     ///< pre-norm: x += attn(n1 x); x += mlp(n2 x)
    sandwich,  ///< x = n2(attn(n1 x) + x); x = n4(mlp(n3 x) + x)
    olmo2,     ///< x += n2(attn(x)); x += n4(mlp(x)) (norms on the sublayer outputs; OLMo-2)
};

struct model_config {
    std::int64_t vocab_size = 512;
    std::int64_t d_model = 64;
    std::int64_t n_heads = 8;
    std::int64_t n_kv_heads = 4;
    std::int64_t head_dim = 0;  ///< 0: d_model / n_heads
    std::int64_t ffn_dim = 172;
    std::int64_t n_layers = 2;
    std::int64_t max_seq_len = 512;
    double norm_eps = 1e-5;
    rope_config rope{};
    bool qk_norm = false;         ///< RMSNorm on the full q and k projections (OLMo-2)
    bool attention_bias = false;  ///< biases on q, k, v projections
    bool qk_bias = false;         ///< biases on the q and k projections only (Huginn-0125)
    bool tie_embeddings = false;  ///< LM head shares the embedding table
    block_kind block = block_kind::llama;
    double init_std = 0.02;
    double embed_scale = 1.0;  ///< token embeddings (and a recurrent model's initial state) are multiplied by it

    std::int64_t resolved_head_dim() const { return head_dim > 0 ? head_dim : d_model / n_heads; }

    /// Throws recur::error naming the first inconsistent field.
    void validate() const {
        auto positive = [](const char* field, std::int64_t v) {
            check(v > 0, "recur::model_config: ", field, " must be positive, got ", v);
        };
        positive("vocab_size", vocab_size);
        positive("d_model", d_model);
        positive("n_heads", n_heads);
        positive("n_kv_heads", n_kv_heads);
        positive("ffn_dim", ffn_dim);
        positive("max_seq_len", max_seq_len);
        check(n_layers >= 0, "recur::model_config: n_layers must be >= 0, got ", n_layers);
        check(head_dim > 0 || d_model % n_heads == 0, "recur::model_config: d_model ", d_model,
              " is not divisible by n_heads ", n_heads, " (set head_dim)");
        check(n_heads % n_kv_heads == 0, "recur::model_config: n_kv_heads ", n_kv_heads, " does not divide n_heads ",
              n_heads);
        check(resolved_head_dim() % 2 == 0, "recur::model_config: head_dim ", resolved_head_dim(), " must be even for RoPE");
        check(norm_eps >= 0, "recur::model_config: norm_eps must be >= 0, got ", norm_eps);
        check(embed_scale > 0 && embed_scale < 1e30, "recur::model_config: embed_scale must be positive and finite, got ",
              embed_scale);
    }
};

}  // namespace recur
