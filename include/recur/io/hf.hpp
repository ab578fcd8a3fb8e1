// Hugging Face LlamaForCausalLM and Olmo2ForCausalLM folders: config.json <-> model_config, safetensors
// weights <-> LlamaModel (of Llama or OLMo-2 blocks).
// Not here: tokenizers (hf_tokenizer.hpp), other architectures, HF's attention_bias (it biases o_proj too)
// or mlp_bias.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/io/atomic_file.hpp>
#include <recur/io/config_json.hpp>
#include <recur/io/read_text.hpp>
#include <recur/io/safetensors.hpp>
#include <recur/nn/config.hpp>
#include <recur/nn/llama.hpp>

namespace recur {

namespace detail {

/// Typed access to the keys of one HF config object; errors name `where` and the key.
class hf_keys {
public:
    hf_keys(const nlohmann::json& j, std::string where, std::string prefix = "")
        : j_(j), where_(std::move(where)), prefix_(std::move(prefix)) {}

    template <class... Parts>
    [[noreturn]] void bad(const std::string& key, Parts&&... parts) const {
        io_fail("recur::hf_config: '", where_, "': key '", prefix_, key, "' ", std::forward<Parts>(parts)...);
    }
    /// The value of `key`, or nullptr when it is absent or null.
    const nlohmann::json* find(const std::string& key) const {
        const auto it = j_.find(key);
        return it == j_.end() || it->is_null() ? nullptr : &*it;
    }
    std::optional<std::int64_t> integer(const std::string& key) const {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_number_integer()) bad(key, "holds ", v->dump(), ", expected an integer");
        return v->get<std::int64_t>();
    }
    std::int64_t positive(const std::string& key) const {
        const auto v = integer(key);
        if (!v) bad(key, "is missing");
        if (*v <= 0) bad(key, "must be positive, got ", *v);
        return *v;
    }
    std::int64_t positive_or(const std::string& key, std::int64_t fallback) const {
        return find(key) ? positive(key) : fallback;
    }
    double number(const std::string& key, double fallback) const {
        const auto* v = find(key);
        if (!v) return fallback;
        if (!v->is_number()) bad(key, "holds ", v->dump(), ", expected a number");
        return v->get<double>();
    }
    double positive_number(const std::string& key) const {
        if (!find(key)) bad(key, "is missing");
        const double v = number(key, 0);
        if (!(v > 0)) bad(key, "must be positive, got ", v);
        return v;
    }
    bool boolean(const std::string& key, bool fallback) const {
        const auto* v = find(key);
        if (!v) return fallback;
        if (!v->is_boolean()) bad(key, "holds ", v->dump(), ", expected true or false");
        return v->get<bool>();
    }
    std::optional<std::string> string(const std::string& key) const {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_string()) bad(key, "holds ", v->dump(), ", expected a string");
        return v->get<std::string>();
    }

private:
    const nlohmann::json& j_;
    std::string where_, prefix_;
};

/// A model_config field that is one key of HF's config.json, read and written as it is; `fallback`
/// is what HF assumes when the key is absent (none: the key is required). Integers must be positive.
template <class T>
struct hf_field {
    const char* hf;
    T model_config::*member;
    std::optional<T> fallback;
};

/// The keys that map one to one. The others follow rules of their own (hf_config_from_json):
/// num_key_value_heads (absent: num_attention_heads), head_dim (absent: hidden / heads), rope_theta
/// and rope_scaling (or rope_parameters), and the constants (architectures, model_type, hidden_act,
/// attention_bias, mlp_bias).
inline constexpr auto hf_fields = std::tuple{
    hf_field<std::int64_t>{"hidden_size", &model_config::d_model, std::nullopt},
    hf_field<std::int64_t>{"intermediate_size", &model_config::ffn_dim, std::nullopt},
    hf_field<std::int64_t>{"num_hidden_layers", &model_config::n_layers, std::nullopt},
    hf_field<std::int64_t>{"num_attention_heads", &model_config::n_heads, std::nullopt},
    hf_field<std::int64_t>{"vocab_size", &model_config::vocab_size, std::nullopt},
    hf_field<std::int64_t>{"max_position_embeddings", &model_config::max_seq_len, 2048},
    hf_field<double>{"rms_norm_eps", &model_config::norm_eps, 1e-6},
    hf_field<double>{"initializer_range", &model_config::init_std, 0.02},
    hf_field<bool>{"tie_word_embeddings", &model_config::tie_embeddings, false},
};

