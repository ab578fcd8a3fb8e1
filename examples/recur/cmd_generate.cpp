// `recur generate`: text from prompts with a KV-cached decoder: greedy or sampled, any r, cache
// sharing, adaptive exit, continuous compute, self-speculative decoding; text or one JSON line
// (always valid JSON: bytes that are not UTF-8 become U+FFFD in "text", and "tokens" holds the ids).
// Not here: the decoder (infer/).
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/infer/generate.hpp>
#include <recur/io/json_text.hpp>
#include <recur/io/load_model.hpp>
#include <recur/io/any_tokenizer.hpp>

#include "commands.hpp"
#include "options.hpp"

namespace {

using B = recur::cpu;

struct options {
    std::string model, tokenizer;
    std::vector<std::string> prompts;
    std::int64_t r = 0, max_new_tokens = 256;
    recur::sampling_options sampling;
    recur::speculation_options speculation;
    recur_cli::decode_flags decode;
    bool no_stop = false, json = false;
};

nlohmann::ordered_json summary_json(const recur::iteration_stats& s) {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    for (const auto& [it, n] : s.histogram) h[std::to_string(it)] = n;
    return {{"mean", s.mean}, {"min", s.min}, {"max", s.max}, {"histogram", h}};
}

int generate(const options& o) {
    recur_cli::parse_argument([&] { o.sampling.validate(); });
    const auto decode = recur_cli::parse_argument([&] { return o.decode.to_options(o.r); });
    const auto m = recur::load_model<B>(o.model);
    const auto tok = recur::load_tokenizer(o.tokenizer, m.config().vocab_size);
    recur::generation_options g;
    g.max_new_tokens = o.max_new_tokens;
    g.sampling = o.sampling;
    g.decode = decode;
    g.speculation = o.speculation;
    if (!o.no_stop) g.stop_tokens = recur::stop_ids(tok);  // llama2.c ends a story at the next BOS too
    const std::vector<std::string> texts = o.prompts.empty() ? std::vector<std::string>{""} : o.prompts;
    std::vector<std::vector<std::int32_t>> prompts;
    for (const auto& t : texts) prompts.push_back(tok.encode(t, true, false));
    const auto res = std::visit([&](const auto& model) { return recur::generate<B>(model, prompts, g); }, m.model);
    const std::int64_t r = res.r;
    const auto stats = res.iteration_summary();
    if (o.json) {
        nlohmann::ordered_json outs = nlohmann::ordered_json::array();
        for (std::size_t i = 0; i < texts.size(); ++i)
            outs.push_back({{"prompt", texts[i]},
                            {"text", recur::decode_continuation(tok, prompts[i], res.tokens[i])},
                            {"tokens", res.tokens[i]},
                            {"iterations", res.iterations[i]}});
        nlohmann::ordered_json j{{"model", o.model},
                                       {"r", r},
                                       {"cache", g.decode.cache.name()},
                                       {"exit", g.decode.exit.name()},
                                       {"continuous", g.decode.continuous},
                                       {"outputs", outs},
                                       {"prompt_tokens", res.prompt_tokens},
                                       {"generated_tokens", res.generated_tokens},
                                       {"prefill_seconds", res.prefill_seconds},
                                       {"decode_seconds", res.decode_seconds},
                                       {"decode_tokens_per_s", res.decode_tokens_per_second()},
                                       {"iterations", summary_json(stats)},
                                       {"cache_bytes", res.cache_bytes},
                                       {"cache_slots", res.cache_slots}};
        if (g.speculation.draft_r > 0)
            j["speculation"] = {{"draft_r", g.speculation.draft_r},
                                {"lookahead", g.speculation.lookahead},
                                {"verify_passes", res.verify_passes},
                                {"drafted_tokens", res.drafted_tokens},
                                {"accepted_tokens", res.accepted_tokens},
                                {"acceptance_rate", res.acceptance_rate()}};
        std::cout << recur::json_text(j) << std::endl;
        return 0;
    }
    for (std::size_t i = 0; i < texts.size(); ++i) {
        if (i > 0) std::cout << "\n---\n";
        std::cout << texts[i] << recur::decode_continuation(tok, prompts[i], res.tokens[i]) << "\n";
    }
    std::cerr << std::fixed << std::setprecision(1) << "\n" << res.generated_tokens << " tokens, r " << r << ", "
              << res.decode_tokens_per_second() << " tok/s decoding (" << res.prompt_tokens << " prompt tokens in "
              << res.prefill_seconds << " s); iterations per token: mean " << std::setprecision(2) << stats.mean << " [";
    for (const auto& [it, n] : stats.histogram) std::cerr << " " << it << ":" << n;
    std::cerr << " ]; KV cache " << std::setprecision(2) << static_cast<double>(res.cache_bytes) / (1 << 20) << " MiB ("
              << g.decode.cache.name() << ", " << res.cache_slots << " core slots)\n";
    if (g.speculation.draft_r > 0)
        std::cerr << "self-speculation: drafts at r " << g.speculation.draft_r << ", " << res.verify_passes << " rounds, "
                  << res.accepted_tokens << " of " << res.drafted_tokens << " drafts accepted (" << std::setprecision(1)
                  << 100 * res.acceptance_rate() << " %)\n";
    return 0;
}

}  // namespace

namespace recur_cli {

command add_generate(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("generate", "generate text with a KV-cached decoder at any recurrence depth");
    auto o = std::make_shared<options>();
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
    return {cmd, [o] { return generate(*o); }};
}

}  // namespace recur_cli
