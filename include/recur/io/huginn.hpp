// The paper's recurrent checkpoints: Hugging Face directories with model_type "huginn_raven" (the
// released retrofits of Llama models and Huginn-0125), read into and written from RecurrentOf<B, BlockT>.
// docs/method.md section 6 describes the format; the names map as
//   transformer.wte <-> model.embed_tokens, transformer.ln_f <-> model.norm, lm_head <-> lm_head,
//   transformer.adapter <-> model.adapter, transformer.{prelude,core_block,coda}.<j> <-> the j-th block
//   of model.{prelude,core,coda}; in a block attn.Wqkv = rows of q_proj, k_proj, v_proj; attn.qk_bias
//   (2, 1, heads, head_dim) = the q and k biases; attn.proj = o_proj; mlp.fc = rows of gate_proj, up_proj;
//   mlp.proj = down_proj; norm_1, norm_2, ... = the block's norms in the order the block applies them.
// Not here: the safetensors format (safetensors.hpp), plain Hugging Face folders (hf.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/io/atomic_file.hpp>
#include <recur/io/config_json.hpp>
#include <recur/io/hf.hpp>
#include <recur/io/read_text.hpp>
#include <recur/io/recur_model.hpp>
#include <recur/io/safetensors.hpp>
#include <recur/recurrence/recurrent.hpp>