template <class T>
void read_hf_field(const hf_keys& k, model_config& c, const hf_field<T>& f) {
    if constexpr (std::is_same_v<T, std::int64_t>)
        c.*f.member = f.fallback ? k.positive_or(f.hf, *f.fallback) : k.positive(f.hf);
    else if constexpr (std::is_same_v<T, double>)
        c.*f.member = f.fallback ? k.number(f.hf, *f.fallback) : k.positive_number(f.hf);
    else
        c.*f.member = k.boolean(f.hf, f.fallback.value_or(false));
}

/// RoPE scaling from HF's "rope_scaling" (or transformers 5's "rope_parameters") object: "default"
/// means none; "llama3" reads its four numbers; any other rope_type is unsupported.
inline std::optional<llama3_rope_scaling> hf_rope_scaling(const hf_keys& k) {
    auto type = k.string("rope_type");
    if (!type) type = k.string("type");
    if (!type) k.bad("rope_type", "is missing");
    if (*type == "default") return std::nullopt;
    if (*type != "llama3") k.bad("rope_type", "is '", *type, "'; recur supports 'default' and 'llama3'");
    llama3_rope_scaling s;
    s.factor = k.positive_number("factor");
    s.low_freq_factor = k.positive_number("low_freq_factor");
    s.high_freq_factor = k.positive_number("high_freq_factor");
    s.original_max_position_embeddings = k.positive_number("original_max_position_embeddings");
    if (s.high_freq_factor <= s.low_freq_factor)
        k.bad("high_freq_factor", "(", s.high_freq_factor, ") must exceed low_freq_factor (", s.low_freq_factor, ")");
    return s;
}

/// HF's "rope_scaling" for `s`: null, or a llama3 object (original_max_position_embeddings an
/// integer where it is one, as HF writes it).
inline nlohmann::json hf_rope_scaling_json(const std::optional<llama3_rope_scaling>& scaling) {
    if (!scaling) return nullptr;
    const auto& s = *scaling;
    nlohmann::json j{{"rope_type", "llama3"},
                     {"factor", s.factor},
                     {"low_freq_factor", s.low_freq_factor},
                     {"high_freq_factor", s.high_freq_factor},
                     {"original_max_position_embeddings", s.original_max_position_embeddings}};
    const double o = s.original_max_position_embeddings;
    if (o == static_cast<double>(static_cast<std::int64_t>(o))) j["original_max_position_embeddings"] = static_cast<std::int64_t>(o);
    return j;
}

/// Permutes the rows of a q or k projection (heads x head_dim rows) from the interleaved RoPE
/// layout (pairs 2i, 2i+1) to rotate-half (pairs i, i + D/2), as Meta-to-HF conversion does.
template <Backend B>
Tensor<B> interleaved_to_half_rows(const Tensor<B>& w, std::int64_t heads, std::int64_t head_dim) {
    using T = typename B::scalar;
    const auto in = w.template to_host<T>();
    std::vector<T> out(in.size());
    const std::int64_t cols = w.numel() / (heads * head_dim), half = head_dim / 2;
    for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t i = 0; i < half; ++i)
            for (std::int64_t odd = 0; odd < 2; ++odd) {
                const auto src = static_cast<std::size_t>((h * head_dim + 2 * i + odd) * cols);
                const auto dst = static_cast<std::size_t>((h * head_dim + odd * half + i) * cols);
                std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(src), cols, out.begin() + static_cast<std::ptrdiff_t>(dst));
            }
    return Tensor<B>::from_host(out, w.shape());
}

}  // namespace detail

