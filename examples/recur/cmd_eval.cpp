// `recur eval`: mean next-token loss over an llm.c token file (--data), or exact-match accuracy on
// question/answer JSONL (--task), at several recurrence depths; a table or one JSON line.
// Not here: the evaluation code itself (infer/loss_eval.hpp, infer/qa_eval.hpp).
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/infer/loss_eval.hpp>
#include <recur/infer/qa_eval.hpp>
#include <recur/io/atomic_file.hpp>
#include <recur/io/json_text.hpp>
#include <recur/io/load_model.hpp>
#include <recur/io/token_file.hpp>

#include "commands.hpp"
#include "options.hpp"

namespace {

using B = recur::cpu;

struct options {
    std::string model, data, task, tokenizer, extract = "gsm8k", prompt_template = "{question}\n", shots_file,
        predictions;
    std::vector<std::int64_t> r;
    std::int64_t seq = 256, batch = 8, max_tokens = 0, limit = 0, shots = 0, max_new_tokens = 256;
    recur_cli::decode_flags decode;
    bool json = false;
};

/// The depths to evaluate: --r, else `standard` for a recurrent model; a non-recurrent model runs once.
std::vector<std::int64_t> depths(const options& o, const recur::any_model<B>& m, std::vector<std::int64_t> standard) {
    if (!m.is_recurrent()) {
        if (!o.r.empty() && o.r != std::vector<std::int64_t>{1})
            std::cerr << "recur eval: '" << o.model << "' is not recurrent; --r is ignored\n";
        return {1};
    }
    return o.r.empty() ? standard : o.r;
}

int eval_task(const options& o) {
    recur_cli::usage_check(!o.tokenizer.empty(), "recur eval: --task needs --tokenizer");
    const auto m = recur::load_model<B>(o.model);
    const auto tok = recur::load_tokenizer(o.tokenizer, m.config().vocab_size);
    auto items = recur::read_qa_pairs(o.task, "recur eval --task");
    if (o.limit > 0 && std::ssize(items) > o.limit) items.resize(static_cast<std::size_t>(o.limit));
    recur::qa_eval_options q;
    q.r = depths(o, m, {1, 2, 4, 8, 16, 32});
    q.extractor = recur_cli::parse_argument([&] { return recur::answer_extractor::parse(o.extract); });
    q.prompt_template = o.prompt_template;
    if (o.shots > 0) {
        recur_cli::usage_check(!o.shots_file.empty(), "recur eval: --shots needs --shots-file (e.g. gsm8k_train.jsonl)");
        auto shots = recur::read_qa_pairs(o.shots_file, "recur eval --shots-file");
        recur::check(std::ssize(shots) >= o.shots, "recur eval: --shots ", o.shots, " but '", o.shots_file, "' holds ",
                     shots.size(), " examples");
        shots.resize(static_cast<std::size_t>(o.shots));
        q.shots = std::move(shots);
    }
    q.max_new_tokens = std::min(o.max_new_tokens, m.config().max_seq_len - 1);
    q.batch = o.batch;
    q.decode = recur_cli::parse_argument([&] { return o.decode.to_options(0); });
    if (!o.json)
        std::cout << "model " << o.model << ", task " << o.task << " (" << items.size() << " examples, extract "
                  << o.extract << ", " << o.shots << " shots)\n    r   accuracy   correct   mean iterations   seconds"
                  << std::endl;
    std::vector<recur::qa_run> runs;
    nlohmann::ordered_json results = nlohmann::ordered_json::array(), predictions = nlohmann::ordered_json::array();
    for (const auto r : q.r) {
        recur::qa_eval_options one = q;
        one.r = {r};
        const auto run = std::visit([&](const auto& model) { return recur::evaluate_qa<B>(model, tok, items, one); }, m.model)[0];
        results.push_back(recur::to_json(run, false));
        predictions.push_back(recur::to_json(run, true));
        if (!o.json)
            std::cout << std::setw(5) << r << "   " << std::fixed << std::setprecision(4) << std::setw(8) << run.accuracy()
                      << "   " << std::setw(7) << run.correct << "/" << run.total << "   " << std::setw(15)
                      << std::setprecision(2) << run.mean_iterations << "   " << std::setw(7) << std::setprecision(1)
                      << run.seconds << std::endl;
        if (run.truncated_prompts > 0)
            std::cerr << "recur eval: " << run.truncated_prompts << " prompts were cut to their last tokens to fit max_seq_len\n";
    }
    if (!o.predictions.empty())
        recur::write_file_atomically(o.predictions,
                                     recur::json_text(nlohmann::ordered_json{{"task", o.task}, {"runs", predictions}}, 1) + "\n");
    if (o.json)
        std::cout << recur::json_text(nlohmann::ordered_json{{"task", o.task}, {"examples", items.size()}, {"results", results}})
                  << std::endl;
    return 0;
}

int eval(const options& o) {
    recur_cli::usage_check(o.data.empty() != o.task.empty(), "recur eval: give exactly one of --data (loss) and --task (accuracy)");
    if (!o.task.empty()) return eval_task(o);
    const auto m = recur::load_model<B>(o.model);
    auto ids = recur::read_token_file(o.data, m.config().vocab_size);
    if (o.max_tokens > 0 && static_cast<std::int64_t>(ids.size()) > o.max_tokens) ids.resize(static_cast<std::size_t>(o.max_tokens));
    const std::int64_t seq = std::min(o.seq, m.config().max_seq_len);
    const std::vector<std::int64_t> rs = depths(o, m, {1, 2, 4, 8, 16, 32, 64});
    nlohmann::ordered_json out{{"r", nlohmann::ordered_json::array()}, {"loss", nlohmann::ordered_json::array()}, {"tokens", 0}};
    if (!o.json)
        std::cout << "model " << o.model << " (" << recur::model_format_name(m.format) << "), data " << o.data << ", seq "
                  << seq << "\n    r   loss (nats)\n";
    for (const auto r : rs) {
        const auto res = recur::mean_next_token_loss<B>(ids, seq, o.batch, [&](const auto& x) { return m.forward(x, r); });
        out["r"].push_back(r);
        out["loss"].push_back(res.mean);
        out["tokens"] = res.tokens;
        if (!o.json) std::cout << std::setw(5) << r << "   " << std::fixed << std::setprecision(4) << res.mean << std::endl;
    }
    if (o.json)
        std::cout << recur::json_text(out) << std::endl;
    else
        std::cout << out["tokens"] << " predictions per r" << std::endl;
    return 0;
}

}  // namespace

