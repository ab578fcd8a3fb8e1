// `recur analyze`: per-layer Block Influence, angular distance and relative change of a checkpoint on
// calibration tokens, with a suggested surgery split, as a table (and optionally JSON) on the cpu backend.
// Not here: performing the surgery (retrofit) or tokenizing text (`recur tokenize` writes the token file).
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <variant>

#include <recur/backends/cpu.hpp>
#include <recur/io/atomic_file.hpp>
#include <recur/io/json_text.hpp>
#include <recur/io/load_model.hpp>
#include <recur/io/token_file.hpp>
#include <recur/recurrence/layer_analysis.hpp>

#include "commands.hpp"
#include "options.hpp"

namespace {

using B = recur::cpu;

struct options {
    std::string model, data, json;
    std::int64_t seq = 256, max_tokens = 16384, core = -1;
    recur::split_options split;
};

int analyze(const options& o) {
    const auto loaded = recur::load_model<B>(o.model);
    recur::check(!loaded.is_recurrent(), "recur analyze: '", o.model,
                 "' is a recurrent model; analyze the checkpoint it was cut from");
    const auto ids = recur::read_token_file(o.data, loaded.config().vocab_size);
    const auto report = std::visit(
        [&](const auto& model) {
            if constexpr (recur::RecurrentModel<decltype(model)>) return recur::layer_report{};  // refused above
            else return recur::analyze_layers(model, ids, {.seq_len = o.seq, .max_tokens = o.max_tokens});
        },
        loaded.model);
    const auto L = static_cast<std::int64_t>(report.layers.size());
    // Default core: 3/8 of the layers, TinyLlama's published share (8 of 22).
    const std::int64_t core =
        o.core > 0 ? o.core : std::max<std::int64_t>(1, std::llround(3.0 * static_cast<double>(L) / 8.0));
    const auto split = recur::suggest_split(report, core, o.split);
    std::cout << "recur analyze: '" << o.model << "' (" << L << " layers) on '" << o.data << "'\n";
    recur::print_table(std::cout, report, split);
    if (!o.json.empty()) {
        recur::write_file_atomically(o.json, recur::json_text(recur::to_json(report, split), 2) + "\n");
        std::cout << "wrote '" << o.json << "'\n";
    }
    return 0;
}

}  // namespace

namespace recur_cli {

command add_analyze(CLI::App& parent) {
    auto* cmd = parent.add_subcommand(
        "analyze", "per-layer Block Influence and angular distance on calibration tokens, and a suggested surgery split");
    auto o = std::make_shared<options>();
    add_model_option(cmd, o->model, "llama2.c .bin file, GGUF file or Hugging Face folder (Llama or OLMo-2)");
    add_token_file_option(cmd, o->data, "the calibration ids")->required();
    cmd->add_option("--seq", o->seq, "tokens per window")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--max-tokens", o->max_tokens, "use at most this many tokens (whole windows)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--core", o->core, "layers in the recurrent core (default: 3/8 of the layers)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--prelude", o->split.prelude, "exact prelude size (default: chosen by the rule)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--coda", o->split.coda, "exact coda size (default: chosen by the rule)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--keep", o->split.keep, "layers kept in all (default: prelude + core + coda, else 2 x core)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--json", o->json, "also write the report and the split as JSON");
    return {cmd, [o] { return analyze(*o); }};
}

}  // namespace recur_cli
