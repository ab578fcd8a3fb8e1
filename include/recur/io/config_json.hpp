// model_config <-> JSON (nlohmann-json), with every key checked: unknown keys, wrong types and
// inconsistent values throw recur::error naming the key. Not here: Hugging Face config.json (io/, later).
#pragma once

#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
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

namespace detail {

/// Reads j[key] as T if present, naming the key (and `where`) on a type error.
template <class T>
void read_key(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
    const auto it = j.find(key);
    if (it == j.end()) return;
    try {
        out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
        fail("recur: ", where, "key '", key, "' has the wrong type (", it->type_name(), ")");
    }
}

template <class E>
E read_enum(const nlohmann::json& j, const char* key, E current, std::initializer_list<std::pair<const char*, E>> names,
            const std::string& where) {
    std::string v;
    read_key(j, key, v, where);
    if (v.empty()) return current;
    for (const auto& [n, e] : names)
        if (v == n) return e;
    fail("recur: ", where, "key '", key, "' has the unknown value '", v, "'");
}

inline void reject_unknown(const nlohmann::json& j, const std::set<std::string>& known, const std::string& where) {
    check(j.is_object(), "recur: ", where, "expected a JSON object, got ", j.type_name());
    for (const auto& [k, v] : j.items())
        check(known.count(k) == 1, "recur: ", where, "unknown key '", k, "'");
}

}  // namespace detail

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

/// Reads a model_config from a JSON file; errors name the file.
inline model_config load_model_config(const std::string& path) {
    std::ifstream f(path);
    check(f.good(), "recur::load_model_config: cannot open '", path, "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(f);
    } catch (const nlohmann::json::parse_error& e) {
        fail("recur::load_model_config: '", path, "' is not valid JSON: ", e.what());
    }
    return model_config_from_json(j, path);
}

}  // namespace recur
