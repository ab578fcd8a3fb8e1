// `recur generate`: text from prompts with a KV-cached decoder: greedy or sampled, any r, cache
// sharing, adaptive exit, continuous compute, self-speculative decoding; text or one JSON line
// (always valid JSON: bytes that are not UTF-8 become U+FFFD in "text", and "tokens" holds the ids).
// Not here: the decoder (infer/).
#include <memory>
#include <string>
#include <vector>

#include <recur/backends/cpu.hpp>

#include "commands.hpp"
#include "generate_on.hpp"
#include "options.hpp"

namespace recur_cli {

command add_generate(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("generate", "generate text with a KV-cached decoder at any recurrence depth");
    auto o = std::make_shared<generate_options>();
    add_model_option(cmd, o->model);
    add_tokenizer_option(cmd, o->tokenizer, "e.g. tok512.bin", any_tokenizer)->required();
    cmd->add_option("--prompt", o->prompts, "prompt text; repeat for a batch (default: an empty prompt, BOS only)");
    add_depth_option(cmd, o->r, "recurrence iterations per token, the maximum under --exit (default: the model's mean_r)");
    cmd->add_option("--max-new-tokens", o->max_new_tokens, "tokens to generate per prompt")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 20));
    cmd->add_option("--temperature", o->sampling.temperature, "0: greedy")->capture_default_str();
    cmd->add_option("--top-k", o->sampling.top_k, "keep the k most likely tokens (0: all)")->capture_default_str();
    cmd->add_option("--top-p", o->sampling.top_p, "keep the smallest set reaching this probability (1: all)")
        ->capture_default_str();
    cmd->add_option("--seed", o->sampling.seed, "sampling seed")->capture_default_str();
    o->decode.add_to(cmd);
    cmd->add_option("--speculate", o->speculation.draft_r,
                    "self-speculative decoding: draft at this many iterations, verify at r (greedy, cache full; 0: off)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--lookahead", o->speculation.lookahead, "tokens drafted per round of --speculate")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--no-stop", o->no_stop, "do not stop at BOS or EOS");
    add_json_flag(cmd, o->json, "the outputs, iteration counts, speed and cache size");
    return {cmd, [o] { return selected_device() == device::cuda ? generate_on_cuda(*o) : generate_on<recur::cpu>(*o); }};
}

}  // namespace recur_cli
