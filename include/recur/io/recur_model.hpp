// Recurrent models on disk: a directory with config.json (the recur schema below) and model.safetensors
// (parameters under Recurrent's names), plus surgery specs and recurrence options as JSON.
// Not here: the safetensors format itself (safetensors.hpp) or Hugging Face checkpoints (hf.hpp).
//
// config.json schema, format 1:
//   {
//     "recur_format": 1,
//     "architecture": "Recurrent",
//     "model":      { model_config keys, see config_json.hpp; n_layers = the source model's layers },
//     "surgery":    { "prelude": [source layer indices], "core": [...], "coda": [...] },
//     "recurrence": { "state_init": "truncated_normal" | "zeros" | "copy_embedding",
//                     "init_scale": 1.0,
//                     "injection": "concat_adapter" | "additive",
//                     "adapter_init": "random" | "passthrough",
//                     "seed": 0,
//                     "mean_r": 4,            default test-time r and the training target r_bar
//                     "backprop_depth": 8 },  default s
//     "source": "..."                          optional: where the weights came from
//   }
// Parameters: model.embed_tokens.weight, model.prelude.<i>.*, model.adapter.weight (concat_adapter),
// model.core.<i>.*, model.coda.<i>.*, model.norm.weight, lm_head.weight; <i> is the source layer index.
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/io/atomic_file.hpp>
#include <recur/io/config_json.hpp>
#include <recur/io/json_fields.hpp>
#include <recur/io/json_text.hpp>
#include <recur/io/read_text.hpp>
#include <recur/io/safetensors.hpp>
#include <recur/recurrence/recurrent.hpp>