/// A model_config from a Hugging Face LlamaForCausalLM or Olmo2ForCausalLM config.json object (OLMo-2:
/// block olmo2 with qk_norm; it has the same keys).
///
/// Required: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size.
/// Optional (HF defaults): num_key_value_heads (= heads), head_dim (= hidden / heads), rms_norm_eps
/// (1e-6), rope_theta (10000), rope_scaling (null, or rope_type "llama3"), tie_word_embeddings
/// (false), max_position_embeddings (2048), initializer_range (0.02). The RoPE layout is always
/// rotate-half. Unrelated keys (torch_dtype, bos_token_id, ...) are ignored; the keys read are type
/// checked, and inconsistent values, architectures without LlamaForCausalLM or Olmo2ForCausalLM, a
/// model_type other than "llama" or "olmo2", a hidden_act other than "silu", attention_bias or
/// mlp_bias throw recur::io_error naming `where` (the file) and the key.
inline model_config hf_config_from_json(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) io_fail("recur::hf_config: '", where, "' is JSON ", j.type_name(), ", expected an object");
    const detail::hf_keys k(j, where);
    bool olmo2 = false;
    if (const auto* a = k.find("architectures")) {
        if (!a->is_array() || !std::all_of(a->begin(), a->end(), [](const auto& v) { return v.is_string(); }))
            k.bad("architectures", "holds ", a->dump(), ", expected an array of strings");
        olmo2 = std::find(a->begin(), a->end(), "Olmo2ForCausalLM") != a->end();
        if (!olmo2 && std::find(a->begin(), a->end(), "LlamaForCausalLM") == a->end())
            k.bad("architectures", "is ", a->dump(), "; recur reads LlamaForCausalLM and Olmo2ForCausalLM");
    }
    if (const auto t = k.string("model_type")) {
        if (*t != "llama" && *t != "olmo2") k.bad("model_type", "is '", *t, "', expected 'llama' or 'olmo2'");
        if ((*t == "olmo2") != olmo2 && k.find("architectures"))
            k.bad("model_type", "is '", *t, "', which contradicts architectures");
        olmo2 = *t == "olmo2";
    }
    if (const auto act = k.string("hidden_act"); act && *act != "silu")
        k.bad("hidden_act", "is '", *act, "'; recur's MLP uses 'silu'");
    if (k.boolean("attention_bias", false))
        k.bad("attention_bias", "is true; HF Llama then biases o_proj too, which recur's Attention does not support");
    if (k.boolean("mlp_bias", false)) k.bad("mlp_bias", "is true; recur's MLP has no biases");

    model_config c;
    if (olmo2) {
        c.block = block_kind::olmo2;
        c.qk_norm = true;
    }
    std::apply([&](const auto&... f) { (detail::read_hf_field(k, c, f), ...); }, detail::hf_fields);
    c.n_kv_heads = k.positive_or("num_key_value_heads", c.n_heads);
    if (k.find("head_dim")) {
        const auto hd = k.positive("head_dim");
        c.head_dim = c.d_model % c.n_heads == 0 && hd == c.d_model / c.n_heads ? 0 : hd;
    } else if (c.d_model % c.n_heads != 0) {
        k.bad("hidden_size", "(", c.d_model, ") is not divisible by num_attention_heads (", c.n_heads, ") and head_dim is absent");
    }
    if (c.n_heads % c.n_kv_heads != 0)
        k.bad("num_key_value_heads", "(", c.n_kv_heads, ") does not divide num_attention_heads (", c.n_heads, ")");
    if (c.resolved_head_dim() % 2 != 0)
        k.bad("head_dim", "(", c.resolved_head_dim(), ") must be even for RoPE");
    if (!(c.norm_eps >= 0)) k.bad("rms_norm_eps", "must be >= 0, got ", c.norm_eps);
    c.rope.theta = k.number("rope_theta", 10000.0);
    for (const char* key : {"rope_scaling", "rope_parameters"}) {
        const auto* r = k.find(key);
        if (!r) continue;
        if (!r->is_object()) k.bad(key, "holds ", r->dump(), ", expected an object or null");
        const detail::hf_keys rk(*r, where, std::string(key) + ".");
        c.rope.theta = rk.number("rope_theta", c.rope.theta);
        c.rope.scaling = detail::hf_rope_scaling(rk);
    }
    if (!(c.rope.theta > 0)) k.bad("rope_theta", "must be positive, got ", c.rope.theta);
    try {
        c.validate();
    } catch (const error& e) {
        io_fail("recur::hf_config: '", where, "': ", e.what());
    }
    return c;
}

/// Reads a Hugging Face config.json; errors name the file.
inline model_config load_hf_config(const std::filesystem::path& path) {
    return hf_config_from_json(detail::read_json_file(path, "recur::load_hf_config"), path.string());
}

/// The config.json of the LlamaForCausalLM (or, for OLMo-2 blocks, Olmo2ForCausalLM) that save_hf
/// writes for a model with config `c`. It always says rotate-half RoPE: save_hf permutes q/k rows of
/// interleaved models to match. recur::error if HF cannot express `c` (q/k norms on a Llama block or
/// none on an OLMo-2 block, q/k(/v) biases, embed_scale, or sandwich blocks).
inline nlohmann::json hf_config_to_json(const model_config& c) {
    c.validate();
    check(c.block != block_kind::sandwich, "recur::hf_config_to_json: sandwich blocks map to no Hugging Face "
          "architecture (Llama and OLMo-2 blocks do)");
    const bool olmo2 = c.block == block_kind::olmo2;
    check(c.qk_norm == olmo2, "recur::hf_config_to_json: ", olmo2 ? "HF OLMo-2 always has q/k norms (qk_norm is not set)"
                                                                  : "HF Llama has no q/k norm (qk_norm is set)");
    check(!c.attention_bias, "recur::hf_config_to_json: HF Llama's attention_bias also biases o_proj; recur's q/k/v "
          "biases (attention_bias) cannot be exported");
    check(!c.qk_bias, "recur::hf_config_to_json: HF Llama has no q/k-only biases (qk_bias is set)");
    check(c.embed_scale == 1.0, "recur::hf_config_to_json: HF Llama does not scale its embeddings (embed_scale is ",
          c.embed_scale, ")");
    nlohmann::json j{
        {"architectures", {olmo2 ? "Olmo2ForCausalLM" : "LlamaForCausalLM"}},
        {"model_type", olmo2 ? "olmo2" : "llama"},
        {"hidden_act", "silu"},
        {"num_key_value_heads", c.n_kv_heads},
        {"head_dim", c.resolved_head_dim()},
        {"rope_theta", c.rope.theta},
        {"rope_scaling", nullptr},
        {"attention_bias", false},
        {"mlp_bias", false},
    };
    std::apply([&](const auto&... f) { ((j[f.hf] = c.*f.member), ...); }, detail::hf_fields);
    j["rope_scaling"] = detail::hf_rope_scaling_json(c.rope.scaling);
    return j;
}

