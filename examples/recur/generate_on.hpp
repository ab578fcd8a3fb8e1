// `recur generate`'s work on one backend (generate_on<B>): load the model there, tokenize the prompts,
// decode, print text or one JSON line. Included by cmd_generate.cpp (cpu) and cuda_commands.cu (cuda).
// Not here: the command line (cmd_generate.cpp) or the decoder (infer/).
#pragma once

#include <iomanip>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/infer/generate.hpp>
#include <recur/io/any_tokenizer.hpp>
#include <recur/io/json_text.hpp>
#include <recur/io/load_model.hpp>

#include "commands.hpp"
#include "options.hpp"

namespace recur_cli {

/// Everything `recur generate` was asked for.
struct generate_options {
    std::string model, tokenizer;
    std::vector<std::string> prompts;
    std::int64_t r = 0, max_new_tokens = 256;
    recur::sampling_options sampling;
    recur::speculation_options speculation;
    recur_cli::decode_flags decode;
    bool no_stop = false, json = false;
};

inline nlohmann::ordered_json summary_json(const recur::iteration_stats& s) {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    for (const auto& [it, n] : s.histogram) h[std::to_string(it)] = n;
    return {{"mean", s.mean}, {"min", s.min}, {"max", s.max}, {"histogram", h}};
}

/// `recur generate` on backend B: loads the model there, decodes, prints; returns the exit status.
template <recur::Backend B>
int generate_on(const generate_options& o) {
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


}  // namespace recur_cli
