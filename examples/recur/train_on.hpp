// `recur train`'s work on one backend (train_on<B>): build the model, data plan and optimizer of a run
// file there, resume as asked, train until done or stopped. Included by cmd_train.cpp (cpu) and
// cuda_commands.cu (cuda). Not here: signals and the command line (cmd_train.cpp), the loop itself
// (recur/train/trainer.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <variant>

#include <recur/train/run_config.hpp>
#include <recur/train/trainer.hpp>

#include "commands.hpp"

namespace recur_cli {

/// Everything `recur train` was asked for.
struct train_options {
    std::string config, resume, out;
    bool resume_given = false;
    std::int64_t stop_after = 0;
};

/// How the caller steers a run: `starting` runs just before the first step, `stop` (when set) ends
/// the run after the step under way.
struct train_control {
    std::function<void()> starting;
    const std::atomic<bool>* stop = nullptr;
};

/// How a run ended: at its last step (or --stop-after), or asked to stop (a signal) after `step`.
struct train_outcome {
    bool stopped = false;
    std::int64_t step = 0;
};

/// Trains `model` with `opt` as `config` says, resuming as `o` asks; calls `starting` just before the
/// first step (the signal handlers go in there) and stops between steps once *stop is set.
template <recur::Backend B, class Model, class Opt>
train_outcome train_with(Model& model, recur::data_phases& data, Opt& opt, const recur::train_config& config,
                         const train_options& o, const train_control& control) {
    recur::trainer<B, Model, recur::data_phases, Opt> t(model, data, opt, config);  // locks the run folder
    const std::filesystem::path run_dir = config.out_dir;
    if (o.resume_given) {
        const std::filesystem::path from = o.resume.empty() ? run_dir : std::filesystem::path(o.resume);
        recur::check(!from.empty(), "recur train: --resume without a folder needs a run folder (--out or train.out_dir)");
        const bool own_run_folder = !run_dir.empty() && std::filesystem::exists(from) &&
                                    std::filesystem::equivalent(from, run_dir);
        if (own_run_folder && !recur::latest_checkpoint(run_dir)) {
            std::cout << "recur train: no checkpoint in " << run_dir.string() << " yet, starting at step 0" << std::endl;
        } else {
            t.resume(from);
            std::cout << "recur train: resumed at step " << t.step_index() << " from " << from.string() << std::endl;
        }
    } else if (!run_dir.empty()) {
        if (const auto last = recur::latest_checkpoint(run_dir))
            recur::fail("recur train: the run folder '", run_dir.string(), "' already holds a run (latest checkpoint '",
                        last->string(), "'); continue it with --resume, or train into another folder (--out)");
    }
    if (control.starting) control.starting();
    const auto end = t.run(o.stop_after, control.stop);
    std::cout << "recur train: " << t.step_index() << "/" << config.steps << " steps, " << t.tokens_seen() << " tokens, "
              << t.flops_spent() << " training FLOPs";
    if (!run_dir.empty()) std::cout << "; checkpoint " << recur::latest_checkpoint(run_dir)->string();
    std::cout << std::endl;
    return {end == recur::run_end::requested, t.step_index()};
}

/// `recur train` on backend B: builds the model there from the run file and trains it.
template <recur::Backend B>
train_outcome train_on(const train_options& o, const train_control& control) {
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
                return train_with<B>(model, data, opt, config, o, control);
            }
            recur::muon_adamw<B> opt(params, opt_config.options);
            return train_with<B>(model, data, opt, config, o, control);
        },
        loaded.model);
}

}  // namespace recur_cli
