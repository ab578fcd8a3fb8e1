// Small model configs for tests: one builder with named sizes instead of a copy per test file, and a
// loop over the block kinds besides Llama's.
// Not here: models themselves (each test builds what it needs from the config).
#pragma once

#include <cstdint>

#include <recur/nn/blocks.hpp>
#include <recur/nn/config.hpp>

namespace recur::test {

/// The sizes a test picks; everything else keeps model_config's defaults.
struct tiny_sizes {
    std::int64_t vocab = 11, d = 16, heads = 2, kv_heads = 1, ffn = 24, layers = 2, seq = 8;
    double init_std = 0.3;  ///< large enough that every layer is far from linear
};

inline model_config tiny_config(const tiny_sizes& s = {}) {
    model_config c;
    c.vocab_size = s.vocab;
    c.d_model = s.d;
    c.n_heads = s.heads;
    c.n_kv_heads = s.kv_heads;
    c.ffn_dim = s.ffn;
    c.n_layers = s.layers;
    c.max_seq_len = s.seq;
    c.init_std = s.init_std;
    return c;
}

/// Calls f.template operator()<BlockT>(config, name) for the block kinds besides Llama's: OLMo-2's
/// (qk_norm) and the sandwich block (qk_bias and an embedding scale of `embed_scale`), each on a copy
/// of `c` with its block kind set.
template <Backend B, class F>
void for_olmo2_and_sandwich(const model_config& c, double embed_scale, F&& f) {
    model_config olmo = c;
    olmo.block = block_kind::olmo2;
    olmo.qk_norm = true;
    f.template operator()<Olmo2Block<B>>(olmo, "OLMo-2 block");
    model_config huginn = c;
    huginn.block = block_kind::sandwich;
    huginn.qk_bias = true;
    huginn.embed_scale = embed_scale;
    f.template operator()<SandwichBlock<B>>(huginn, "sandwich block");
}

}  // namespace recur::test
