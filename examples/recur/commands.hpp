// The `recur` subcommands: each file cmd_<name>.cpp registers one with CLI11 and returns what to run
// when it is chosen. main.cpp parses, runs the chosen one and turns every exception into one line on
// stderr: exit status 2 for a command line that cannot mean anything (usage_error), 1 for the rest.
#pragma once

#include <functional>
#include <utility>

#include <CLI/CLI.hpp>

#include <recur/core/error.hpp>

namespace recur_cli {

/// A command line that is wrong in itself (options that contradict or need each other, option text
/// that does not parse), as opposed to a failure while running (a bad file, a model that disagrees).
class usage_error : public recur::error {
public:
    using recur::error::error;
};

/// Throws usage_error with the given parts unless `ok`.
template <class... Parts>
void usage_check(bool ok, Parts&&... parts) {
    try {
        recur::check(ok, std::forward<Parts>(parts)...);
    } catch (const recur::error& e) {
        throw usage_error(e.what());
    }
}

/// Returns what `f` returns; `f` interprets option text through the library, so the recur::error it
/// throws is a usage_error.
template <class F>
decltype(auto) parse_argument(F&& f) {
    try {
        return std::forward<F>(f)();
    } catch (const recur::error& e) {
        throw usage_error(e.what());
    }
}

/// A registered subcommand: `app` is set after parsing when the user chose it; `run` returns the exit code.
struct command {
    CLI::App* app = nullptr;
    std::function<int()> run;
};

/// The backend a command runs on: --device (main.cpp) chooses; cpu unless asked.
enum class device { cpu, cuda };

/// The device of this process's command (set once by main.cpp after parsing).
inline device& selected_device() {
    static device d = device::cpu;
    return d;
}

/// True when this `recur` was built with the cuda backend (nvcc found at configure time).
bool built_with_cuda();

// The commands' work on the cuda backend, compiled by nvcc (cuda_commands.cu); without CUDA they
// throw usage_error (no_cuda.cpp), though main.cpp refuses --device cuda before any is called.
struct generate_options;
struct train_options;
struct train_outcome;
struct train_control;
int generate_on_cuda(const generate_options& o);
train_outcome train_on_cuda(const train_options& o, const train_control& control);

command add_bench(CLI::App& parent);
command add_tokenize(CLI::App& parent);
command add_convert(CLI::App& parent);
command add_analyze(CLI::App& parent);
command add_eval(CLI::App& parent);
command add_train(CLI::App& parent);
command add_generate(CLI::App& parent);

}  // namespace recur_cli
