// evaluate_qa: prompts with few-shot examples, greedy completions at several r, extraction and exact
// match, on the real stories260K model. Not here: the extraction rules themselves (test_answer.cpp).
#include <catch2/catch.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/infer/qa_eval.hpp>
#include <recur/io/llama2c.hpp>

#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;

namespace {

const std::string data_dir = RECUR_SHARED_DATA;

}  // namespace

TEST_CASE("evaluate_qa scores stories260K's greedy completions by a regex, at several r", "[infer][data]") {
    const auto llama = load_llama2c<cpu>(data_dir + "/stories260K.bin");
    const auto tok = load_llama2c_tokenizer(data_dir + "/tok512.bin", 512);
    // The model's greedy story begins "Once upon a time, there was a little girl named Lily."
    const std::vector<qa_pair> items{{"Once upon a time", "Lily", 1}, {"Once upon a time", "Tom", 2}};
    qa_eval_options o;
    o.prompt_template = "{question}";
    o.extractor = answer_extractor::parse(R"(regex:named (\w+))");
    o.stop_strings = {"."};
    o.max_new_tokens = 40;
    const auto runs = evaluate_qa<cpu>(llama, tok, items, o);
    REQUIRE(runs.size() == 1);
    const auto& run = runs[0];
    CHECK(run.total == 2);
    CHECK(run.correct == 1);
    CHECK(run.accuracy() == 0.5);
    REQUIRE(run.predictions.size() == 2);
    CHECK(run.predictions[0].completion == ", there was a little girl named Lily");  // cut at the stop string
    CHECK(run.predictions[0].predicted == std::optional<std::string>("lily"));
    CHECK(run.predictions[0].correct);
    CHECK_FALSE(run.predictions[1].correct);
    CHECK(run.predictions[1].line == 2);
    CHECK(run.mean_iterations == 1.0);

    // The same through a pass-through retrofit at r = 1 and 3: the adapter ignores the state, so the
    // answers agree, while the reported iterations follow r.
    recurrence_options ro;
    ro.adapter = adapter_init::passthrough;
    const auto m = retrofit(llama, surgery_spec{{0}, {2, 3}, {4}}, ro, 1);
    o.r = {1, 3};
    const auto deep = evaluate_qa<cpu>(m, tok, items, o);
    REQUIRE(deep.size() == 2);
    CHECK(deep[0].r == 1);
    CHECK(deep[1].r == 3);
    CHECK(deep[1].mean_iterations == 3.0);
    CHECK(deep[0].predictions[0].completion == deep[1].predictions[0].completion);
    const auto j = to_json(deep[1], true);
    CHECK(j["r"] == 3);
    CHECK(j["predictions"].size() == 2);
    CHECK(j["predictions"][0]["reference"] == "lily");
}

TEST_CASE("QA prompts: few-shot rendering, GSM8K references, truncation and bad options", "[infer][data]") {
    qa_eval_options o;
    o.shots = {{"1+1?", "2\n#### 2", 1}};
    CHECK(render_qa_prompt(o, "2+2?") == "1+1?\n2\n#### 2\n\n2+2?\n");
    o.prompt_template = "Q: {question} ({question})\nA:";
    CHECK(render_qa_prompt(o, "x") == "Q: 1+1? (1+1?)\nA:2\n#### 2\n\nQ: x (x)\nA:");

    const auto gsm = read_qa_pairs(data_dir + "/gsm8k_test.jsonl", "test");
    REQUIRE(gsm.size() == 1319);
    CHECK(reference_answer(gsm[0].answer) == "18");
    CHECK(reference_answer(" Lily. ") == "lily");

    const auto llama = load_llama2c<cpu>(data_dir + "/stories260K.bin");
    const auto tok = load_llama2c_tokenizer(data_dir + "/tok512.bin", 512);
    qa_eval_options t;
    t.max_new_tokens = 500;  // leaves 12 prompt tokens of the 512 positions
    const std::vector<qa_pair> two(gsm.begin(), gsm.begin() + 2);
    const auto runs = evaluate_qa<cpu>(llama, tok, two, t);
    CHECK(runs[0].truncated_prompts == 2);
    CHECK(runs[0].total == 2);

    t.max_new_tokens = 512;
    CHECK_THROWS_WITH(evaluate_qa<cpu>(llama, tok, two, t), Contains("max_new_tokens 512"));
    t.max_new_tokens = 8;
    t.prompt_template = "no placeholder";
    CHECK_THROWS_WITH(evaluate_qa<cpu>(llama, tok, two, t), Contains("has no {question}"));
    CHECK_THROWS_WITH(evaluate_qa<cpu>(llama, tok, std::span<const qa_pair>(), qa_eval_options{}), Contains("no examples"));

    test::scratch_dir dir("qa_eval");
    const auto bad = dir.write("bad.jsonl", "{\"question\": \"a\", \"answer\": \"b\"}\n{\"question\": 3}\n");
    CHECK_THROWS_WITH(read_qa_pairs(bad, "who"), Contains("who: '") && Contains("line 2 needs string"));
}
