// model_config <-> JSON from one field table (model_config_fields): reading with every key checked
// (unknown keys, wrong types and inconsistent values throw recur::error naming the key), writing
// and the help text. Not here: Hugging Face's config.json (io/hf.hpp) or the JSON layer (json_fields.hpp).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/io/json_fields.hpp>
#include <recur/io/read_text.hpp>
#include <recur/nn/config.hpp>

namespace recur {

inline constexpr std::pair<const char*, rope_layout> rope_layout_names[] = {
    {"half", rope_layout::half}, {"interleaved", rope_layout::interleaved}};
inline constexpr std::pair<const char*, block_kind> block_kind_names[] = {
    {"llama", block_kind::llama}, {"sandwich", block_kind::sandwich}, {"olmo2", block_kind::olmo2}};

/// "rope_scaling": Llama 3's scaling of the RoPE frequencies (absent or null: none).
inline constexpr auto llama3_rope_scaling_fields = std::tuple{
    field("factor", &llama3_rope_scaling::factor, "low frequencies are divided by it"),
    field("low_freq_factor", &llama3_rope_scaling::low_freq_factor,
          "wavelengths above original_max_position_embeddings / low_freq_factor are scaled fully"),
    field("high_freq_factor", &llama3_rope_scaling::high_freq_factor,
          "wavelengths below original_max_position_embeddings / high_freq_factor are kept"),
    field("original_max_position_embeddings", &llama3_rope_scaling::original_max_position_embeddings,
          "the context length the frequencies were trained for"),
};

namespace detail {
inline std::optional<llama3_rope_scaling> read_rope_scaling(const nlohmann::json& j, const std::string& where) {
    if (j.is_null()) return std::nullopt;
    llama3_rope_scaling s;
    read_fields(j, s, llama3_rope_scaling_fields, where + ": rope_scaling: ", where);
    return s;
}
inline nlohmann::json write_rope_scaling(const std::optional<llama3_rope_scaling>& s) {
    return s ? write_fields(*s, llama3_rope_scaling_fields) : nlohmann::json();
}
}  // namespace detail

/// The keys of a model_config (a recur model's "model" object, a run file's model.config); each
/// is the field of that name, RoPE's as rope_<field>. All optional: missing keys keep the defaults.
inline constexpr auto model_config_fields = std::tuple{
    field("vocab_size", &model_config::vocab_size, "tokens in the vocabulary, > 0"),
    field("d_model", &model_config::d_model, "width of the residual stream, > 0"),
    field("n_heads", &model_config::n_heads, "query heads, > 0"),
    field("n_kv_heads", &model_config::n_kv_heads, "key/value heads, > 0, dividing n_heads"),
    field("head_dim", &model_config::head_dim, "width of a head, even (0: d_model / n_heads; written resolved)"),
    field("ffn_dim", &model_config::ffn_dim, "hidden width of the SwiGLU MLP, > 0"),
    field("n_layers", &model_config::n_layers, "transformer blocks of a plain model, >= 0"),
    field("max_seq_len", &model_config::max_seq_len, "longest sequence (RoPE tables), > 0"),
    field("norm_eps", &model_config::norm_eps, "RMSNorm epsilon, >= 0"),
    nested(&model_config::rope, field("rope_theta", &rope_config::theta, "RoPE base, > 0")),
    nested(&model_config::rope, enum_field("rope_layout", &rope_config::layout, rope_layout_names,
                                           "pairs rotated: (i, i + D/2) as HF, or (2i, 2i + 1) as llama2.c")),
    nested(&model_config::rope, json_section<rope_config, std::optional<llama3_rope_scaling>>{
                                    "rope_scaling", &rope_config::scaling,
                                    "Llama 3 frequency scaling: {factor, low_freq_factor, high_freq_factor, "
                                    "original_max_position_embeddings}; absent or null: none",
                                    detail::read_rope_scaling, detail::write_rope_scaling}),
    field("qk_norm", &model_config::qk_norm, "RMSNorm on the full q and k projections (OLMo-2)"),
    field("attention_bias", &model_config::attention_bias, "biases on the q, k and v projections"),
    field("qk_bias", &model_config::qk_bias, "biases on the q and k projections only (Huginn-0125)"),
    field("tie_embeddings", &model_config::tie_embeddings, "the LM head shares the embedding table"),
    enum_field("block", &model_config::block, block_kind_names,
               "pre-norm Llama block, Huginn's sandwich block (norms after attention and MLP too), or OLMo-2's "
               "(norms on the attention and MLP outputs only)"),
    field("init_std", &model_config::init_std, "standard deviation of the random initialisation"),
    field("embed_scale", &model_config::embed_scale,
          "token embeddings and a recurrent model's initial state are multiplied by it (Huginn-0125: sqrt(d_model))"),
};

inline nlohmann::json to_json(const model_config& c) {
    nlohmann::json j = write_fields(c, model_config_fields);
    j["head_dim"] = c.resolved_head_dim();  // the file states the width, also where it is derived
    return j;
}

/// Parses a model_config; missing keys keep their defaults; unknown keys and wrong types throw
/// recur::error naming the key; the result is validated.
inline model_config model_config_from_json(const nlohmann::json& j, const std::string& where = "") {
    const std::string ctx = (where.empty() ? "" : where + ": ") + "model_config";
    model_config c;
    read_fields(j, c, model_config_fields, ctx + ": ", ctx);
    c.validate();
    return c;
}

/// The keys of a model_config with kinds, defaults and docs, one per line.
inline std::string model_config_help() { return fields_help(model_config_fields, model_config{}); }

/// Checks, before a model of `c` with `blocks` transformer blocks is allocated, that it fits: its
/// parameters (a lower bound: embedding, head, attention and MLP matrices) must not exceed twice
/// `file_values` (the values its weights file holds, when >= 0) by more than 2^20, so that a config
/// claiming a far larger model than its file allocates nothing (near misses are left to the tensor
/// by tensor checks, whose messages name the tensor); and its f32 parameters and RoPE
/// tables must fit this machine's memory. Sizes are computed in double, so absurd values cannot
/// overflow. Throws recur::io_error naming `where` and the sizes.
inline void check_model_size(const model_config& c, double blocks, const std::string& where, double file_values = -1) {
    const double d = static_cast<double>(c.d_model), hd = static_cast<double>(c.resolved_head_dim()),
                 q = static_cast<double>(c.n_heads) * hd, kv = static_cast<double>(c.n_kv_heads) * hd,
                 embed = static_cast<double>(c.vocab_size) * d;
    const double params = embed * (c.tie_embeddings ? 1 : 2) +
                          blocks * (2 * d * q + 2 * d * kv + 3 * d * static_cast<double>(c.ffn_dim));
    if (file_values >= 0 && params > 2 * file_values + (1 << 20))
        io_fail("recur::load_model: '", where, "': the config (vocab_size ", c.vocab_size, ", d_model ", c.d_model,
                ", ffn_dim ", c.ffn_dim, ", ", blocks, " blocks) describes at least ", params,
                " parameters, far more than the ", file_values, " values its weights hold");
    const double bytes = 4 * params + 12 * static_cast<double>(c.max_seq_len) * hd;
    const double memory = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
    if (bytes > memory)
        io_fail("recur::load_model: '", where, "': the config (vocab_size ", c.vocab_size, ", d_model ", c.d_model,
                ", ffn_dim ", c.ffn_dim, ", max_seq_len ", c.max_seq_len, ", ", blocks, " blocks) needs about ",
                bytes / (1 << 30), " GiB, more than this machine's ", memory / (1 << 30), " GiB of memory");
}

/// Reads a model_config from a JSON file; errors name the file.
inline model_config load_model_config(const std::string& path) {
    return model_config_from_json(detail::read_json_file(path, "recur::load_model_config"), path);
}

}  // namespace recur
