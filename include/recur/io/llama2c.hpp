// llama2.c checkpoints (Karpathy's format: a 7 x int32 header, then f32 weights in a fixed order)
// loaded into a LlamaModel. Every size is checked against the file before anything is read.
// Not here: the llama2.c tokenizer (tokenizer.hpp) or writing this format (export with save_hf).
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/nn/llama.hpp>

namespace recur {

/// The header's seven int32 fields in file order, each the model_config field it sets. vocab_size
/// is stored negated when the LM head is a matrix of its own rather than the embedding table.
inline constexpr std::pair<const char*, std::int64_t model_config::*> llama2c_header_fields[] = {
    {"dim", &model_config::d_model},          {"hidden_dim", &model_config::ffn_dim},
    {"n_layers", &model_config::n_layers},    {"n_heads", &model_config::n_heads},
    {"n_kv_heads", &model_config::n_kv_heads}, {"vocab_size", &model_config::vocab_size},
    {"seq_len", &model_config::max_seq_len},
};

/// The model a llama2.c header describes: interleaved RoPE (theta 10000), RMSNorm eps 1e-5,
/// head tied to the embedding when the stored vocab size is positive. An invalid header throws
/// recur::io_error naming the file, the field and the whole header.
inline model_config llama2c_config(const std::array<std::int32_t, 7>& h, const std::string& path) {
    static_assert(std::size(llama2c_header_fields) == std::tuple_size_v<std::array<std::int32_t, 7>>);
    std::string header;
    for (std::size_t i = 0; i < h.size(); ++i)
        header += std::string(i ? ", " : "") + llama2c_header_fields[i].first + " " + std::to_string(h[i]);
    model_config c;
    for (std::size_t i = 0; i < h.size(); ++i) {
        const auto& [name, member] = llama2c_header_fields[i];
        const bool vocab = member == &model_config::vocab_size;
        if (vocab ? h[i] == 0 : h[i] <= 0)
            io_fail("recur::load_llama2c: '", path, "': invalid header: ", name, vocab ? " is 0" : " must be positive",
                    " (", header, ")");
        c.*member = std::abs(static_cast<std::int64_t>(h[i]));
    }
    c.tie_embeddings = h[5] > 0;  // vocab_size's sign
    c.norm_eps = 1e-5;
    c.rope = {10000.0, rope_layout::interleaved, {}};
    try {
        c.validate();
    } catch (const error& e) {
        io_fail("recur::load_llama2c: '", path, "': ", e.what());
    }
    return c;
}

/// Loads a llama2.c checkpoint (e.g. ../shared/data/stories260K.bin) into a LlamaModel.
/// A truncated or oversized file, or an inconsistent header, throws recur::io_error naming the file.
template <Backend B>
LlamaModel<B> load_llama2c(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) io_fail("recur::load_llama2c: cannot open '", path, "'");
    const auto file_bytes = static_cast<std::int64_t>(f.tellg());
    f.seekg(0);
    std::array<std::int32_t, 7> h{};
    if (file_bytes < 28 || !f.read(reinterpret_cast<char*>(h.data()), 28))
        io_fail("recur::load_llama2c: '", path, "': file of ", file_bytes, " bytes is shorter than the 28-byte header");
    const model_config c = llama2c_config(h, path);
    const std::int64_t d = c.d_model, L = c.n_layers, hd = c.resolved_head_dim(), kv = c.n_kv_heads * hd, F = c.ffn_dim,
                       V = c.vocab_size, S = c.max_seq_len;
    // Tensors in file order: (name within a layer or model, per-layer shape, layered?)
    struct entry {
        const char* what;
        Shape shape;
        bool per_layer;
    };
    const std::vector<entry> order{{"token_embedding", {V, d}, false}, {"rms_att", {d}, true},
                                   {"wq", {c.n_heads * hd, d}, true},  {"wk", {kv, d}, true},
                                   {"wv", {kv, d}, true},              {"wo", {d, c.n_heads * hd}, true},
                                   {"rms_ffn", {d}, true},             {"w1", {F, d}, true},
                                   {"w2", {d, F}, true},               {"w3", {F, d}, true},
                                   {"rms_final", {d}, false},          {"freq_cis", {S, hd}, false}};
    // In double first: a header of absurd sizes must not overflow the exact count below (near misses
    // get the exact message).
    double approx = c.tie_embeddings ? 0 : static_cast<double>(V) * static_cast<double>(d);
    for (const auto& e : order) {
        double n = e.per_layer ? static_cast<double>(L) : 1;
        for (const auto x : e.shape.dims()) n *= static_cast<double>(x);
        approx += n;
    }
    if (28 + 4 * approx > 2 * static_cast<double>(file_bytes) + (1 << 20))
        io_fail("recur::load_llama2c: '", path, "': ", file_bytes, " bytes, but its header (dim ", d, ", ", L,
                " layers, vocab ", V, ", seq_len ", S, ") needs about ", 28 + 4 * approx, " bytes");
    std::int64_t floats = 0;
    for (const auto& e : order) floats += e.shape.numel() * (e.per_layer ? L : 1);
    if (!c.tie_embeddings) floats += V * d;
    const std::int64_t expected = 28 + 4 * floats;
    if (file_bytes != expected)
        io_fail("recur::load_llama2c: '", path, "': ", file_bytes, " bytes, but its header (dim ", d, ", ",
                        L, " layers, vocab ", V, ") needs ", expected, " bytes");

    LlamaModel<B> m(c, rng::for_loading());
    std::vector<float> buf;
    auto read = [&](const char* what, const Shape& shape) {
        buf.resize(static_cast<std::size_t>(shape.numel()));
        if (!f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(4 * buf.size())))
            io_fail("recur::load_llama2c: '", path, "': read of ", what, " failed");
        return Tensor<B>::from_host(buf, shape).set_requires_grad();
    };
    auto per_layer = [&](const char* what, const Shape& shape, auto&& target) {
        for (std::int64_t l = 0; l < L; ++l) target(m.layers.blocks[static_cast<std::size_t>(l)]) = read(what, shape);
    };
    m.embed_tokens.weight = read("token_embedding", {V, d});
    per_layer("rms_att", {d}, [](auto& b) -> Tensor<B>& { return b.attention_input_norm().weight; });
    per_layer("wq", {c.n_heads * hd, d}, [](auto& b) -> Tensor<B>& { return b.self_attn.q_proj.weight; });
    per_layer("wk", {kv, d}, [](auto& b) -> Tensor<B>& { return b.self_attn.k_proj.weight; });
    per_layer("wv", {kv, d}, [](auto& b) -> Tensor<B>& { return b.self_attn.v_proj.weight; });
    per_layer("wo", {d, c.n_heads * hd}, [](auto& b) -> Tensor<B>& { return b.self_attn.o_proj.weight; });
    per_layer("rms_ffn", {d}, [](auto& b) -> Tensor<B>& { return b.mlp_input_norm().weight; });
    per_layer("w1", {F, d}, [](auto& b) -> Tensor<B>& { return b.mlp.gate_proj.weight; });
    per_layer("w2", {d, F}, [](auto& b) -> Tensor<B>& { return b.mlp.down_proj.weight; });
    per_layer("w3", {F, d}, [](auto& b) -> Tensor<B>& { return b.mlp.up_proj.weight; });
    m.norm.weight = read("rms_final", {d});
    if (!c.tie_embeddings) {
        f.seekg(4 * S * hd, std::ios::cur);  // freq_cis_real and freq_cis_imag: recomputed from theta
        m.lm_head.weight = read("classifier", {V, d});
    }
    return m;
}

}  // namespace recur
