// The `recur` command line: bench, tokenize, convert, analyze, eval, train, generate (one file per
// subcommand). Not here: the library code each calls (include/recur/).
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <recur/backends/cpu.hpp>
#include <recur/core/error.hpp>
#include <recur/ops/matmul_precision.hpp>

#include "commands.hpp"

namespace {

/// The last line of defence: an exception that escapes where none may (a destructor, a worker
/// thread) is named on stderr and the process exits with status 1, instead of abort and a core dump.
[[noreturn]] void on_terminate() {
    std::string what = "an unknown exception";
    if (const auto e = std::current_exception()) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            what = x.what();
        } catch (...) {
        }
    } else {
        what = "std::terminate without an exception";
    }
    std::cerr << "error: internal error: " << what << std::endl;
    std::_Exit(1);
}

/// Runs `run` and turns every exception into one line on stderr: 2 for usage errors, 1 otherwise.
int run_reporting(const std::function<int()>& run) {
    try {
        return run();
    } catch (const recur_cli::usage_error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    } catch (const recur::error& e) {
        std::cerr << "error: " << e.what() << "\n";
    } catch (const std::filesystem::filesystem_error& e) {
        std::cerr << "error: " << e.what() << "\n";  // names the call, the path(s) and the reason
    } catch (const std::bad_alloc&) {
        std::cerr << "error: out of memory\n";
    } catch (const std::exception& e) {
        std::cerr << "error: internal error: " << e.what() << "\n";
    } catch (...) {
        std::cerr << "error: internal error: an unknown exception\n";
    }
    return 1;
}

/// True when the chosen command is one that runs on --device cuda.
bool train_or_generate(const std::vector<recur_cli::command>& commands) {
    for (const auto& c : commands)
        if (c.app->parsed()) return c.app->get_name() == "train" || c.app->get_name() == "generate";
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    std::set_terminate(on_terminate);
    // Past `ulimit -f` a write then fails with EFBIG, which every command reports as an error naming the file,
    // instead of the process being killed by SIGXFSZ half-way through a checkpoint or a converted model.
    std::signal(SIGXFSZ, SIG_IGN);
    CLI::App app{"recur: retrofitted recurrence for pretrained language models\n"
                 "exit status: 0 done, 1 failed while running (the message names what), 2 bad command line"};
    app.require_subcommand(1);
    app.fallthrough();  // the options below may follow the subcommand: `recur train --precision bf16 ...`
    std::string precision = "f32";
    app.add_option("--precision", precision,
                   "matmul operands of every command: f32, bf16 (rounded to bfloat16, f32 accumulation; AMX or "
                   "avx512_bf16 where the CPU has them) or tf32 (TensorFloat-32; cuda only, the cpu backend refuses it)")
        ->check(CLI::IsMember({"f32", "bf16", "tf32"}))
        ->capture_default_str();
    std::string device = "cpu";
    app.add_option("--device", device,
                   "backend of train and generate: cpu, or cuda (the current CUDA device; when this recur was built "
                   "with nvcc)")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->capture_default_str();
    return run_reporting([&] {
        const std::vector<recur_cli::command> commands{recur_cli::add_bench(app), recur_cli::add_tokenize(app),
                                                       recur_cli::add_convert(app), recur_cli::add_analyze(app),
                                                       recur_cli::add_eval(app), recur_cli::add_train(app),
                                                       recur_cli::add_generate(app)};
        if (argc > 1 && argv[1][0] != '-') {
            const std::string name = argv[1];
            std::string known;
            bool found = false;
            for (const auto& c : commands) {
                found = found || c.app->get_name() == name;
                known += (known.empty() ? "" : ", ") + c.app->get_name();
            }
            recur_cli::usage_check(found, "unknown command '", name, "' (the commands: ", known, ")");
        }
        try {
            app.parse(argc, argv);
        } catch (const CLI::ParseError& e) {
            if (e.get_exit_code() == 0) return app.exit(e);  // --help
            throw recur_cli::usage_error(std::string(e.what()) + " (run with --help for the options)");
        }
        const recur::matmul_precision p = recur::parse_matmul_precision(precision);
        const bool cuda = device == "cuda";
        if (cuda) {
            recur_cli::usage_check(recur_cli::built_with_cuda(), "--device cuda: this recur was built without the cuda "
                                   "backend (CMake found no nvcc); rebuild where /usr/local/cuda/bin/nvcc exists");
            recur_cli::usage_check(train_or_generate(commands), "--device cuda: only `train` and `generate` run on cuda "
                                   "yet; the other commands run on the cpu");
            recur_cli::selected_device() = recur_cli::device::cuda;
        } else {
            // A precision the cpu backend cannot compute is a bad command line here.
            recur_cli::usage_check(p != recur::matmul_precision::tf32,
                                   "--precision tf32: the cpu backend has no TF32 GEMM (it is cuda's); use f32 or bf16");
            recur_cli::usage_check(p != recur::matmul_precision::bf16 || recur::cpu_has_bf16_matmul(),
                                   "--precision bf16: this CPU has no oneDNN bf16 matmul (it needs AMX or avx512_bf16); "
                                   "use f32, or --device cuda");
        }
        recur::set_matmul_precision(p);
        for (const auto& c : commands)
            if (c.app->parsed()) return c.run();
        return 0;
    });
}
