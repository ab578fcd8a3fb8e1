// `recur train --config run.json [--resume DIR]`: builds the model, data plan and optimizer a run file
// describes (train/run_config.hpp) and trains. Not here: the loop itself (recur/train/trainer.hpp).
#include <iostream>
#include <memory>
#include <string>

#include <recur/backends/cpu.hpp>
#include <recur/train/run_config.hpp>
#include <recur/train/trainer.hpp>

#include "commands.hpp"

namespace {

using B = recur::cpu;

struct options {
    std::string config, resume, out;
    std::int64_t stop_after = 0;
};

template <class Model, class Opt>
int train_with(Model& model, recur::data_phases& data, Opt& opt, const recur::train_config& config, const options& o) {
    recur::trainer<B, Model, recur::data_phases, Opt> t(model, data, opt, config);
    if (!o.resume.empty()) {
        t.resume(o.resume);
        std::cout << "recur train: resumed at step " << t.step_index() << " from " << o.resume << std::endl;
    }
    t.run(o.stop_after);
    std::cout << "recur train: " << t.step_index() << "/" << config.steps << " steps, " << t.tokens_seen() << " tokens, "
              << t.flops_spent() << " training FLOPs";
    if (!config.out_dir.empty()) std::cout << "; checkpoint " << recur::latest_checkpoint(config.out_dir)->string();
    std::cout << std::endl;
    return 0;
}

int train(const options& o) {
    const auto run = recur::load_run_file(o.config);
    const auto base = std::filesystem::absolute(o.config).parent_path();
    auto config = recur::train_config_from_json(run["train"], o.config);
    if (!o.out.empty()) config.out_dir = o.out;
    if (!config.out_dir.empty() && std::filesystem::path(config.out_dir).is_relative())
        config.out_dir = (base / config.out_dir).string();
    auto loaded = recur::model_from_json<B>(run["model"], base, o.config);
    recur::check(config.seq <= loaded.config().max_seq_len, "recur train: '", o.config, "': train.seq ", config.seq,
                 " exceeds the model's max_seq_len ", loaded.config().max_seq_len);
    auto data = recur::data_plan_from_json(run["data"], config.seq, loaded.config().vocab_size, base, o.config);
    const auto opt_config = run.contains("optimizer") ? recur::optimizer_config_from_json(run["optimizer"], o.config)
                                                      : recur::optimizer_config{};
    return std::visit(
        [&](auto& model) {
            auto params = recur::named_parameters<B>(model);
            if (opt_config.kind == recur::optimizer_config::kind_t::adamw) {
                recur::adamw<B> opt(params, opt_config.options.adamw);
                return train_with(model, data, opt, config, o);
            }
            recur::muon_adamw<B> opt(params, opt_config.options);
            return train_with(model, data, opt, config, o);
        },
        loaded.model);
}

}  // namespace

namespace recur_cli {

command add_train(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("train", "train a model as a run file says (curriculum, Muon + AdamW, checkpoints)");
    auto o = std::make_shared<options>();
    cmd->add_option("--config", o->config, "run file: {\"model\", \"data\", \"optimizer\", \"train\"} (see "
                                           "include/recur/train/run_config.hpp)")
        ->required();
    cmd->add_option("--resume", o->resume, "continue from a checkpoint folder or a run folder's latest checkpoint");
    cmd->add_option("--stop-after", o->stop_after, "stop after this many steps (with a checkpoint); the schedules "
                                                   "still span train.steps")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--out", o->out, "run folder (overrides train.out_dir)");
    return {cmd, [o] { return train(*o); }};
}

}  // namespace recur_cli
