// The `recur` command line: bench, tokenize, convert, analyze, eval, train, generate (one file per
// subcommand). Not here: the library code each calls (include/recur/).
#include <iostream>
#include <string>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/ops/matmul_precision.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"recur: retrofitted recurrence for pretrained language models"};
    app.require_subcommand(1);
    app.fallthrough();  // the options below may follow the subcommand: `recur train --precision bf16 ...`
    std::string precision = "f32";
    app.add_option("--precision", precision,
                   "matmul operands of every command: f32, or bf16 (rounded to bfloat16, f32 accumulation; AMX or "
                   "avx512_bf16 where the CPU has them)")
        ->check(CLI::IsMember({"f32", "bf16"}))
        ->capture_default_str();
    const std::vector<recur_cli::command> commands{recur_cli::add_bench(app), recur_cli::add_tokenize(app),
                                                   recur_cli::add_convert(app), recur_cli::add_analyze(app),
                                                   recur_cli::add_eval(app), recur_cli::add_train(app),
                                                   recur_cli::add_generate(app)};
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        recur::set_matmul_precision(recur::parse_matmul_precision(precision));
        for (const auto& c : commands)
            if (c.app->parsed()) return c.run();
    } catch (const recur::error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
