// `recur convert`: a llama2.c file or Hugging Face directory -> a recur model directory after surgery
// (or, without a split, -> a Hugging Face directory). Not here: choosing the split (`recur analyze`).
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <recur/backends/cpu.hpp>
#include <recur/io/load_model.hpp>

#include "commands.hpp"

namespace {

using B = recur::cpu;

struct options {
    std::string from, out, prelude, core, coda, adapter = "passthrough";
    recur::state_init init = recur::state_init::truncated_normal;
    recur::injection inject = recur::injection::concat_adapter;
    std::int64_t mean_r = 4, backprop_depth = 8;
    std::uint64_t seed = 0;
    recur::dtype type = recur::dtype::f32;
};

int convert(const options& o) {
    auto loaded = recur::load_model<B>(o.from);
    auto* source = std::get_if<recur::LlamaModel<B>>(&loaded.model);
    recur::check(source != nullptr, "recur convert: '", o.from, "' is already a recurrent model");
    const bool surgery = !o.core.empty();
    recur_cli::usage_check(surgery || (o.prelude.empty() && o.coda.empty()),
                 "recur convert: --prelude and --coda need --core (without a split the model is exported as is)");
    if (!surgery) {
        recur::save_hf<B>(o.out, *source, o.type);
        std::cout << "recur convert: " << o.from << " (" << recur::model_format_name(loaded.format) << ", "
                  << source->config.n_layers << " layers) -> Hugging Face directory " << o.out << std::endl;
        return 0;
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
    auto model = recur::retrofit(*source, spec, ro, o.seed);
    recur::save_recurrent(o.out, model, o.type, o.from);
    std::cout << "recur convert: " << o.from << " (" << recur::model_format_name(loaded.format) << ", "
              << source->config.n_layers << " layers) -> " << o.out << ": prelude " << spec.prelude.size() << ", core "
              << spec.core.size() << ", coda " << spec.coda.size() << " layers, "
              << source->config.n_layers - static_cast<std::int64_t>(spec.prelude.size() + spec.core.size() + spec.coda.size())
              << " dropped, " << recur::parameter_count<B>(model) << " parameters, adapter " << o.adapter << std::endl;
    return 0;
}

}  // namespace

namespace recur_cli {

command add_convert(CLI::App& parent) {
    auto* cmd = parent.add_subcommand(
        "convert", "retrofit a llama2.c file or Hugging Face directory into a recur model directory (surgery)");
    auto o = std::make_shared<options>();
    cmd->add_option("--from", o->from, "llama2.c .bin file or Hugging Face directory")->required();
    cmd->add_option("--out", o->out, "directory to write (config.json + model.safetensors)")->required();
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
