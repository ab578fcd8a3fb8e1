// The command-line options more than one `recur` subcommand takes, each declared once: --model,
// --tokenizer, --data, --r, --json and the decoding flags of `generate` and `eval --task` (cache
// sharing, exit rule, continuous compute). Not here: options one subcommand alone takes (its
// cmd_<name>.cpp), or sampling (generate only).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include <recur/infer/decoder.hpp>

namespace recur_cli {

/// What recur::load_model reads, the --model of most subcommands.
inline constexpr const char* any_model = "llama2.c .bin file, GGUF file, Hugging Face folder, or recur or huginn_raven model folder";

/// --model PATH, required; `formats` names the files the subcommand reads.
inline CLI::Option* add_model_option(CLI::App* cmd, std::string& path, const std::string& formats = any_model) {
    return cmd->add_option("--model", path, formats)->required();
}

/// The tokenizers recur::load_tokenizer reads, and those of commands that read llama2.c's only.
inline constexpr const char* any_tokenizer = "llama2.c tokenizer file, Hugging Face tokenizer.json or model folder, or GGUF file (its vocabulary)";
inline constexpr const char* llama2c_tokenizer = "llama2.c tokenizer file";

/// --tokenizer PATH: `formats` names the files it may be; `use` says what for (or when it is needed).
inline CLI::Option* add_tokenizer_option(CLI::App* cmd, std::string& path, const std::string& use,
                                         const std::string& formats = llama2c_tokenizer) {
    return cmd->add_option("--tokenizer", path, formats + " (" + use + ")");
}

/// --data PATH: an llm.c token file (as `recur tokenize` writes); `use` says what it is read for.
inline CLI::Option* add_token_file_option(CLI::App* cmd, std::string& path, const std::string& use) {
    return cmd->add_option("--data", path, "llm.c token file (see `recur tokenize`): " + use);
}

/// The recurrence depths a command line may ask for.
inline constexpr std::int64_t max_depth = 4096;

/// --r: one recurrence depth, or (r a vector) a comma-separated list of them, each in [1, max_depth].
template <class R>
CLI::Option* add_depth_option(CLI::App* cmd, R& r, const std::string& doc) {
    auto* o = cmd->add_option("--r", r, doc)->check(CLI::Range(std::int64_t{1}, max_depth));
    if constexpr (!std::is_integral_v<R>) o->delimiter(',');
    return o;
}

/// --json: print one JSON line instead of tables; `what` says what it holds.
inline CLI::Option* add_json_flag(CLI::App* cmd, bool& json, const std::string& what) {
    return cmd->add_flag("--json", json, "print one JSON line: " + what);
}

struct decode_flags {
    std::string cache = "full", exit = "none";
    std::int64_t min_iterations = 1;
    bool continuous = false;

    void add_to(CLI::App* cmd) {
        cmd->add_option("--cache", cache, "KV cache sharing across iterations: full, compress:N or latest")
            ->capture_default_str();
        cmd->add_option("--exit", exit, "adaptive exit: none, kl:T, entropy:T, latent:T or argmax:K (e.g. kl:5e-4)")
            ->capture_default_str();
        cmd->add_option("--min-iterations", min_iterations, "no adaptive exit before this many iterations")
            ->capture_default_str()
            ->check(CLI::Range(std::int64_t{1}, max_depth));
        cmd->add_flag("--continuous", continuous, "start each new token's state from the previous token's final latent");
    }
    /// The decoder options at depth r (0: the model's mean_r); bad text throws recur::error.
    recur::decode_options to_options(std::int64_t r) const {
        recur::decode_options o;
        o.r = r;
        o.cache = recur::cache_policy::parse(cache);
        o.exit = recur::exit_options::parse(exit);
        o.exit.min_iterations = min_iterations;
        o.continuous = continuous;
        return o;
    }
};

}  // namespace recur_cli