namespace recur {

/// The block variants of the format, told apart by the tensors a checkpoint holds.
enum class huginn_variant {
    llama,   ///< Llama-derived retrofits: pre-norm (norm_1, norm_2), rotate-half RoPE, llama3 scaling
    huginn,  ///< Huginn-0125: sandwich block (norm_1 .. norm_4), interleaved RoPE, qk_bias, embed_scale
    olmo2,   ///< OLMo-2 retrofits: norms on the sublayer outputs, attn.q_norm and attn.k_norm
};

inline const char* huginn_variant_name(huginn_variant v) {
    switch (v) {
        case huginn_variant::llama: return "Llama-derived (pre-norm)";
        case huginn_variant::huginn: return "Huginn-0125 (sandwich)";
        case huginn_variant::olmo2: return "OLMo-2-derived (post-norm with q/k norms)";
    }
    return "?";
}

/// What a huginn_raven directory's config.json says, in recur's terms.
struct huginn_info {
    model_config config;
    surgery_spec surgery;
    recurrence_options options;
    huginn_variant variant = huginn_variant::llama;
};

namespace detail {

/// The variant whose tensors `names` holds: norm_4 in the first core block marks Huginn-0125, attn.q_norm
/// OLMo-2, neither the Llama-derived pre-norm block.
inline huginn_variant huginn_variant_of(const safetensors_set& src) {
    if (src.contains("transformer.core_block.0.norm_4.weight")) return huginn_variant::huginn;
    if (src.contains("transformer.core_block.0.attn.q_norm.weight")) return huginn_variant::olmo2;
    return huginn_variant::llama;
}

/// The variant a recur block type is written as; recur::error for blocks the format has no variant for.
template <class BlockT>
huginn_variant huginn_variant_for(const model_config& c) {
    if constexpr (BlockT::kind == block_kind::sandwich) {
        check(!c.qk_norm, "recur::save_huginn: a sandwich block with q/k norms has no variant in the paper's format");
        return huginn_variant::huginn;
    } else if constexpr (BlockT::kind == block_kind::olmo2) {
        check(c.qk_norm, "recur::save_huginn: the format's OLMo-2 variant has q/k norms (qk_norm is not set)");
        return huginn_variant::olmo2;
    } else {
        check(!c.qk_norm, "recur::save_huginn: a pre-norm block with q/k norms has no variant in the paper's format");
        return huginn_variant::llama;
    }
}

inline double huginn_default_std(std::int64_t d) { return std::sqrt(2.0 / (5.0 * static_cast<double>(d))); }

/// One tensor of the file: the recur parameters stacked (flattened, in order) into it, and its shape.
template <Backend B>
struct huginn_tensor {
    std::string name;
    std::vector<Tensor<B>*> parts;
    Shape shape;
};

/// The file's tensors for the blocks of one stack, named "<prefix>.<j>" for the j-th block.
template <Backend B, class BlockT>
void huginn_stack_tensors(std::vector<huginn_tensor<B>>& out, const std::string& prefix, Stack<BlockT>& stack,
                          const model_config& c) {
    const std::int64_t d = c.d_model, hd = c.resolved_head_dim(), q = c.n_heads * hd, kv = c.n_kv_heads * hd;
    for (std::size_t j = 0; j < stack.blocks.size(); ++j) {
        const std::string p = prefix + "." + std::to_string(j) + ".";
        auto& b = stack.blocks[j];
        auto& a = b.self_attn;
        int norm = 0;
        auto norm_slot = [&](std::size_t slot) {
            if (b.norms[slot].weight.defined())
                out.push_back({p + "norm_" + std::to_string(++norm) + ".weight", {&b.norms[slot].weight}, Shape{d}});
        };
        norm_slot(0);
        out.push_back({p + "attn.Wqkv.weight", {&a.q_proj.weight, &a.k_proj.weight, &a.v_proj.weight}, Shape{q + 2 * kv, d}});
        if (c.qk_bias) out.push_back({p + "attn.qk_bias", {&a.q_proj.bias, &a.k_proj.bias}, Shape{2, 1, c.n_heads, hd}});
        if (c.qk_norm) {
            out.push_back({p + "attn.q_norm.weight", {&a.q_norm.weight}, Shape{q}});
            out.push_back({p + "attn.k_norm.weight", {&a.k_norm.weight}, Shape{kv}});
        }
        out.push_back({p + "attn.proj.weight", {&a.o_proj.weight}, Shape{d, q}});
        norm_slot(1);
        norm_slot(2);
        out.push_back({p + "mlp.fc.weight", {&b.mlp.gate_proj.weight, &b.mlp.up_proj.weight}, Shape{2 * c.ffn_dim, d}});
        out.push_back({p + "mlp.proj.weight", {&b.mlp.down_proj.weight}, Shape{d, c.ffn_dim}});
        norm_slot(3);
    }
}

/// Every tensor of the file for model `m`, with lm_head.weight only when `with_head`.
template <Backend B, class BlockT>
std::vector<huginn_tensor<B>> huginn_tensors(RecurrentOf<B, BlockT>& m, bool with_head) {
    const model_config& c = m.config;
    std::vector<huginn_tensor<B>> out;
    out.push_back({"transformer.wte.weight", {&m.embed_tokens.weight}, Shape{c.vocab_size, c.d_model}});
    huginn_stack_tensors(out, "transformer.prelude", m.prelude, c);
    out.push_back({"transformer.adapter.weight", {&m.adapter.weight}, Shape{c.d_model, 2 * c.d_model}});
    huginn_stack_tensors(out, "transformer.core_block", m.core, c);
    huginn_stack_tensors(out, "transformer.coda", m.coda, c);
    out.push_back({"transformer.ln_f.weight", {&m.norm.weight}, Shape{c.d_model}});
    if (with_head) out.push_back({"lm_head.weight", {&m.lm_head.weight}, Shape{c.vocab_size, c.d_model}});
    return out;
}

/// Host values in the precision that keeps B's scalars exact.
template <Backend B>
using huginn_host_t = std::conditional_t<std::is_same_v<typename B::scalar, double>, double, float>;


inline huginn_info read_huginn_config(const nlohmann::json& j, const std::string& where, huginn_variant v) {
    if (!j.is_object()) io_fail("recur::huginn_config: '", where, "' is JSON ", j.type_name(), ", expected an object");
    const hf_keys k(j, where);
    auto expect = [&](const char* key, const char* value) {
        if (const auto s = k.string(key); s && *s != value) k.bad(key, "is '", *s, "'; recur reads '", value, "'");
    };
    const auto type = k.string("model_type");
    if (!type) k.bad("model_type", "is missing (expected 'huginn_raven')");
    expect("model_type", "huginn_raven");
    expect("block_class_name", "SandwichBlock");
    expect("injection_type", "linear");
    expect("mlp_class_name", "GatedMLP");
    expect("nonlin_name", "SiLU");
    if (k.boolean("bias", false)) k.bad("bias", "is true; recur reads checkpoints whose linear layers have no biases");

    huginn_info info;
    info.variant = v;
    model_config& c = info.config;
    recurrence_options& o = info.options;
    c.d_model = k.positive("n_embd");
    c.n_heads = k.find("n_heads") ? k.positive("n_heads") : k.positive("num_attention_heads");
    c.n_kv_heads = k.positive_or("num_key_value_heads", c.n_heads);
    if (c.d_model % c.n_heads != 0)
        k.bad("n_embd", "(", c.d_model, ") is not divisible by n_heads (", c.n_heads, "); the format's heads are n_embd / n_heads wide");
    if (k.find("head_dim") && k.positive("head_dim") != c.d_model / c.n_heads)
        k.bad("head_dim", "(", k.positive("head_dim"), ") is not n_embd / n_heads (", c.d_model / c.n_heads,
              "), which is the width the format's code uses");
    c.ffn_dim = k.positive("intermediate_size");
    c.vocab_size = k.find("padded_vocab_size") ? k.positive("padded_vocab_size") : k.positive("vocab_size");
    std::int64_t parts[3] = {};
    const char* part_keys[3] = {"n_layers_in_prelude", "n_layers_in_recurrent_block", "n_layers_in_coda"};
    for (int i = 0; i < 3; ++i) {
        const auto n = k.integer(part_keys[i]);
        if (!n) k.bad(part_keys[i], "is missing");
        if (*n < (i == 1 ? 1 : 0) || *n > 1 << 20) k.bad(part_keys[i], "must be in [", i == 1 ? 1 : 0, ", 2^20], got ", *n);
        parts[i] = *n;
    }
    c.n_layers = parts[0] + parts[1] + parts[2];
    if (const auto n = k.integer("n_layers"); n && *n != c.n_layers)
        k.bad("n_layers", "(", *n, ") is not the sum of the prelude, recurrent block and coda layers (", c.n_layers, ")");
    c.norm_eps = k.number("norm_eps", 1e-6);
    if (!(c.norm_eps >= 0)) k.bad("norm_eps", "must be >= 0, got ", c.norm_eps);
    c.qk_bias = k.boolean("qk_bias", true);
    if (c.qk_bias && c.n_kv_heads != c.n_heads)
        k.bad("qk_bias", "is true with num_key_value_heads ", c.n_kv_heads, " != n_heads ", c.n_heads,
              "; the format's k bias has one row per query head");
    if (c.qk_bias && v == huginn_variant::olmo2)
        k.bad("qk_bias", "is true in an OLMo-2 checkpoint, whose code adds the bias after the q/k norms (recur adds it before)");
    c.tie_embeddings = k.boolean("tie_embeddings", true);
    c.block = v == huginn_variant::huginn ? block_kind::sandwich : v == huginn_variant::olmo2 ? block_kind::olmo2 : block_kind::llama;
    c.qk_norm = v == huginn_variant::olmo2;
    if (v == huginn_variant::huginn) {
        c.rope.layout = rope_layout::interleaved;
        c.rope.theta = k.number("rope_base", 50000.0);
        if (k.find("rope_scaling")) k.bad("rope_scaling", "is set, but Huginn-0125's RoPE has no scaling");
        c.max_seq_len = k.positive_or("block_size", 4096);
    } else {
        c.rope.layout = rope_layout::half;
        c.rope.theta = k.number("rope_theta", k.number("rope_base", 50000.0));
        if (const auto* r = k.find("rope_scaling")) {
            if (!r->is_object()) k.bad("rope_scaling", "holds ", r->dump(), ", expected an object or null");
            c.rope.scaling = hf_rope_scaling(hf_keys(*r, where, "rope_scaling."));
        }
        c.max_seq_len = k.positive_or("max_position_embeddings", k.positive_or("block_size", 4096));
    }
    if (!(c.rope.theta > 0)) k.bad(v == huginn_variant::huginn ? "rope_base" : "rope_theta", "must be positive, got ", c.rope.theta);

    double std = huginn_default_std(c.d_model);
    c.embed_scale = std::sqrt(static_cast<double>(c.d_model));
    if (const auto* iv = k.find("init_values")) {
        if (!iv->is_object()) k.bad("init_values", "holds ", iv->dump(), ", expected an object");
        const hf_keys ik(*iv, where, "init_values.");
        std = ik.number("std", std);
        c.embed_scale = ik.number("embed_scale", c.embed_scale);
        if (!(std >= 0 && std < 1e6)) ik.bad("std", "must be >= 0 and finite, got ", std);
        if (!(c.embed_scale > 0 && c.embed_scale < 1e30)) ik.bad("embed_scale", "must be positive and finite, got ", c.embed_scale);
    }
    c.init_std = std > 0 ? std : 0.02;
    const std::string mode = k.string("initial_state_mode").value_or("random");
    if (mode == "random") {
        o.init = std > 0 ? state_init::truncated_normal : state_init::zeros;
        o.init_scale = std > 0 ? std / huginn_default_std(c.d_model) : 1.0;
    } else if (mode == "embed-init") {
        o.init = state_init::copy_embedding;
    } else {
        k.bad("initial_state_mode", "is '", mode, "'; recur reads 'random' and 'embed-init'");
    }
    if (v == huginn_variant::huginn && o.init != state_init::truncated_normal)
        k.bad("initial_state_mode", "must be 'random' with init_values.std > 0 for Huginn-0125, whose code always draws the state");
    o.inject = injection::concat_adapter;
    o.adapter = adapter_init::random;
    o.mean_r = k.positive_or("mean_recurrence", 32);
    o.backprop_depth = k.positive_or("mean_backprop_depth", 8);

    info.surgery = surgery_spec::contiguous(parts[0], parts[1], parts[2]);
    if (const auto* extra = k.find("recur")) {
        if (!extra->is_object()) k.bad("recur", "holds ", extra->dump(), ", expected an object");
        const hf_keys rk(*extra, where, "recur.");
        reject_unknown(*extra, {"source_layers", "surgery", "seed", "adapter_init"}, where + ": recur: ");
        c.n_layers = rk.positive_or("source_layers", c.n_layers);
        if (const auto* s = rk.find("surgery")) {
            info.surgery = surgery_spec_from_json(*s, c.n_layers, where + ": recur");
            const std::size_t got[3] = {info.surgery.prelude.size(), info.surgery.core.size(), info.surgery.coda.size()};
            for (int i = 0; i < 3; ++i)
                if (static_cast<std::int64_t>(got[i]) != parts[i])
                    rk.bad("surgery", "lists ", got[i], " layers where ", part_keys[i], " says ", parts[i]);
        } else if (c.n_layers < parts[0] + parts[1] + parts[2]) {
            rk.bad("source_layers", "(", c.n_layers, ") is fewer than the checkpoint's layers");
        }
        if (const auto* s = rk.find("seed")) {
            if (!s->is_number_unsigned()) rk.bad("seed", "holds ", s->dump(), ", expected a non-negative integer");
            o.seed = s->get<std::uint64_t>();
        }
        if (const auto a = rk.string("adapter_init")) {
            if (*a != "random" && *a != "passthrough") rk.bad("adapter_init", "is '", *a, "', expected 'random' or 'passthrough'");
            o.adapter = *a == "passthrough" ? adapter_init::passthrough : adapter_init::random;
        }
    }
    c.validate();
    return info;
}
}  // namespace detail

/// A huginn_info from a huginn_raven config.json object whose tensors are of variant `v`.
///
/// Read: n_embd, n_heads (or num_attention_heads), num_key_value_heads (= n_heads), head_dim (must be
/// n_embd / n_heads, as the format's code derives it), intermediate_size, padded_vocab_size (or
/// vocab_size), n_layers_in_prelude / _recurrent_block / _coda (and n_layers, their sum), norm_eps
/// (1e-6), qk_bias (true), tie_embeddings (true), init_values.std (sqrt(2 / (5 d))) and .embed_scale
/// (sqrt(d)), initial_state_mode ("random": truncated normal, or zeros where std is 0; "embed-init":
/// a copy of the prelude output), mean_recurrence (32), mean_backprop_depth (8); RoPE: Huginn-0125
/// rotates interleaved pairs with rope_base (50000) up to block_size (4096) positions, the
/// retrofits rotate-half pairs with rope_theta (else rope_base) and rope_scaling up to
/// max_position_embeddings. Defaults in brackets are RavenConfig's. block_class_name must be
/// "SandwichBlock", injection_type "linear", bias false. sampling_scheme and state_init are training
/// settings the format's code does not read, and are ignored. recur's own key "recur" (written by
/// save_huginn) restores the source layer numbers, the seed and the adapter's initialisation.
/// Problems throw recur::io_error naming `where` and the key.
inline huginn_info huginn_config_from_json(const nlohmann::json& j, const std::string& where, huginn_variant v) {
    try {
        return detail::read_huginn_config(j, where, v);
    } catch (const io_error&) {
        throw;
    } catch (const error& e) {
        io_fail("recur::huginn_config: '", where, "': ", e.what());
    }
}

/// True when dir/config.json is a JSON object with model_type "huginn_raven".
inline bool is_huginn_dir(const std::filesystem::path& dir) {
    if (!std::filesystem::is_regular_file(dir / "config.json")) return false;
    try {
        const auto j = detail::read_json_file(dir / "config.json", "recur::is_huginn_dir");
        return j.is_object() && j.contains("model_type") && j["model_type"] == "huginn_raven";
    } catch (const error&) {
        return false;
    }
}

/// Reads dir/config.json and the variant its tensors are of.
inline huginn_info load_huginn_info(const std::filesystem::path& dir, const safetensors_set& src) {
    const auto path = dir / "config.json";
    return huginn_config_from_json(detail::read_json_file(path, "recur::load_huginn"), path.string(),
                                   detail::huginn_variant_of(src));
}

/// The config.json save_huginn writes for `m` (RavenConfig's keys, with auto_map naming the paper's
/// raven_config_minimal / raven_modeling_minimal, and "recur" holding what the format cannot say:
/// the source layer numbers, the seed and the adapter's initialisation).
/// recur::error where the format cannot express `m`: additive injection, v biases, q/k norms on a
/// pre-norm block, heads not n_embd / n_heads wide, a q/k bias with grouped-query heads, a sandwich
/// block with rotate-half RoPE or RoPE scaling, or a Huginn-0125 state that is not drawn.
template <Backend B, class BlockT>
nlohmann::json huginn_config_to_json(const RecurrentOf<B, BlockT>& m, bool tied) {
    const model_config& c = m.config;
    const recurrence_options& o = m.options;
    c.validate();
    const huginn_variant v = detail::huginn_variant_for<BlockT>(c);
    const char* who = "recur::save_huginn: ";
    check(o.inject == injection::concat_adapter, who, "the format injects through the linear adapter only, not additively");
    check(!c.attention_bias, who, "the format has q and k biases (qk_bias) but no v bias (attention_bias is set)");
    check(c.resolved_head_dim() * c.n_heads == c.d_model, who, "the format's heads are d_model / n_heads wide; head_dim ",
          c.resolved_head_dim(), " x ", c.n_heads, " heads != d_model ", c.d_model);
    check(!c.qk_bias || c.n_kv_heads == c.n_heads, who, "the format's k bias needs n_kv_heads == n_heads");
    check(!c.qk_bias || !c.qk_norm, who, "the format's OLMo-2 code adds q/k biases after the q/k norms, recur before");
    const double base_std = detail::huginn_default_std(c.d_model);
    double std = base_std * o.init_scale;
    std::string mode = "random";
    if (o.init == state_init::zeros) std = 0;
    if (o.init == state_init::copy_embedding) mode = "embed-init";
    nlohmann::json j{
        {"architectures", {"RavenForCausalLM"}},
        {"auto_map",
         {{"AutoConfig", "raven_config_minimal.RavenConfig"}, {"AutoModelForCausalLM", "raven_modeling_minimal.RavenForCausalLM"}}},
        {"model_type", "huginn_raven"},
        {"architecture_class_name", "RecurrentGPT"},
        {"block_class_name", "SandwichBlock"},
        {"norm_class_name", "RMSNorm_llama"},
        {"mlp_class_name", "GatedMLP"},
        {"nonlin_name", "SiLU"},
        {"injection_type", "linear"},
        {"state_init", "like-init"},
        {"initial_state_mode", mode},
        {"sampling_scheme", "poisson-lognormal-filling"},
        {"n_embd", c.d_model},
        {"n_heads", c.n_heads},
        {"num_key_value_heads", c.n_kv_heads},
        {"head_dim", c.resolved_head_dim()},
        {"intermediate_size", c.ffn_dim},
        {"vocab_size", c.vocab_size},
        {"padded_vocab_size", c.vocab_size},
        {"n_layers_in_prelude", m.prelude.size()},
        {"n_layers_in_recurrent_block", m.core.size()},
        {"n_layers_in_coda", m.coda.size()},
        {"n_layers", m.prelude.size() + m.core.size() + m.coda.size()},
        {"mean_recurrence", o.mean_r},
        {"mean_backprop_depth", o.backprop_depth},
        {"norm_eps", c.norm_eps},
        {"qk_bias", c.qk_bias},
        {"bias", false},
        {"tie_embeddings", tied},
        {"block_size", c.max_seq_len},
        {"max_position_embeddings", c.max_seq_len},
        {"rope_base", c.rope.theta},
        {"init_values",
         {{"std", std},
          {"embedding", std},
          {"out_proj", base_std / std::sqrt(2.0 * static_cast<double>(m.prelude.size() + m.coda.size() +
                                                                      m.core.size() * static_cast<std::size_t>(o.mean_r)))},
          {"embed_scale", c.embed_scale}}},
        {"recur",
         {{"source_layers", c.n_layers},
          {"surgery", to_json(m.spec())},
          {"seed", o.seed},
          {"adapter_init", o.adapter == adapter_init::passthrough ? "passthrough" : "random"}}},
    };
    if (v == huginn_variant::huginn) {
        check(c.rope.layout == rope_layout::interleaved && !c.rope.scaling, who,
              "Huginn-0125's code rotates interleaved pairs without RoPE scaling");
        check(o.init == state_init::truncated_normal && o.init_scale > 0, who,
              "Huginn-0125's code always draws the initial state (state_init must be truncated_normal, init_scale > 0)");
    } else {
        j["rope_theta"] = c.rope.theta;
        j["rope_scaling"] = detail::hf_rope_scaling_json(c.rope.scaling);
    }
    return j;
}

/// Loads a huginn_raven directory (config.json plus model.safetensors or an index with shards) as
/// RecurrentOf<B, BlockT>; BlockT must be the variant's block (LlamaBlock for the Llama-derived
/// retrofits, Olmo2Block for the OLMo-2 ones, SandwichBlock for Huginn-0125). A tied checkpoint's
/// head is a copy of the embedding (a stored lm_head.weight is ignored, as Hugging Face ties it);
/// the freqs_cis buffer Huginn-0125 stores is ignored (recur computes its RoPE tables). Everything
/// is checked before the model is built: each tensor present with its shape, and none left over;
/// errors name the file and tensor.
/// The overload with `src` and `info` (load_huginn_info of the same directory) is for callers that
/// read them already to choose BlockT.
template <Backend B, class BlockT>
RecurrentOf<B, BlockT> load_huginn(const std::filesystem::path& dir, const safetensors_set& src, const huginn_info& info) {
    const std::string where = (dir / "config.json").string();
    if (info.config.block != BlockT::kind)
        io_fail("recur::load_huginn: '", where, "' holds a ", huginn_variant_name(info.variant),
                " checkpoint; load it with the matching block type (",
                info.config.block == block_kind::sandwich ? "SandwichBlock"
                : info.config.block == block_kind::olmo2  ? "Olmo2Block"
                                                          : "LlamaBlock",
                ")");
    const auto blocks = info.surgery.prelude.size() + info.surgery.core.size() + info.surgery.coda.size();
    check_model_size(info.config, static_cast<double>(blocks), where, src.values());
    RecurrentOf<B, BlockT> m(info.config, info.surgery, info.options, rng::for_loading());
    const bool tied = info.config.tie_embeddings;
    auto tensors = detail::huginn_tensors(m, !tied);

    std::vector<std::string> missing, unexpected;
    std::vector<std::string> wanted;
    for (const auto& t : tensors) {
        wanted.push_back(t.name);
        if (!src.contains(t.name)) missing.push_back(t.name);
    }
    if (!missing.empty())
        io_fail("recur::load_huginn: '", src.path(), "': ", missing.size(), " tensor(s) of the ", huginn_variant_name(info.variant),
                " checkpoint are missing: ", detail::name_list(missing));
    std::sort(wanted.begin(), wanted.end());
    for (const auto& n : src.names())
        if (!std::binary_search(wanted.begin(), wanted.end(), n) && n != "freqs_cis" && !(tied && n == "lm_head.weight"))
            unexpected.push_back(n);
    if (!unexpected.empty())
        io_fail("recur::load_huginn: '", src.path(), "': ", unexpected.size(),
                " tensor(s) in the file are not part of the model: ", detail::name_list(unexpected));
    for (const auto& t : tensors)
        if (src.info(t.name).shape != t.shape)
            io_fail("recur::load_huginn: '", src.path(), "': tensor '", t.name, "' has shape ", src.info(t.name).shape,
                    " in the file, expected ", t.shape, " from '", where, "'");

    using T = detail::huginn_host_t<B>;
    for (auto& t : tensors) {
        const std::vector<T> values = src.read<T>(t.name);
        std::size_t at = 0;
        for (Tensor<B>* p : t.parts) {
            const auto n = static_cast<std::size_t>(p->numel());
            *p = Tensor<B>::from_host(std::span<const T>(values.data() + at, n), p->shape()).set_requires_grad();
            at += n;
        }
    }
    if (tied) m.lm_head.weight = m.embed_tokens.weight.detach().clone().set_requires_grad();
    return m;
}

template <Backend B, class BlockT = LlamaBlock<B>>
RecurrentOf<B, BlockT> load_huginn(const std::filesystem::path& dir) {
    const safetensors_set src(dir);
    return load_huginn<B, BlockT>(dir, src, load_huginn_info(dir, src));
}

/// Writes `m` as a huginn_raven directory (created if needed) that the paper's code loads:
/// model.safetensors in `type` (f32, bf16 or f16) and config.json, each atomically, the weights first.
/// The head is written tied (no lm_head.weight) when the config ties it and it still equals the
/// embedding, untied otherwise. Llama-block models with interleaved RoPE (llama2.c sources) have their
/// q/k rows permuted to rotate-half, as the retrofits' code expects. Huginn-0125 checkpoints also get
/// the freqs_cis buffer its code keeps with the weights. recur::error where the format cannot express
/// the model (see huginn_config_to_json).
template <Backend B, class BlockT>
void save_huginn(const std::filesystem::path& dir, const RecurrentOf<B, BlockT>& model, dtype type = dtype::f32) {
    check(type == dtype::f32 || type == dtype::bf16 || type == dtype::f16, "recur::save_huginn: '", dir.string(),
          "': checkpoints are stored in f32, bf16 or f16, not ", type);
    using T = detail::huginn_host_t<B>;
    auto m = model;  // shares storage; huginn_tensors needs mutable access and writes nothing
    const model_config& c = m.config;
    const bool tied = c.tie_embeddings && m.lm_head.weight.template to_host<T>() == m.embed_tokens.weight.template to_host<T>();
    nlohmann::json config = huginn_config_to_json(m, tied);
    config["torch_dtype"] = type == dtype::bf16 ? "bfloat16" : type == dtype::f16 ? "float16" : "float32";
    const bool permute = BlockT::kind != block_kind::sandwich && c.rope.layout == rope_layout::interleaved;
    const std::int64_t hd = c.resolved_head_dim();
    named_tensors<B> out;
    std::map<std::string, std::vector<std::int64_t>> file_shapes;
    for (const auto& t : detail::huginn_tensors(m, !tied)) {
        std::vector<T> values;
        values.reserve(static_cast<std::size_t>(t.shape.numel()));
        // q/k rows (and biases and norm weights over them) follow the permutation to rotate-half.
        const bool k_only = t.name.ends_with("attn.k_norm.weight");
        const bool qk_rows = permute && (t.name.ends_with("attn.Wqkv.weight") || t.name.ends_with("attn.qk_bias") ||
                                         t.name.ends_with("attn.q_norm.weight") || k_only);
        for (std::size_t i = 0; i < t.parts.size(); ++i) {
            const Tensor<B>& part = *t.parts[i];
            const bool is_k = k_only || i == 1;
            const auto v = qk_rows && i < 2
                               ? detail::interleaved_to_half_rows(part, is_k ? c.n_kv_heads : c.n_heads, hd).template to_host<T>()
                               : part.template to_host<T>();
            values.insert(values.end(), v.begin(), v.end());
        }
        out.emplace_back(t.name, Tensor<B>::from_host(values, t.shape));
    }
    if (BlockT::kind == block_kind::sandwich) {
        const auto inv = rope_inv_freq(c.rope, hd);
        std::vector<double> cis;
        cis.reserve(static_cast<std::size_t>(c.max_seq_len) * inv.size() * 2);
        for (std::int64_t pos = 0; pos < c.max_seq_len; ++pos)
            for (const double f : inv) {
                const float angle = static_cast<float>(pos) * static_cast<float>(f);
                cis.push_back(std::cos(angle));
                cis.push_back(std::sin(angle));
            }
        out.emplace_back("freqs_cis", Tensor<B>::from_host(cis, Shape{c.max_seq_len, 1, hd / 2, 2}));
        file_shapes["freqs_cis"] = {1, c.max_seq_len, 1, hd / 2, 2};
    }
    std::filesystem::create_directories(dir);
    save_safetensors<B>(dir / "model.safetensors", out, type, {{"format", "pt"}}, file_shapes);
    write_file_atomically(dir / "config.json", config.dump(2) + "\n");
}

}  // namespace recur
