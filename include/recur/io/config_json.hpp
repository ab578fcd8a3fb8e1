// model_config <-> JSON (nlohmann-json), with every key checked: unknown keys, wrong types and
// inconsistent values throw recur::error naming the key. Not here: Hugging Face config.json (io/, later).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/io/json_fields.hpp>
#include <recur/nn/config.hpp>

namespace recur {

inline nlohmann::json to_json(const model_config& c) {
    nlohmann::json j{
        {"vocab_size", c.vocab_size},
        {"d_model", c.d_model},
        {"n_heads", c.n_heads},
        {"n_kv_heads", c.n_kv_heads},
        {"head_dim", c.resolved_head_dim()},
        {"ffn_dim", c.ffn_dim},
        {"n_layers", c.n_layers},
        {"max_seq_len", c.max_seq_len},
        {"norm_eps", c.norm_eps},
        {"rope_theta", c.rope.theta},
        {"rope_layout", c.rope.layout == rope_layout::half ? "half" : "interleaved"},
        {"qk_norm", c.qk_norm},
        {"attention_bias", c.attention_bias},
        {"tie_embeddings", c.tie_embeddings},
        {"block", c.block == block_kind::llama ? "llama" : "sandwich"},
        {"init_std", c.init_std},
    };
    if (c.rope.scaling) {
        const auto& s = *c.rope.scaling;
        j["rope_scaling"] = {{"factor", s.factor},
                             {"low_freq_factor", s.low_freq_factor},
                             {"high_freq_factor", s.high_freq_factor},
                             {"original_max_position_embeddings", s.original_max_position_embeddings}};
    }
    return j;
}

/// Parses a model_config; missing keys keep their defaults; the result is validated.
inline model_config model_config_from_json(const nlohmann::json& j, const std::string& where = "") {
    const std::string at = (where.empty() ? "" : where + ": ") + "model_config: ";
    detail::reject_unknown(j,
                           {"vocab_size", "d_model", "n_heads", "n_kv_heads", "head_dim", "ffn_dim", "n_layers",
                            "max_seq_len", "norm_eps", "rope_theta", "rope_layout", "rope_scaling", "qk_norm",
                            "attention_bias", "tie_embeddings", "block", "init_std"},
                           at);
    model_config c;
    detail::read_key(j, "vocab_size", c.vocab_size, at);
    detail::read_key(j, "d_model", c.d_model, at);
    detail::read_key(j, "n_heads", c.n_heads, at);
    detail::read_key(j, "n_kv_heads", c.n_kv_heads, at);
    detail::read_key(j, "head_dim", c.head_dim, at);
    detail::read_key(j, "ffn_dim", c.ffn_dim, at);
    detail::read_key(j, "n_layers", c.n_layers, at);
    detail::read_key(j, "max_seq_len", c.max_seq_len, at);
    detail::read_key(j, "norm_eps", c.norm_eps, at);
    detail::read_key(j, "rope_theta", c.rope.theta, at);
    detail::read_key(j, "qk_norm", c.qk_norm, at);
    detail::read_key(j, "attention_bias", c.attention_bias, at);
    detail::read_key(j, "tie_embeddings", c.tie_embeddings, at);
    detail::read_key(j, "init_std", c.init_std, at);
    c.rope.layout = detail::read_enum(j, "rope_layout", c.rope.layout,
                                      {{"half", rope_layout::half}, {"interleaved", rope_layout::interleaved}}, at);
    c.block = detail::read_enum(j, "block", c.block, {{"llama", block_kind::llama}, {"sandwich", block_kind::sandwich}}, at);
    if (const auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
        const std::string sat = at + "rope_scaling: ";
        detail::reject_unknown(*it, {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}, sat);
        llama3_rope_scaling s;
        detail::read_key(*it, "factor", s.factor, sat);
        detail::read_key(*it, "low_freq_factor", s.low_freq_factor, sat);
        detail::read_key(*it, "high_freq_factor", s.high_freq_factor, sat);
        detail::read_key(*it, "original_max_position_embeddings", s.original_max_position_embeddings, sat);
        c.rope.scaling = s;
    }
    c.validate();
    return c;
}

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
    std::ifstream f(path);
    check(f.good(), "recur::load_model_config: cannot open '", path, "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        fail("recur::load_model_config: '", path, "' is not valid JSON: ", e.what());
    }
    return model_config_from_json(j, path);
}

}  // namespace recur
