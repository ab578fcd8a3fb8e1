// A training run as one JSON file: {"model": ..., "data": ..., "optimizer": ..., "train": ...}, parsed
// with every key checked, and turned into the objects the trainer takes. Not here: the loop (trainer.hpp).
//
//   "model":     {"from": PATH}                        continue a recur model, or fine-tune a llama2.c /
//                                                      Hugging Face model as it is (no recurrence)
//                {"from": PATH, "surgery": {"prelude": [...], "core": [...], "coda": [...]},
//                 "recurrence": {recurrence options, io/recur_model.hpp}, "seed": 0}   retrofit
//                {"config": {model_config}, "layers": [P, R, C], "recurrence": {...}, "seed": 0}
//                                                      a fresh recurrent model
//   "data":      {"seed": 0,
//                 "sources": {NAME: {"tokens": FILE} | {"text": FILE, "tokenizer": T} |
//                                   {"qa": FILE.jsonl, "tokenizer": T}, ...},
//                 "phases": [{"steps": N, "mix": {NAME: weight, ...}}, ..., {"mix": {...}}]}
//                "tokens" is an llm.c token file; "text" is tokenized on load (documents as `recur
//                tokenize` splits them); "qa" rows carry the loss on answer tokens only; T is a
//                llama2.c tokenizer file or a Hugging Face tokenizer.json / model folder
//                (load_tokenizer). Steps 0 or absent: the phase runs to the end (last phase only).
//   "optimizer": {"kind": "muon_adamw" | "adamw",
//                 "muon": {"lr", "momentum", "weight_decay", "ns_steps", "scale": "spectral" | "match_adamw",
//                          "ns_precision": "matmul" (the run's --precision, default) | "f32" | "bf16"},
//                 "adamw": {"lr", "beta1", "beta2", "eps", "weight_decay"},
//                 "rules": [{"pattern": REGEX, "group": "muon" | "adamw"}, ...]}
//   "train":     train_config (train/config.hpp)
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/data/data_phases.hpp>
#include <recur/data/packed_tokens.hpp>
#include <recur/data/qa_examples.hpp>
#include <recur/io/load_model.hpp>
#include <recur/io/read_text.hpp>
#include <recur/io/text_corpus.hpp>
#include <recur/io/any_tokenizer.hpp>
#include <recur/optim/adamw.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/train/config.hpp>