namespace recur_cli {

command add_eval(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("eval", "loss over a token file (--data) or QA accuracy (--task), per recurrence depth r");
    auto o = std::make_shared<options>();
    add_model_option(cmd, o->model);
    add_token_file_option(cmd, o->data, "mean next-token loss");
    cmd->add_option("--task", o->task, "question/answer JSONL (e.g. gsm8k_test.jsonl): exact-match accuracy of "
                                       "greedy answers");
    add_depth_option(cmd, o->r, "recurrence depths, e.g. 1,2,4 (default: 1,2,4,...,64 for --data and 1,...,32 "
                                "for --task; ignored for non-recurrent models)");
    cmd->add_option("--seq", o->seq, "window length (capped at the model's max_seq_len)")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
    cmd->add_option("--batch", o->batch, "windows per forward (--data) or prompts decoded together (--task)")->capture_default_str()->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    cmd->add_option("--max-tokens", o->max_tokens, "use only the first N tokens (0: all)")->check(CLI::NonNegativeNumber);
    add_tokenizer_option(cmd, o->tokenizer, "--task", any_tokenizer);
    cmd->add_option("--extract", o->extract, "answer extraction: gsm8k (the number after ####), last-number or "
                                             "regex:PATTERN (its first group)")
        ->capture_default_str();
    cmd->add_option("--template", o->prompt_template, "prompt template with {question}")->capture_default_str();
    cmd->add_option("--shots", o->shots, "few-shot examples before each question (from --shots-file)")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{64}));
    cmd->add_option("--shots-file", o->shots_file, "question/answer JSONL the few-shot examples come from");
    cmd->add_option("--limit", o->limit, "evaluate only the first N examples (0: all)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--max-new-tokens", o->max_new_tokens, "longest answer")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
    cmd->add_option("--predictions", o->predictions, "write every completion and its score to this JSON file");
    o->decode.add_to(cmd);
    add_json_flag(cmd, o->json, "{\"r\":[...],\"loss\":[...],\"tokens\":N} for --data, "
                                "{\"task\",\"examples\",\"results\":[{\"r\",\"accuracy\",...}]} for --task");
    return {cmd, [o] { return eval(*o); }};
}

}  // namespace recur_cli