/// True for names HF checkpoints may carry that are buffers, not parameters
/// ("model.layers.N.self_attn.rotary_emb.inv_freq").
inline bool hf_ignored_tensor(const std::string& name) {
    constexpr std::string_view prefix = "model.layers.", suffix = ".self_attn.rotary_emb.inv_freq";
    if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix)) return false;
    const auto layer = std::string_view(name).substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    return std::all_of(layer.begin(), layer.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

/// Loads a Hugging Face LlamaForCausalLM folder (with BlockT = LlamaBlock<B>) or Olmo2ForCausalLM
/// folder (Olmo2Block<B>): config.json plus model.safetensors or model.safetensors.index.json with its
/// shards. A tied model may omit lm_head.weight (a stored one is ignored, as HF does); an untied one
/// must have it. Parameters are loaded in B's compute dtype. Every mismatch throws recur::io_error
/// naming the file and the tensor or key.
template <Backend B, class BlockT = LlamaBlock<B>>
LlamaModel<B, BlockT> load_hf(const std::filesystem::path& dir) {
    const model_config c = load_hf_config(dir / "config.json");
    if (c.block != BlockT::kind)
        io_fail("recur::load_hf: '", (dir / "config.json").string(), "' describes ",
                c.block == block_kind::olmo2 ? "an OLMo-2" : "a Llama", " model; load it with the matching block type");
    const safetensors_set src(dir);
    check_model_size(c, static_cast<double>(c.n_layers), (dir / "config.json").string(), src.values());
    LlamaModel<B, BlockT> m(c, rng::for_loading());
    load_parameters<B>(m, src, [&](const std::string& name) {
        return hf_ignored_tensor(name) || (c.tie_embeddings && name == "lm_head.weight");
    });
    return m;
}

/// Writes `m` as a Hugging Face LlamaForCausalLM (or Olmo2ForCausalLM) folder (created if needed): config.json and
/// model.safetensors in `type` (f32, bf16 or f16), both atomically, with {"format": "pt"} metadata.
/// Interleaved-RoPE models (llama2.c) are exported with their q/k rows permuted to rotate-half, so
/// the exported model computes the same function. recur::error if HF Llama cannot express the model.
template <Backend B, class BlockT>
void save_hf(const std::filesystem::path& dir, const LlamaModel<B, BlockT>& m, dtype type = dtype::f32) {
    nlohmann::json config = hf_config_to_json(m.config);
    const std::int64_t hd = m.config.resolved_head_dim();
    const bool permute = m.config.rope.layout == rope_layout::interleaved;
    named_tensors<B> tensors;
    auto copy = m;  // visit_parameters is non-const; the copy shares storage and writes nothing
    copy.visit_parameters("", [&](const std::string& name, Tensor<B>& t) {
        // q/k rows, and the q/k norms' weights over them, follow the permutation.
        const bool q = name.ends_with("self_attn.q_proj.weight") || name.ends_with("self_attn.q_norm.weight"),
                   k = name.ends_with("self_attn.k_proj.weight") || name.ends_with("self_attn.k_norm.weight");
        if (permute && (q || k))
            tensors.emplace_back(name, detail::interleaved_to_half_rows(t, q ? m.config.n_heads : m.config.n_kv_heads, hd));
        else
            tensors.emplace_back(name, t);
    });
    check(type == dtype::f32 || type == dtype::bf16 || type == dtype::f16, "recur::save_hf: '", dir.string(),
          "': HF checkpoints are stored in f32, bf16 or f16, not ", type);
    config["torch_dtype"] = type == dtype::bf16 ? "bfloat16" : type == dtype::f16 ? "float16" : "float32";
    std::filesystem::create_directories(dir);
    save_safetensors<B>(dir / "model.safetensors", tensors, type, {{"format", "pt"}});
    write_file_atomically(dir / "config.json", config.dump(2) + "\n");
}

}  // namespace recur
