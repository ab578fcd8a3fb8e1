// `recur convert`: a llama2.c file or Hugging Face directory -> a recur or huginn_raven directory after
// surgery (or, without a split, -> a Hugging Face directory); a recurrent model (recur or huginn_raven
// directory) -> the other recurrent format; the source's tokenizer (a folder's tokenizer files, a GGUF
// file's vocabulary) goes along. Not here: choosing the split (`recur analyze`).
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <variant>

#include <recur/backends/cpu.hpp>
#include <recur/io/any_tokenizer.hpp>
#include <recur/io/load_model.hpp>

#include "commands.hpp"

namespace {

using B = recur::cpu;

struct options {
    std::string from, out, to, prelude, core, coda, adapter = "passthrough";
    recur::state_init init = recur::state_init::truncated_normal;
    recur::injection inject = recur::injection::concat_adapter;
    std::int64_t mean_r = 4, backprop_depth = 8;
    std::uint64_t seed = 0;
    recur::dtype type = recur::dtype::f32;
};

/// Writes a recurrent model as `to` ("recur" or "huginn").
template <class Model>
void save_as(const std::string& to, const std::string& out, Model& model, recur::dtype type, const std::string& source) {
    if (to == "huginn")
        recur::save_huginn<B>(out, model, type);
    else
        recur::save_recurrent(out, model, type, source);
}

/// Exports an ordinary model as Hugging Face, or cuts it (o's split) and writes the recurrent model.
template <class Model>
void retrofit_and_save(const options& o, Model& source, const std::string& described) {
    if (o.core.empty()) {
        recur::save_hf<B>(o.out, source, o.type);
        std::cout << "recur convert: " << described << ", " << source.config.n_layers << " layers -> Hugging Face directory "
                  << o.out << std::endl;
        return;
    }
    const auto spec = recur_cli::parse_argument([&] {
        return recur::surgery_spec{recur::parse_layer_list(o.prelude, "--prelude"), recur::parse_layer_list(o.core, "--core"),
                                   recur::parse_layer_list(o.coda, "--coda")};
    });
    recur::recurrence_options ro;
    ro.init = o.init;
    ro.inject = o.inject;
    ro.adapter = o.adapter == "passthrough" ? recur::adapter_init::passthrough : recur::adapter_init::random;
    ro.seed = o.seed;
    ro.mean_r = o.mean_r;
    ro.backprop_depth = o.backprop_depth;
    auto model = recur::retrofit(source, spec, ro, o.seed);
    const std::string to = o.to.empty() ? "recur" : o.to;
    save_as(to, o.out, model, o.type, o.from);
    std::cout << "recur convert: " << described << ", " << source.config.n_layers << " layers -> " << to << " directory "
              << o.out << ": prelude " << spec.prelude.size() << ", core " << spec.core.size() << ", coda "
              << spec.coda.size() << " layers, "
              << source.config.n_layers - static_cast<std::int64_t>(spec.prelude.size() + spec.core.size() + spec.coda.size())
              << " dropped, " << recur::parameter_count<B>(model) << " parameters, adapter " << o.adapter << std::endl;
}

/// Writes the source's tokenizer beside the converted model and says which files it wrote.
void carry_tokenizer(const options& o) {
    const auto files = recur::carry_tokenizer(o.from, o.out);
    if (files.empty()) return;
    std::cout << "recur convert: tokenizer ->";
    for (const auto& f : files) std::cout << ' ' << f;
    std::cout << std::endl;
}

int convert(const options& o) {
    auto loaded = recur::load_model<B>(o.from);
    const bool surgery = !o.core.empty();
    recur_cli::usage_check(surgery || (o.prelude.empty() && o.coda.empty()),
                 "recur convert: --prelude and --coda need --core (without a split the model is exported as is)");
    const std::string described = o.from + " (" + recur::model_format_name(loaded.format) + ")";
    if (loaded.is_recurrent()) {
        recur_cli::usage_check(!surgery, "recur convert: '", o.from, "' is already recurrent; --prelude/--core/--coda apply "
                               "to ordinary models");
        recur_cli::usage_check(o.to == "recur" || o.to == "huginn", "recur convert: '", o.from,
                               "' is recurrent; --to must be recur or huginn");
        std::visit(
            [&](auto& m) {
                if constexpr (recur::RecurrentModel<decltype(m)>) {
                    save_as(o.to, o.out, m, o.type, o.from);
                    std::cout << "recur convert: " << described << " -> " << o.to << " directory " << o.out << ": prelude "
                              << m.prelude.size() << ", core " << m.core.size() << ", coda " << m.coda.size() << " layers, "
                              << recur::parameter_count<B>(m) << " parameters" << std::endl;
                }
            },
            loaded.model);
        carry_tokenizer(o);
        return 0;
    }
    recur_cli::usage_check(surgery || o.to.empty() || o.to == "hf", "recur convert: --to ", o.to,
                           " needs a split (--core, and --prelude/--coda as wanted)");
    recur_cli::usage_check(!surgery || o.to != "hf", "recur convert: --to hf writes an ordinary model; drop --core to export one");
    std::visit(
        [&](auto& source) {
            if constexpr (!recur::RecurrentModel<decltype(source)>) retrofit_and_save(o, source, described);
        },
        loaded.model);
    carry_tokenizer(o);
    return 0;
}

}  // namespace

