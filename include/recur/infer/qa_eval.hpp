// Task accuracy on question/answer JSONL (GSM8K): prompts with optional few-shot examples, greedy
// generation at each chosen r, answer extraction and exact match. Not here: loss evaluation (loss_eval.hpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/infer/answer.hpp>
#include <recur/infer/generate.hpp>
#include <recur/io/text_corpus.hpp>
#include <recur/io/any_tokenizer.hpp>

namespace recur {

struct qa_eval_options {
    std::vector<std::int64_t> r{1};      ///< recurrence depths to evaluate (ignored for ordinary models)
    answer_extractor extractor;          ///< applied to each completion (default: GSM8K's "####" rule)
    std::string prompt_template = "{question}\n";  ///< "{question}" is replaced; the training format of qa_examples
    std::vector<qa_pair> shots;          ///< few-shot examples, each rendered as template + answer + "\n\n"
    std::vector<std::string> stop_strings{"\n\n"};  ///< a completion ends at the first of these (or EOS)
    std::int64_t max_new_tokens = 256;
    std::int64_t batch = 8;              ///< prompts decoded together
    decode_options decode;               ///< cache, exit rule, continuous; r is set per run
};

struct qa_prediction {
    std::int64_t line = 0;               ///< line of the example in its file
    std::string completion;              ///< generated text, cut at the stop string
    std::optional<std::string> predicted;
    std::string reference;
    bool correct = false;
    double mean_iterations = 0;          ///< per generated token
};

/// Results at one r.
struct qa_run {
    std::int64_t r = 1;
    std::int64_t correct = 0, total = 0, truncated_prompts = 0;
    double mean_iterations = 0, seconds = 0;
    std::vector<qa_prediction> predictions;
    double accuracy() const { return total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

/// The reference answer of an example: the GSM8K rule when the answer holds "####", else the whole
/// answer, normalised.
inline std::string reference_answer(const std::string& answer) {
    if (answer.find("####") != std::string::npos)
        if (auto a = answer_extractor{}.extract(answer)) return *a;
    return normalize_answer(answer);
}

/// The prompt text of `question`: every shot, then the template with the question filled in.
inline std::string render_qa_prompt(const qa_eval_options& o, const std::string& question) {
    const auto fill = [&](const std::string& q) {
        std::string out = o.prompt_template;
        const std::string key = "{question}";
        for (auto at = out.find(key); at != std::string::npos; at = out.find(key, at + q.size())) out.replace(at, key.size(), q);
        return out;
    };
    std::string text;
    for (const auto& s : o.shots) text += fill(s.question) + s.answer + "\n\n";
    return text + fill(question);
}

/// Exact-match accuracy of greedy completions of `items` at every o.r. Prompts are BOS (the
/// tokenizer's beginning-of-sequence tokens) + the rendered text; a prompt longer than max_seq_len -
/// max_new_tokens keeps its BOS and its last tokens (counted in truncated_prompts); generation stops
/// at EOS or a stop string. Tokenizer: llama2c_tokenizer, hf_tokenizer or any_tokenizer.
/// `progress(r, done, total)` is called after each batch when given.
template <Backend B, class Model, class Tokenizer>
std::vector<qa_run> evaluate_qa(const Model& m, const Tokenizer& tok, std::span<const qa_pair> items,
                                const qa_eval_options& o,
                                const std::function<void(std::int64_t, std::int64_t, std::int64_t)>& progress = {}) {
    check(!items.empty(), "recur::evaluate_qa: no examples");
    check(!o.r.empty(), "recur::evaluate_qa: no r values");
    check(o.batch >= 1, "recur::evaluate_qa: batch must be >= 1, got ", o.batch);
    check(o.max_new_tokens >= 1 && o.max_new_tokens < m.config.max_seq_len, "recur::evaluate_qa: max_new_tokens ",
          o.max_new_tokens, " must be in [1, max_seq_len ", m.config.max_seq_len, ")");
    check(o.prompt_template.find("{question}") != std::string::npos, "recur::evaluate_qa: the prompt template '",
          o.prompt_template, "' has no {question}");
    const auto limit = static_cast<std::size_t>(m.config.max_seq_len - o.max_new_tokens);
    std::vector<std::vector<std::int32_t>> prompts;
    std::vector<std::string> references;
    std::int64_t truncated = 0;
    std::vector<std::int32_t> bos_ids;
    tok.encode_into(bos_ids, "", true, false);
    const std::size_t bos_tokens = bos_ids.size();
    check(bos_tokens < limit, "recur::evaluate_qa: the prompt's ", bos_tokens, " beginning-of-sequence tokens leave no room");
    for (const auto& item : items) {
        std::vector<std::int32_t> ids;
        tok.encode_into(ids, render_qa_prompt(o, item.question), true, false);
        if (ids.size() > limit) {  // keep BOS and the end
            ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(bos_tokens),
                      ids.end() - static_cast<std::ptrdiff_t>(limit - bos_tokens));
            ++truncated;
        }
        prompts.push_back(std::move(ids));
        references.push_back(reference_answer(item.answer));
    }
    // Where the first stop string starts in text; text.size() when none occurs.
    auto stop_at = [&](const std::string& text) {
        std::size_t end = text.size();
        for (const auto& s : o.stop_strings)
            if (const auto at = text.find(s); !s.empty() && at != std::string::npos) end = std::min(end, at);
        return end;
    };
    std::vector<qa_run> runs;
    for (const auto r : o.r) {
        generation_options g;
        g.max_new_tokens = o.max_new_tokens;
        g.stop_tokens = {tok.eos()};
        g.decode = o.decode;
        g.decode.r = r;
        g.stop_when = [&](std::size_t, std::span<const std::int32_t> t) {
            const std::string text = tok.decode(t);
            return stop_at(text) < text.size();
        };
        qa_run run;
        run.r = r;
        run.truncated_prompts = truncated;
        double iteration_sum = 0;
        std::int64_t token_count = 0;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t first = 0; first < prompts.size(); first += static_cast<std::size_t>(o.batch)) {
            const std::size_t last = std::min(prompts.size(), first + static_cast<std::size_t>(o.batch));
            const std::vector<std::vector<std::int32_t>> chunk(prompts.begin() + static_cast<std::ptrdiff_t>(first),
                                                                prompts.begin() + static_cast<std::ptrdiff_t>(last));
            const auto res = generate<B>(m, chunk, g);
            for (std::size_t j = 0; j < chunk.size(); ++j) {
                qa_prediction p;
                p.line = items[first + j].line;
                p.completion = decode_continuation(tok, chunk[j], res.tokens[j]);
                p.completion.resize(stop_at(p.completion));
                p.predicted = o.extractor.extract(p.completion);
                p.reference = references[first + j];
                p.correct = p.predicted && answers_match(*p.predicted, p.reference);
                double sum = 0;
                for (const auto it : res.iterations[j]) sum += static_cast<double>(it);
                p.mean_iterations = res.iterations[j].empty() ? 0.0 : sum / static_cast<double>(res.iterations[j].size());
                iteration_sum += sum;
                token_count += std::ssize(res.iterations[j]);
                run.correct += p.correct;
                ++run.total;
                run.predictions.push_back(std::move(p));
            }
            if (progress) progress(r, static_cast<std::int64_t>(last), static_cast<std::int64_t>(prompts.size()));
        }
        run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        run.mean_iterations = token_count > 0 ? iteration_sum / static_cast<double>(token_count) : 0.0;
        runs.push_back(std::move(run));
    }
    return runs;
}

/// {"r", "accuracy", "correct", "total", "mean_iterations", "seconds", "truncated_prompts"} and, when
/// with_predictions, the per-example predictions.
inline nlohmann::ordered_json to_json(const qa_run& run, bool with_predictions) {
    nlohmann::ordered_json j{{"r", run.r},
                             {"accuracy", run.accuracy()},
                             {"correct", run.correct},
                             {"total", run.total},
                             {"mean_iterations", run.mean_iterations},
                             {"seconds", run.seconds},
                             {"truncated_prompts", run.truncated_prompts}};
    if (with_predictions) {
        auto& ps = j["predictions"] = nlohmann::ordered_json::array();
        for (const auto& p : run.predictions)
            ps.push_back({{"line", p.line},
                          {"completion", p.completion},
                          {"predicted", p.predicted ? nlohmann::ordered_json(*p.predicted) : nlohmann::ordered_json()},
                          {"reference", p.reference},
                          {"correct", p.correct},
                          {"mean_iterations", p.mean_iterations}});
    }
    return j;
}

}  // namespace recur
