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

#include "commands.hpp"
#include "train_on.hpp"

namespace {

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

/// Trains on the chosen device with the stop handlers installed; reports a stop by signal.
int train(const recur_cli::train_options& o) {
    const recur_cli::train_control control{install_stop_handlers, &stop_requested};
    const auto outcome = recur_cli::selected_device() == recur_cli::device::cuda
                             ? recur_cli::train_on_cuda(o, control)
                             : recur_cli::train_on<recur::cpu>(o, control);
    if (!outcome.stopped) return 0;
    const int sig = stop_signal;
    std::cerr << "recur train: stopped by " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << " after step " << outcome.step
              << "; continue with: recur train --config " << o.config << (o.out.empty() ? "" : " --out " + o.out)
              << " --resume" << std::endl;
    return 128 + sig;
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
    auto o = std::make_shared<train_options>();
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
