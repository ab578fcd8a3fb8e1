// `recur train --config run.json [--resume [DIR]]`: builds the model, data plan and optimizer a run
// file describes (train/run_config.hpp), trains, and turns SIGINT / SIGTERM into a checkpoint and a
// clean exit. Not here: the loop, checkpoints and the run folder's lock (recur/train/trainer.hpp).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
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
    bool resume_given = false;
    std::int64_t stop_after = 0;
};

// Set by the first SIGINT / SIGTERM; the trainer checks it between steps.
std::atomic<bool> stop_requested{false};
volatile std::sig_atomic_t stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
    if (stop_requested.load()) {
        static const char now[] = "\nrecur train: second interrupt: exiting at once (the latest checkpoint is intact)\n";
        [[maybe_unused]] const auto n = ::write(STDERR_FILENO, now, sizeof now - 1);
        ::_exit(128 + sig);
    }
    stop_signal = sig;
    stop_requested.store(true);
    static const char later[] =
        "\nrecur train: interrupted: finishing this step and writing a checkpoint (interrupt again to quit at once)\n";
    [[maybe_unused]] const auto n = ::write(STDERR_FILENO, later, sizeof later - 1);
}

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}

template <class Model, class Opt>
int train_with(Model& model, recur::data_phases& data, Opt& opt, const recur::train_config& config, const options& o) {
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
    install_stop_handlers();
    const auto end = t.run(o.stop_after, &stop_requested);
    std::cout << "recur train: " << t.step_index() << "/" << config.steps << " steps, " << t.tokens_seen() << " tokens, "
              << t.flops_spent() << " training FLOPs";
    if (!run_dir.empty()) std::cout << "; checkpoint " << recur::latest_checkpoint(run_dir)->string();
    std::cout << std::endl;
    if (end != recur::run_end::requested) return 0;
    const int sig = stop_signal;
    std::cerr << "recur train: stopped by " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << " after step " << t.step_index()
              << "; continue with: recur train --config " << o.config << (o.out.empty() ? "" : " --out " + o.out)
              << " --resume" << std::endl;
    return 128 + sig;
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
    auto* cmd = parent.add_subcommand(
        "train", "train a model as a run file says (curriculum, Muon + AdamW, checkpoints)\n"
                 "Checkpoints are atomic: kill it at any moment and `--resume` continues bit-exactly from the last one.\n"
                 "One run per run folder (a second process refuses, naming the owner's pid).\n"
                 "SIGINT / SIGTERM (Ctrl-C): the step under way finishes, a checkpoint is written, exit status 130 / 143;\n"
                 "a second Ctrl-C exits at once (the last checkpoint stays intact).");
    cmd->footer("The run file's \"train\" section (all keys optional):\n" + recur::train_config_help() +
                "\nThe run file's model.config, a model built from scratch (all keys optional):\n" +
                recur::model_config_help());
    auto o = std::make_shared<options>();
    cmd->add_option("--config", o->config, "run file: {\"model\", \"data\", \"optimizer\", \"train\"} (see "
                                           "include/recur/train/run_config.hpp)")
        ->required();
    auto* resume = cmd->add_option("--resume", o->resume,
                    "continue: alone, from the run folder's latest checkpoint, or from step 0 when it has none yet "
                    "(so the same command line starts and restarts a run); with DIR, from that checkpoint folder or "
                    "run folder's latest checkpoint. Without --resume, a run folder that holds a checkpoint is refused")
        ->expected(0, 1);
    cmd->add_option("--stop-after", o->stop_after, "stop after this many steps (with a checkpoint); the schedules "
                                                   "still span train.steps")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--out", o->out, "run folder (overrides train.out_dir)");
    return {cmd, [o, resume] {
                o->resume_given = resume->count() > 0;
                return train(*o);
            }};
}

}  // namespace recur_cli