namespace recur {

/// The optimizer section.
struct optimizer_config {
    enum class kind_t { muon_adamw, adamw } kind = kind_t::muon_adamw;
    muon_adamw_options options;  // .adamw alone when kind is adamw
    nlohmann::json rules = nlohmann::json::array();  // as given, for the record
};

inline optimizer_config optimizer_config_from_json(const nlohmann::json& j, const std::string& where) {
    const std::string at = where + ": optimizer: ";
    detail::reject_unknown(j, {"kind", "muon", "adamw", "rules"}, at);
    optimizer_config c;
    c.kind = detail::read_enum(j, "kind", c.kind,
                               {{"muon_adamw", optimizer_config::kind_t::muon_adamw},
                                {"adamw", optimizer_config::kind_t::adamw}},
                               at);
    if (const auto it = j.find("muon"); it != j.end()) {
        const std::string m = at + "muon: ";
        detail::reject_unknown(*it, {"lr", "momentum", "weight_decay", "ns_steps", "scale", "ns_precision"}, m);
        auto& o = c.options.muon;
        detail::read_key(*it, "lr", o.lr, m);
        detail::read_key(*it, "momentum", o.momentum, m);
        detail::read_key(*it, "weight_decay", o.weight_decay, m);
        detail::read_key(*it, "ns_steps", o.ns_steps, m);
        o.scale = detail::read_enum(*it, "scale", o.scale,
                                    {{"spectral", muon_scale::spectral}, {"match_adamw", muon_scale::match_adamw}}, m);
        o.ns_precision = detail::read_enum<std::optional<matmul_precision>>(
            *it, "ns_precision", o.ns_precision,
            {{"matmul", std::nullopt}, {"f32", matmul_precision::f32}, {"bf16", matmul_precision::bf16}}, m);
    }
    if (const auto it = j.find("adamw"); it != j.end()) {
        const std::string a = at + "adamw: ";
        detail::reject_unknown(*it, {"lr", "beta1", "beta2", "eps", "weight_decay"}, a);
        auto& o = c.options.adamw;
        detail::read_key(*it, "lr", o.lr, a);
        detail::read_key(*it, "beta1", o.beta1, a);
        detail::read_key(*it, "beta2", o.beta2, a);
        detail::read_key(*it, "eps", o.eps, a);
        detail::read_key(*it, "weight_decay", o.weight_decay, a);
    }
    if (const auto it = j.find("rules"); it != j.end()) {
        check(it->is_array(), "recur: ", at, "key 'rules' must be an array");
        for (const auto& r : *it) {
            detail::reject_unknown(r, {"pattern", "group"}, at + "rules: ");
            std::string pattern;
            detail::read_key(r, "pattern", pattern, at + "rules: ");
            check(!pattern.empty(), "recur: ", at, "rules: every rule needs a 'pattern'");
            const auto group = detail::read_enum(r, "group", param_group::adamw,
                                                 {{"muon", param_group::muon}, {"adamw", param_group::adamw}}, at + "rules: ");
            try {
                c.options.rules.push_back({std::regex(pattern), group});
            } catch (const std::regex_error& e) {
                fail("recur: ", at, "rules: pattern '", pattern, "' is not a valid regex: ", e.what());
            }
        }
        c.rules = *it;
    }
    check(c.kind == optimizer_config::kind_t::muon_adamw || (!j.contains("muon") && c.options.rules.empty()),
          "recur: ", at, "'muon' and 'rules' need kind muon_adamw");
    return c;
}

namespace detail {
/// The checks of a "data" section that need no file and no model: its keys, each source naming
/// exactly one kind, each phase's keys and mix. load_run_file runs them, so that a mistake there is
/// reported before a model is loaded.
inline void check_data_section(const nlohmann::json& j, const std::string& where) {
    const std::string at = where + ": data: ";
    check(j.is_object(), "recur: ", at, "must be an object");
    reject_unknown(j, {"seed", "sources", "phases"}, at);
    std::uint64_t seed = 0;
    read_key(j, "seed", seed, at);
    check(j.contains("sources") && j["sources"].is_object() && !j["sources"].empty(), "recur: ", at,
          "'sources' must be an object naming at least one source");
    check(j.contains("phases") && j["phases"].is_array() && !j["phases"].empty(), "recur: ", at,
          "'phases' must be a non-empty array");
    for (const auto& [name, s] : j["sources"].items()) {
        const std::string sat = at + "sources: " + name + ": ";
        reject_unknown(s, {"tokens", "text", "qa", "tokenizer"}, sat);
        const int kinds = static_cast<int>(s.contains("tokens")) + s.contains("text") + s.contains("qa");
        check(kinds == 1, "recur: ", sat, "give exactly one of 'tokens', 'text' or 'qa'");
    }
    for (const auto& p : j["phases"]) {
        const std::string pat = at + "phases: ";
        reject_unknown(p, {"steps", "mix"}, pat);
        check(p.contains("mix") && p["mix"].is_object() && !p["mix"].empty(), "recur: ", pat,
              "every phase needs a 'mix' object {source: weight}");
        for (const auto& [source, weight] : p["mix"].items())
            check(weight.is_number(), "recur: ", pat, "mix: the weight of '", source, "' must be a number");
    }
}
}  // namespace detail

/// Builds the data plan of the "data" section for rows of `seq` tokens over `vocab_size` ids.
/// Relative paths are resolved against `base` (the folder of the run file).
inline data_phases data_plan_from_json(const nlohmann::json& j, std::int64_t seq, std::int64_t vocab_size,
                                       const std::filesystem::path& base, const std::string& where) {
    detail::check_data_section(j, where);
    const std::string at = where + ": data: ";
    std::uint64_t seed = 0;
    detail::read_key(j, "seed", seed, at);
    auto path_of = [&](const nlohmann::json& s, const char* key, const std::string& sat) {
        std::string p;
        detail::read_key(s, key, p, sat);
        check(!p.empty(), "recur: ", sat, "key '", key, "' is missing");
        const std::filesystem::path path(p);
        return (path.is_absolute() ? path : base / path).string();
    };
    data_phases plan(seed);
    std::uint64_t index = 0;
    for (const auto& [name, s] : j["sources"].items()) {
        const std::string sat = at + "sources: " + name + ": ";
        const std::uint64_t source_seed = seed ^ detail::splitmix64(0x5eed0000 + ++index);
        if (s.contains("tokens")) {
            plan.add_source(name, std::make_unique<packed_tokens>(
                                      packed_tokens::from_file(path_of(s, "tokens", sat), seq, vocab_size, source_seed)));
            continue;
        }
        const auto tokenizer = load_tokenizer(path_of(s, "tokenizer", sat), vocab_size);
        if (s.contains("text")) {
            // llama2.c streams get EOS between documents when packed (its ids 1 and 2); others end each
            // document with their own EOS here.
            const bool llama2c = tokenizer.get<llama2c_tokenizer>() != nullptr;
            const auto corpus = tokenize_corpus(tokenizer, path_of(s, "text", sat), corpus_format::text, !llama2c);
            plan.add_source(name, std::make_unique<packed_tokens>(corpus.ids, seq, vocab_size, source_seed, llama2c));
        } else {
            plan.add_source(name, std::make_unique<qa_examples>(path_of(s, "qa", sat), tokenizer, seq, source_seed));
        }
    }
    for (const auto& p : j["phases"]) {
        data_phase phase;
        detail::read_key(p, "steps", phase.steps, at + "phases: ");
        for (const auto& [source, weight] : p["mix"].items()) phase.mixture.push_back({source, weight.get<double>()});
        plan.add_phase(phase);
    }
    return plan;
}

/// Reads a run file; errors name the file and the key.
inline nlohmann::json load_run_file(const std::string& path) {
    const nlohmann::json j = detail::read_json_file(path, "recur train");
    detail::reject_unknown(j, {"model", "data", "optimizer", "train"}, path + ": ");
    for (const char* key : {"model", "data", "train"})
        check(j.contains(key), "recur train: '", path, "': key '", key, "' is missing");
    detail::check_data_section(j["data"], path);
    return j;
}

/// The "model" section as a model: a Recurrent (retrofitted, fresh or loaded) or a LlamaModel.
template <Backend B>
any_model<B> model_from_json(const nlohmann::json& j, const std::filesystem::path& base, const std::string& where) {
    const std::string at = where + ": model: ";
    detail::reject_unknown(j, {"from", "surgery", "recurrence", "config", "layers", "seed"}, at);
    std::uint64_t seed = 0;
    detail::read_key(j, "seed", seed, at);
    const recurrence_options options =
        j.contains("recurrence") ? recurrence_options_from_json(j["recurrence"], where) : recurrence_options{};
    any_model<B> out;
    if (j.contains("from")) {
        check(!j.contains("config") && !j.contains("layers"), "recur: ", at, "'from' excludes 'config' and 'layers'");
        std::string from;
        detail::read_key(j, "from", from, at);
        const std::filesystem::path p(from);
        out = load_model<B>(p.is_absolute() ? p : base / p);
        if (j.contains("surgery")) {
            check(!out.is_recurrent(), "recur: ", at, "'surgery' needs a non-recurrent source, '", from, "' is recurrent");
            const surgery_spec spec = surgery_spec_from_json(j["surgery"], out.config().n_layers, where);
            // Built in the visitor, assigned after it (a visitor returning decltype(out.model) crashes clang 14).
            std::optional<decltype(out.model)> cut;
            std::visit(
                [&](const auto& source) {
                    if constexpr (!RecurrentModel<decltype(source)>)  // a recurrent source was refused above
                        cut.emplace(retrofit(source, spec, options, seed));
                },
                out.model);
            out.model = std::move(*cut);
        } else {
            check(!j.contains("recurrence") || out.is_recurrent(), "recur: ", at,
                  "'recurrence' without 'surgery' needs a recur model directory");
        }
        return out;
    }
    check(j.contains("config") && j.contains("layers"), "recur: ", at,
          "give 'from' (a checkpoint) or 'config' and 'layers' (a fresh model)");
    const model_config c = model_config_from_json(j["config"], where + ": model: config");
    std::vector<std::int64_t> layers;
    detail::read_key(j, "layers", layers, at);
    check(layers.size() == 3 && layers[0] >= 0 && layers[1] >= 1 && layers[2] >= 0, "recur: ", at,
          "'layers' must be [prelude, core, coda] with core >= 1");
    check_model_size(c, static_cast<double>(layers[0]) + static_cast<double>(layers[1]) + static_cast<double>(layers[2]),
                     where + ": model");
    out.model = Recurrent<B>(c, layers[0], layers[1], layers[2], options, seed);
    out.format = model_format::recur;
    return out;
}

}  // namespace recur
