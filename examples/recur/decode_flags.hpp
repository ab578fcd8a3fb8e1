// Command-line flags shared by `recur generate` and `recur eval --task`: recurrence depth, cache
// sharing, exit rule, continuous compute. Not here: sampling flags (generate only).
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include <recur/infer/decoder.hpp>

namespace recur_cli {

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
            ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
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