namespace recur {

inline constexpr int recur_format_version = 1;

/// Parses a layer list such as "0,1,4-7" (ranges inclusive) into {0, 1, 4, 5, 6, 7}; "" is empty.
/// Throws recur::error naming `what` and the offending item.
inline std::vector<std::int64_t> parse_layer_list(std::string_view text, std::string_view what) {
    std::vector<std::int64_t> out;
    auto number = [&](std::string_view s, std::string_view item) {
        std::int64_t v = -1;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        check(!s.empty() && ec == std::errc() && end == s.data() + s.size() && v >= 0, "recur: ", what, ": '", item,
              "' is not a layer index or range (expected a list like 0,1,4-7)");
        return v;
    };
    while (!text.empty()) {
        const auto comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        check(!item.empty(), "recur: ", what, ": empty item in the layer list");
        if (const auto dash = item.find('-'); dash != std::string_view::npos) {
            const auto lo = number(item.substr(0, dash), item), hi = number(item.substr(dash + 1), item);
            check(lo <= hi, "recur: ", what, ": range '", item, "' runs backwards");
            for (auto i = lo; i <= hi; ++i) out.push_back(i);
        } else {
            out.push_back(number(item, item));
        }
    }
    return out;
}

inline nlohmann::json to_json(const surgery_spec& s) {
    return {{"prelude", s.prelude}, {"core", s.core}, {"coda", s.coda}};
}

/// Reads {"prelude": [...], "core": [...], "coda": [...]} and validates it against `source_layers`
/// (negative: no upper bound). Errors name `where` and the key.
inline surgery_spec surgery_spec_from_json(const nlohmann::json& j, std::int64_t source_layers, const std::string& where) {
    const std::string at = where.empty() ? "" : where + ": ";
    detail::reject_unknown(j, {"prelude", "core", "coda"}, at + "surgery: ");
    surgery_spec s;
    for (auto [key, part] : {std::pair{"prelude", &s.prelude}, {"core", &s.core}, {"coda", &s.coda}}) {
        check(j.contains(key), "recur::surgery_spec: ", at, "key '", key, "' is missing");
        detail::read_key(j, key, *part, at + "surgery: ");
    }
    try {
        s.validate(source_layers);
    } catch (const error& e) {
        fail(at, e.what());
    }
    return s;
}

namespace detail {
inline constexpr std::pair<const char*, state_init> state_init_names[] = {
    {"truncated_normal", state_init::truncated_normal}, {"zeros", state_init::zeros},
    {"copy_embedding", state_init::copy_embedding}};
inline constexpr std::pair<const char*, injection> injection_names[] = {{"concat_adapter", injection::concat_adapter},
                                                                        {"additive", injection::additive}};
inline constexpr std::pair<const char*, adapter_init> adapter_init_names[] = {{"random", adapter_init::random},
                                                                              {"passthrough", adapter_init::passthrough}};
}  // namespace detail

/// "recurrence": the keys of recurrence_options (the schema at the top of this file).
inline constexpr auto recurrence_options_fields = std::tuple{
    enum_field("state_init", &recurrence_options::init, detail::state_init_names, "initial recurrent state"),
    field("init_scale", &recurrence_options::init_scale, "scale of the initial state, >= 0"),
    enum_field("injection", &recurrence_options::inject, detail::injection_names, "how the prelude output enters each iteration"),
    enum_field("adapter_init", &recurrence_options::adapter, detail::adapter_init_names, "initial concat adapter"),
    field("seed", &recurrence_options::seed, "seeds the state noise together with the step"),
    integer_field("mean_r", &recurrence_options::mean_r, 1, "default test-time r and the training target r_bar"),
    integer_field("backprop_depth", &recurrence_options::backprop_depth, 1, "default s"),
};

inline nlohmann::json to_json(const recurrence_options& o) { return write_fields(o, recurrence_options_fields); }

/// Reads recurrence options; missing keys keep their defaults; unknown keys and bad values throw.
inline recurrence_options recurrence_options_from_json(const nlohmann::json& j, const std::string& where) {
    const std::string at = (where.empty() ? "" : where + ": ") + "recurrence: ";
    recurrence_options o;
    read_fields(j, o, recurrence_options_fields, at, where);
    check(o.init_scale >= 0, "recur::recurrence_options: ", at, "init_scale must be >= 0, got ", o.init_scale);
    check_minima(o, recurrence_options_fields, "recur::recurrence_options: " + at);
    return o;
}

/// What a recur model directory's config.json says.
struct recur_model_info {
    model_config config;
    surgery_spec surgery;
    recurrence_options options;
    std::string source;
};

/// True when `dir/config.json` exists and declares "recur_format" (rather than a Hugging Face config).
inline bool is_recur_model_dir(const std::filesystem::path& dir) {
    const auto path = dir / "config.json";
    if (!std::filesystem::is_regular_file(path)) return false;
    std::ifstream f(path);
    try {
        const auto j = nlohmann::json::parse(f);
        return j.is_object() && j.contains("recur_format");
    } catch (const nlohmann::json::exception&) {
        return false;
    }
}

/// Reads and validates dir/config.json; every problem throws recur::io_error naming the file and key.
inline recur_model_info load_recur_model_info(const std::filesystem::path& dir) {
    const std::string path = (dir / "config.json").string();
    try {
        nlohmann::json j = detail::read_json_file(path, "recur::load_recurrent");
        detail::reject_unknown(j, {"recur_format", "architecture", "model", "surgery", "recurrence", "source"}, path + ": ");
        for (const char* key : {"recur_format", "model", "surgery"})
            check(j.contains(key), "'", path, "': key '", key, "' is missing");
        int version = 0;
        detail::read_key(j, "recur_format", version, path + ": ");
        check(version == recur_format_version, "'", path, "': recur_format ", version, " is not supported (this is ",
              recur_format_version, ")");
        std::string arch = "Recurrent";
        detail::read_key(j, "architecture", arch, path + ": ");
        check(arch == "Recurrent", "'", path, "': architecture '", arch, "' is not 'Recurrent'");
        recur_model_info info;
        info.config = model_config_from_json(j["model"], path + ": model");
        info.surgery = surgery_spec_from_json(j["surgery"], info.config.n_layers, path);
        if (j.contains("recurrence")) info.options = recurrence_options_from_json(j["recurrence"], path);
        detail::read_key(j, "source", info.source, path + ": ");
        return info;
    } catch (const io_error&) {
        throw;
    } catch (const error& e) {
        io_fail("recur::load_recurrent: ", e.what());
    }
}

/// The config.json of a recurrent model (the schema at the top of this file).
template <Backend B, class BlockT>
nlohmann::json recur_model_config_json(const RecurrentOf<B, BlockT>& m,
                                       const std::string& source = "") {
    const surgery_spec spec = m.spec();
    spec.validate(m.config.n_layers);
    nlohmann::json j{{"recur_format", recur_format_version},
                     {"architecture", "Recurrent"},
                     {"model", to_json(m.config)},
                     {"surgery", to_json(spec)},
                     {"recurrence", to_json(m.options)}};
    if (!source.empty()) j["source"] = source;
    return j;
}

/// Saves a recurrent model as dir/model.safetensors + dir/config.json (each written atomically;
/// the weights first, so a config never describes weights that are not there yet).
template <Backend B, class BlockT>
void save_recurrent(const std::filesystem::path& dir, RecurrentOf<B, BlockT>& m,
                    dtype type = dtype::f32, const std::string& source = "") {
    const nlohmann::json config = recur_model_config_json(m, source);
    std::filesystem::create_directories(dir);
    save_parameters<B>(dir / "model.safetensors", m, type, {{"format", "pt"}, {"recur_format", "1"}});
    write_file_atomically(dir / "config.json", json_text(config, 2) + "\n");  // `source` may be any bytes
}

/// Loads a directory written by save_recurrent (or by hand in the same schema).
template <Backend B, class BlockT = LlamaBlock<B>>
RecurrentOf<B, BlockT> load_recurrent(const std::filesystem::path& dir) {
    const recur_model_info info = load_recur_model_info(dir);
    if (info.config.block != BlockT::kind)
        io_fail("recur::load_recurrent: '", (dir / "config.json").string(), "': model.block does not match the block type "
                "this loader was instantiated with");
    const safetensors_set weights(dir / "model.safetensors");
    const auto blocks = info.surgery.prelude.size() + info.surgery.core.size() + info.surgery.coda.size();
    check_model_size(info.config, static_cast<double>(blocks), (dir / "config.json").string(), weights.values());
    RecurrentOf<B, BlockT> m(info.config, info.surgery, info.options, rng::for_loading());
    load_parameters<B>(m, weights);
    return m;
}

}  // namespace recur