namespace recur_cli {

command add_convert(CLI::App& parent) {
    auto* cmd = parent.add_subcommand(
        "convert", "retrofit a llama2.c file or Hugging Face directory into a recurrent model (surgery), or convert "
                   "between recur's and the paper's (huginn_raven) recurrent formats");
    auto o = std::make_shared<options>();
    cmd->add_option("--from", o->from, "llama2.c .bin file, GGUF file, or Hugging Face, recur or huginn_raven directory")->required();
    cmd->add_option("--out", o->out, "directory to write (config.json + model.safetensors, and the source's tokenizer files)")->required();
    cmd->add_option("--to", o->to,
                    "format to write: recur (default after surgery), huginn (the paper's huginn_raven directories) or "
                    "hf (an ordinary model, the default without --core)")
        ->check(CLI::IsMember({"recur", "huginn", "hf"}));
    cmd->add_option("--prelude", o->prelude, "source layers of the prelude, e.g. 0,1 or 0-3");
    cmd->add_option("--core", o->core, "source layers of the recurrent core, e.g. 2,3 (none: export as Hugging Face)");
    cmd->add_option("--coda", o->coda, "source layers of the coda, e.g. 4");
    cmd->add_option("--adapter-init", o->adapter, "passthrough ([0 | I]: r = 1 equals the pruned model) or default (random)")
        ->capture_default_str()
        ->check(CLI::IsMember({"passthrough", "default"}));
    const std::map<std::string, recur::state_init> inits{{"truncated_normal", recur::state_init::truncated_normal},
                                                         {"zeros", recur::state_init::zeros},
                                                         {"copy_embedding", recur::state_init::copy_embedding}};
    cmd->add_option("--state-init", o->init, "truncated_normal, zeros or copy_embedding")
        ->transform(CLI::CheckedTransformer(inits));
    const std::map<std::string, recur::injection> injections{{"concat_adapter", recur::injection::concat_adapter},
                                                            {"additive", recur::injection::additive}};
    cmd->add_option("--injection", o->inject, "concat_adapter or additive")->transform(CLI::CheckedTransformer(injections));
    cmd->add_option("--mean-r", o->mean_r, "default recurrence stored with the model")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    cmd->add_option("--backprop-depth", o->backprop_depth, "default iterations with gradient in training")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    cmd->add_option("--seed", o->seed, "seeds a random adapter and the state noise")->capture_default_str();
    const std::map<std::string, recur::dtype> types{{"f32", recur::dtype::f32}, {"bf16", recur::dtype::bf16},
                                                    {"f16", recur::dtype::f16}};
    cmd->add_option("--dtype", o->type, "weights on disk: f32, bf16 or f16")->transform(CLI::CheckedTransformer(types));
    return {cmd, [o] { return convert(*o); }};
}

}  // namespace recur_cli
