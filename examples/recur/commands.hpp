// The `recur` subcommands: each file cmd_<name>.cpp registers one with CLI11 and returns what to run
// when it is chosen. main.cpp parses, runs the chosen one and turns recur::error into exit code 2.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace recur_cli {

/// A registered subcommand: `app` is set after parsing when the user chose it; `run` returns the exit code.
struct command {
    CLI::App* app = nullptr;
    std::function<int()> run;
};

command add_bench(CLI::App& parent);
command add_tokenize(CLI::App& parent);
command add_convert(CLI::App& parent);
command add_analyze(CLI::App& parent);
command add_eval(CLI::App& parent);
command add_train(CLI::App& parent);
command add_generate(CLI::App& parent);

}  // namespace recur_cli
