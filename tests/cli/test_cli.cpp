// The `recur` command line end to end: eval reproduces the stories260K reference loss, convert ->
// eval keeps it (pass-through surgery, HF export), convert carries the tokenizer, tokenize matches the
// library, a bad command line exits with 2 and a failure while running with 1, each with a message.
// Not here: the library functions themselves (tests/io, tests/recurrence).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include <recur/io/gguf.hpp>
#include <recur/io/token_file.hpp>
#include <recur/io/tokenizer.hpp>

#include "support/bf16.hpp"
#include "support/peer.hpp"
#include "support/scratch_dir.hpp"
#include "support/shared_data.hpp"

using Catch::Contains;

namespace {
const std::string data_dir = RECUR_SHARED_DATA;
const std::string cli = RECUR_CLI;

struct run_result {
    int code = -1;
    std::string output;  // stdout and stderr together
};

run_result run(const std::string& args) {
    run_result r;
    FILE* p = ::popen((cli + " " + args + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    std::array<char, 4096> buf{};
    while (const auto n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

nlohmann::json reference() { return recur::test::read_json_file(data_dir + "/stories260K_reference.json"); }

/// The last line of the output, parsed as JSON.
nlohmann::json last_json_line(const std::string& out) {
    auto end = out.find_last_not_of('\n');
    const auto start = out.rfind('\n', end);
    return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start + 1)));
}
}  // namespace

TEST_CASE("recur eval, convert and eval again reproduce the stories260K reference loss", "[cli][data]") {
    const recur::test::scratch_dir dir("recur_test_cli_eval");
    const auto ids = reference()["loss_ids"].get<std::vector<std::int32_t>>();
    const std::string tokens = dir / "loss_ids.bin";
    recur::write_token_file(tokens, ids);
    const double want = reference()["loss_mean_nats"].get<double>();
    const std::string model = data_dir + "/stories260K.bin";

    auto r = run("eval --model " + model + " --data " + tokens + " --json");
    INFO(r.output);
    REQUIRE(r.code == 0);
    auto j = last_json_line(r.output);
    CHECK(j["tokens"] == 255);
    CHECK(j["r"] == nlohmann::json::array({1}));
    CHECK(j["loss"][0].get<double>() == Approx(want).margin(2e-3));

    SECTION("with bf16 matmul operands (--precision after the subcommand) the loss stays within 0.01 nats") {
        r = run("eval --precision bf16 --model " + model + " --data " + tokens + " --json");
        INFO(r.output);
        if (recur::cpu_has_bf16_matmul()) {  // else the usage error below is what is tested, not a skip
            REQUIRE(r.code == 0);
            CHECK(last_json_line(r.output)["loss"][0].get<double>() == Approx(want).margin(1e-2));
        } else {  // the command line asks for what this CPU cannot do: a usage error naming it
            CHECK(r.code == 2);
            CHECK(r.output.find("no oneDNN bf16 matmul") != std::string::npos);
        }
    }

    SECTION("--precision tf32 is a usage error naming the cpu backend") {
        r = run("eval --precision tf32 --model " + model + " --data " + tokens + " --json");
        INFO(r.output);
        CHECK(r.code == 2);
        CHECK(r.output.find("--precision tf32") != std::string::npos);
    }

    SECTION("through a recur model directory: all five layers, pass-through adapter, any r") {
        r = run("convert --from " + model + " --out " + (dir / "rec") + " --prelude 0,1 --core 2-3 --coda 4");
        INFO(r.output);
        REQUIRE(r.code == 0);
        r = run("eval --model " + (dir / "rec") + " --data " + tokens + " --r 1,3 --json");
        INFO(r.output);
        REQUIRE(r.code == 0);
        j = last_json_line(r.output);
        CHECK(j["r"] == nlohmann::json::array({1, 3}));
        for (const auto& loss : j["loss"]) CHECK(loss.get<double>() == Approx(want).margin(2e-3));
    }
    SECTION("through the paper's huginn_raven format, and back to a recur directory") {
        r = run("convert --from " + model + " --out " + (dir / "huginn") + " --prelude 0,1 --core 2-3 --coda 4 --to huginn");
        INFO(r.output);
        REQUIRE(r.code == 0);
        r = run("eval --model " + (dir / "huginn") + " --data " + tokens + " --r 1,3 --json");
        INFO(r.output);
        REQUIRE(r.code == 0);
        const auto huginn = last_json_line(r.output);  // a named object: a range-for over a temporary's member dangles
        for (const auto& loss : huginn["loss"]) CHECK(loss.get<double>() == Approx(want).margin(2e-3));
        r = run("convert --from " + (dir / "huginn") + " --out " + (dir / "back") + " --to recur");
        INFO(r.output);
        REQUIRE(r.code == 0);
        r = run("eval --model " + (dir / "back") + " --data " + tokens + " --r 2 --json");
        INFO(r.output);
        REQUIRE(r.code == 0);
        CHECK(last_json_line(r.output)["loss"][0].get<double>() == Approx(want).margin(2e-3));
    }
    SECTION("through a Hugging Face export") {
        r = run("convert --from " + model + " --out " + (dir / "hf") + " --dtype f32");
        INFO(r.output);
        REQUIRE(r.code == 0);
        r = run("eval --model " + (dir / "hf") + " --data " + tokens + " --json");
        INFO(r.output);
        REQUIRE(r.code == 0);
        CHECK(last_json_line(r.output)["loss"][0].get<double>() == Approx(want).margin(2e-3));
    }
}

TEST_CASE("recur tokenize writes what the library encodes", "[cli][data]") {
    const recur::test::scratch_dir dir("recur_test_cli_tokenize");
    const auto text = reference()["encode_text"].get<std::string>();
    const std::string in = dir.write("story.txt", text);
    const auto r = run("tokenize --tokenizer " + data_dir + "/tok512.bin --in " + in + " --out " + (dir / "t.bin"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(recur::read_token_file(dir / "t.bin", 512) == reference()["encode_ids"].get<std::vector<std::int32_t>>());
}

TEST_CASE("recur tokenize reads a Hugging Face tokenizer folder, with EOS from its tokenizer_config.json", "[cli]") {
    const recur::test::scratch_dir dir("recur_test_cli_tokenize_hf");
    const nlohmann::json tokenizer{
        {"added_tokens", {{{"id", 3}, {"content", "<s>"}, {"special", true}}, {{"id", 4}, {"content", "</s>"}, {"special", true}}}},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single", {{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}}},
          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {3}}, {"tokens", {"<s>"}}}}}}}},
        {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"<s>", 3}, {"</s>", 4}}}, {"merges", {"a b"}}}}};
    dir.write("tok/tokenizer.json", tokenizer.dump());
    dir.write("tok/tokenizer_config.json", R"({"eos_token": "</s>"})");
    const std::string in = dir.write("docs.txt", "abab\n<|endoftext|>\nba\n");
    auto r = run("tokenize --tokenizer " + (dir / "tok") + " --in " + in + " --out " + (dir / "t.bin") + " --eos");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Contains("(huggingface): 2 documents"));
    CHECK(recur::read_token_file(dir / "t.bin", 5) == std::vector<std::int32_t>{3, 2, 2, 4, 3, 1, 0, 4});
    dir.write("tok/tokenizer_config.json", R"({"eos_token": "<eos>"})");
    r = run("tokenize --tokenizer " + (dir / "tok") + " --in " + in + " --out " + (dir / "t.bin"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("tokenizer_config.json") && Contains("eos_token '<eos>'"));
}

TEST_CASE("recur convert carries the tokenizer: a GGUF's vocabulary into the Hugging Face export, a folder's files "
          "through surgery",
          "[cli]") {
    const recur::test::scratch_dir dir("recur_test_cli_convert_tokenizer");
    const std::string gguf = std::string(RECUR_TESTS_DIR) + "/fuzz/corpus/gguf/tiny_llama";  // 1 layer, byte-level BPE
    auto r = run("convert --from " + gguf + " --out " + (dir / "hf"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Contains("tokenizer -> tokenizer.json tokenizer_config.json"));
    const auto from_gguf = recur::load_gguf_tokenizer(gguf), from_folder = recur::load_hf_tokenizer(dir / "hf");
    for (const std::string text : {"abc ab 12!", "<|im_start|>a b", "dd e\nf"}) {
        INFO(text);
        CHECK(from_folder.encode(text) == from_gguf.encode(text));
        CHECK(from_folder.decode(from_folder.encode(text)) == from_gguf.decode(from_gguf.encode(text)));
    }
    CHECK(from_folder.bos() == from_gguf.bos());
    CHECK(from_folder.eos() == from_gguf.eos());

    dir.write("hf/special_tokens_map.json", R"({"bos_token": "<|im_start|>"})");
    r = run("convert --from " + (dir / "hf") + " --out " + (dir / "rec") + " --core 0");
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Contains("tokenizer -> tokenizer.json tokenizer_config.json special_tokens_map.json"));
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
        INFO(f);
        CHECK(recur::test::file_text(dir.path() / "rec" / f) == recur::test::file_text(dir.path() / "hf" / f));
    }
    // A llama2.c file has no tokenizer to carry.
    r = run("convert --from " + data_dir + "/stories260K.bin --out " + (dir / "l2c"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, !Contains("tokenizer ->"));
    CHECK(!std::filesystem::exists(dir.path() / "l2c" / "tokenizer.json"));
}

TEST_CASE("recur analyze prints the layer table and writes the split as JSON", "[cli][data]") {
    const recur::test::scratch_dir dir("recur_test_cli_analyze");
    const std::string tokens = dir / "ids.bin";
    recur::write_token_file(tokens, reference()["encode_ids"].get<std::vector<std::int32_t>>());
    const auto r = run("analyze --model " + data_dir + "/stories260K.bin --data " + tokens +
                       " --seq 128 --core 2 --prelude 1 --coda 1 --json " + (dir / "a.json"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Contains("BI") && Contains("angular"));
    const auto j = nlohmann::json::parse(std::ifstream(dir / "a.json"));
    CHECK(j["split"]["prelude"] == nlohmann::json::array({0}));
    CHECK(j["split"]["core"].size() == 2);
    CHECK(j["split"]["coda"] == nlohmann::json::array({4}));
    CHECK(j["layers"].size() == 5);
}

namespace {
std::string slurp(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// A run file retrofitting stories260K and healing it on the reference ids, `steps` steps.
std::string write_run(const recur::test::scratch_dir& dir, const std::string& name, std::int64_t steps,
                      const std::string& extra_train = "") {
    const std::string tokens = dir / "heal.bin";
    if (!std::filesystem::exists(tokens)) recur::write_token_file(tokens, reference()["encode_ids"].get<std::vector<std::int32_t>>());
    const nlohmann::json run{
        {"model",
         {{"from", data_dir + "/stories260K.bin"},
          {"surgery", {{"prelude", {0}}, {"core", {2, 3}}, {"coda", {4}}}},
          {"recurrence", {{"adapter_init", "passthrough"}}}}},
        {"data", {{"seed", 3}, {"sources", {{"stories", {{"tokens", "heal.bin"}}}}}, {"phases", {{{"mix", {{"stories", 1}}}}}}}},
        {"optimizer", {{"kind", "muon_adamw"}, {"muon", {{"lr", 0.002}}}, {"adamw", {{"lr", 0.0005}}}}},
        {"train", nlohmann::json::parse(R"({"steps": )" + std::to_string(steps) +
                                        R"(, "batch": 2, "seq": 64, "micro_batches": 2, "curriculum": {"r_max": 4},
                                            "backprop": {"s_max": 2}, "checkpoint_every": 3)" + extra_train + "}")}};
    return dir.write(name, run.dump(2));
}
}  // namespace

TEST_CASE("recur train: 10 steps, a fresh process resuming, 10 more equal 20 straight, bit for bit", "[cli][train][data]") {
    const recur::test::scratch_dir dir("recur_test_cli_train");
    const auto config = write_run(dir, "run.json", 20);
    auto r = run("train --config " + config + " --out " + (dir / "straight"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    r = run("train --config " + config + " --out " + (dir / "split") + " --stop-after 10");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(slurp(dir.path() / "split" / "latest") == "step-00000010\n");
    r = run("train --config " + config + " --out " + (dir / "split") + " --resume " + (dir / "split"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Contains("resumed at step 10"));
    const auto a = slurp(dir.path() / "straight" / "step-00000020" / "model.safetensors");
    const auto b = slurp(dir.path() / "split" / "step-00000020" / "model.safetensors");
    CHECK(a.size() > 1000);
    CHECK(a == b);
    CHECK(slurp(dir.path() / "straight" / "step-00000020" / "optimizer.safetensors") ==
          slurp(dir.path() / "split" / "step-00000020" / "optimizer.safetensors"));

    // The result is a recur model directory that eval reads.
    r = run("eval --model " + (dir / "split/step-00000020") + " --data " + (dir / "heal.bin") + " --r 1,4 --json");
    INFO(r.output);
    CHECK(r.code == 0);

    SECTION("a truncated checkpoint is refused on resume and left as it was") {
        const auto weights = dir.path() / "split" / "step-00000020" / "model.safetensors";
        std::filesystem::resize_file(weights, 5000);
        r = run("train --config " + config + " --out " + (dir / "split") + " --resume " + (dir / "split"));
        CHECK(r.code == 1);
        CHECK_THAT(r.output, Contains("model.safetensors"));
        CHECK(std::filesystem::file_size(weights) == 5000);
        CHECK(slurp(dir.path() / "split" / "latest") == "step-00000020\n");
    }
}

TEST_CASE("recur train names the bad key of a run file", "[cli][train][errors]") {
    const recur::test::scratch_dir dir("recur_test_cli_train_errors");
    struct bad {
        std::string extra, says;
    };
    for (const auto& c : std::vector<bad>{{R"(, "stepz": 3)", "'stepz'"},
                                          {R"(, "batch": "two")", "'batch'"},
                                          {R"(, "curriculum": {"kind": "square"})", "square"}}) {
        const auto config = write_run(dir, "bad.json", 4, c.extra);
        const auto r = run("train --config " + config);
        INFO(c.extra << "\n" << r.output);
        CHECK(r.code == 1);
        CHECK_THAT(r.output, Contains(c.says) && Contains("bad.json"));
    }
    auto j = nlohmann::json::parse(slurp(write_run(dir, "bad.json", 4)));
    j["model"]["surgery"]["core"] = {2, 9};
    auto r = run("train --config " + dir.write("bad.json", j.dump()));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("layer 9"));
    j = nlohmann::json::parse(slurp(write_run(dir, "bad.json", 4)));
    j["data"]["sources"]["stories"]["tokens"] = "missing.bin";
    r = run("train --config " + dir.write("bad.json", j.dump()));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("missing.bin"));
    j = nlohmann::json::parse(slurp(write_run(dir, "bad.json", 4)));
    j["optimizer"]["muon"]["lr"] = "fast";
    r = run("train --config " + dir.write("bad.json", j.dump()));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("'lr'"));
    j["optimizer"]["muon"]["lr"] = 0.002;
    j["optimizer"]["muon"]["ns_precision"] = "fp8";
    r = run("train --config " + dir.write("bad.json", j.dump()));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("'ns_precision'") && Contains("fp8"));
    r = run("train --config " + dir.write("bad.json", "{\"model\": "));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("not valid JSON"));
    // The data section's own mistakes are named before any model is loaded (this model does not exist).
    j = nlohmann::json::parse(slurp(write_run(dir, "bad.json", 4)));
    j["model"]["from"] = "no_such_model.bin";
    j["data"]["phases"][0]["mix"]["stories"] = "half";
    r = run("train --config " + dir.write("bad.json", j.dump()));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("the weight of 'stories' must be a number") && !Contains("no_such_model"));
}

TEST_CASE("recur --device cuda: train and generate only, a clean error without a GPU, the cpu tokens with one",
          "[cli][cuda][data]") {
    const std::string model = data_dir + "/stories260K.bin", tok = data_dir + "/tok512.bin";
    auto r = run("bench --device cuda --model-config S --mode fwd");
    INFO(r.output);
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains(RECUR_CLI_CUDA ? "only `train` and `generate` run on cuda" : "built without the cuda backend"));

    r = run("generate --device cuda --model " + model + " --tokenizer " + tok + " --max-new-tokens 20 --json");
    INFO(r.output);
    if (!RECUR_CLI_CUDA) {
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("built without the cuda backend"));
    } else if (r.code == 0) {  // a machine with a GPU: greedy decoding on cuda gives the reference story
        const auto want = reference()["greedy_ids_from_bos"].get<std::vector<std::int32_t>>();
        CHECK(last_json_line(r.output)["outputs"][0]["tokens"].get<std::vector<std::int32_t>>() ==
              std::vector<std::int32_t>(want.begin(), want.begin() + 20));
    } else {  // no GPU (or no driver): the first CUDA call's error, named, and no crash
        CHECK(r.code == 1);
        CHECK_THAT(r.output, Catch::Contains("recur::cuda: ") && Catch::Contains("cudaError"));
    }
}

TEST_CASE("recur generate reproduces the greedy story and reports iterations and cache memory", "[cli][infer][data]") {
    const std::string model = data_dir + "/stories260K.bin", tok = data_dir + "/tok512.bin";
    auto r = run("generate --model " + model + " --tokenizer " + tok + " --max-new-tokens 40 --json");
    INFO(r.output);
    REQUIRE(r.code == 0);
    auto j = last_json_line(r.output);
    const auto want = reference()["greedy_ids_from_bos"].get<std::vector<std::int32_t>>();
    CHECK(j["outputs"][0]["tokens"].get<std::vector<std::int32_t>>() == std::vector<std::int32_t>(want.begin(), want.begin() + 40));
    CHECK_THAT(reference()["greedy_text"].get<std::string>(), Catch::StartsWith(j["outputs"][0]["text"].get<std::string>()));
    CHECK(j["r"] == 1);

    const recur::test::scratch_dir dir("recur_test_cli_generate");
    REQUIRE(run("convert --from " + model + " --out " + (dir / "rec") + " --prelude 0 --core 1-3 --coda 4").code == 0);
    r = run("generate --model " + (dir / "rec") + " --tokenizer " + tok + " --prompt 'The dog' --prompt 'Tom' --r 6" +
            " --exit latent:1e9 --min-iterations 2 --cache compress:2 --temperature 0.8 --top-k 20 --seed 7" +
            " --max-new-tokens 12 --no-stop --json");
    INFO(r.output);
    REQUIRE(r.code == 0);
    j = last_json_line(r.output);
    CHECK(j["outputs"].size() == 2);
    CHECK(j["cache"] == "compress:2");
    CHECK(j["cache_slots"] == 2);
    CHECK(j["cache_bytes"].get<std::int64_t>() > 0);
    // The first new token of each prompt comes from the prefill at r = 6; the other 11 stop at the minimum.
    CHECK(j["iterations"]["histogram"] == nlohmann::json{{"2", 22}, {"6", 2}});
    CHECK(j["generated_tokens"] == 24);

    // Self-speculative decoding gives plain greedy decoding's tokens and reports its acceptance.
    const std::string greedy = "generate --model " + (dir / "rec") + " --tokenizer " + tok +
                               " --prompt 'The dog' --prompt 'Tom' --r 6 --max-new-tokens 16 --no-stop --json";
    r = run(greedy);
    REQUIRE(r.code == 0);
    const auto plain = last_json_line(r.output);
    r = run(greedy + " --speculate 2 --lookahead 3");
    INFO(r.output);
    REQUIRE(r.code == 0);
    j = last_json_line(r.output);
    for (std::size_t i = 0; i < 2; ++i) CHECK(j["outputs"][i]["tokens"] == plain["outputs"][i]["tokens"]);
    CHECK(j["speculation"]["draft_r"] == 2);
    CHECK(j["speculation"]["drafted_tokens"].get<std::int64_t>() > 0);
    CHECK(j["speculation"]["acceptance_rate"].get<double>() >= 0);
    CHECK(j["speculation"]["acceptance_rate"].get<double>() <= 1);
    CHECK(!plain.contains("speculation"));
}

TEST_CASE("recur eval --task scores completions with the chosen extraction rule", "[cli][infer][data]") {
    const recur::test::scratch_dir dir("recur_test_cli_task");
    const std::string task = dir.write("names.jsonl", "{\"question\": \"Once upon a time\", \"answer\": \"Lily\"}\n"
                                                      "{\"question\": \"Once upon a time\", \"answer\": \"Tom\"}\n");
    const auto r = run("eval --model " + data_dir + "/stories260K.bin --tokenizer " + data_dir + "/tok512.bin --task " +
                       task + " --template '{question}' --extract 'regex:named (\\w+)' --max-new-tokens 30 --json" +
                       " --predictions " + (dir / "pred.json"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    const auto j = last_json_line(r.output);
    CHECK(j["examples"] == 2);
    CHECK(j["results"][0]["accuracy"] == 0.5);
    std::ifstream f(dir / "pred.json");
    const auto pred = nlohmann::json::parse(f);
    CHECK(pred["runs"][0]["predictions"][0]["predicted"] == "lily");
    CHECK(pred["runs"][0]["predictions"][1]["correct"] == false);
}

TEST_CASE("bad command lines exit with 2, failures while running with 1, each with one line naming the problem",
          "[cli][errors]") {
    const recur::test::scratch_dir dir("recur_test_cli_errors");
    const std::string model = data_dir + "/stories260K.bin";
    const std::string tok = " --tokenizer " + data_dir + "/tok512.bin";
    const std::string tokens = dir / "ids.bin";
    recur::write_token_file(tokens, std::vector<std::int32_t>{1, 2, 600, 4});
    const std::string good = dir / "good.bin";
    recur::write_token_file(good, reference()["encode_ids"].get<std::vector<std::int32_t>>());
    struct bad {
        std::string args, says;
        int code;
    };
    const std::vector<bad> cases{
        {"eval --model " + (dir / "missing.bin") + " --data " + tokens, "does not exist", 1},
        {"eval --model " + model + " --data " + tokens, "600", 1},
        {"eval --model " + model + " --data " + (dir / "none.bin"), "none.bin", 1},
        {"convert --from " + model + " --out " + (dir / "o") + " --core 2,9", "layer 9", 1},
        {"convert --from " + model + " --out " + (dir / "o") + " --prelude 2 --core 1", "increasing", 1},
        {"convert --from " + model + " --out " + (dir / "o") + " --core x", "'x'", 2},
        {"convert --from " + model + " --out " + (dir / "o") + " --prelude 0", "--core", 2},
        {"convert --from " + model + " --out " + (dir / "o") + " --to huginn", "needs a split", 2},
        {"convert --from " + model + " --out " + (dir / "o") + " --to gguf", "gguf", 2},
        {"analyze --model " + model + " --data " + good + " --core 9", "core", 1},
        {"eval --model " + model + " --data " + good + " --task " + good, "exactly one of --data", 2},
        {"eval --model " + model + " --task " + data_dir + "/gsm8k_test.jsonl", "--task needs --tokenizer", 2},
        {"eval --model " + model + tok + " --task " + good, "is not valid JSON", 1},
        {"eval --model " + model + tok + " --task " + data_dir + "/gsm8k_test.jsonl --extract 'regex:('", "regex", 2},
        {"generate --model " + model + tok + " --cache compress:0", "compress:0", 2},
        {"generate --model " + model + tok + " --exit kl:x", "'x'", 2},
        {"generate --model " + model + tok + " --top-p 2", "top_p", 2},
        {"generate --model " + model + tok + " --speculate 1", "needs a recurrent model", 1},
        {"generate --model " + model + tok + " --speculate 1 --lookahead 0", "lookahead", 2},
        {"generate --model " + model + " --tokenizer " + (dir / "none.bin"), "none.bin", 1},
        {"generate --model " + (dir / "missing_dir") + "/" + tok, "missing_dir", 1},
        {"eval --precision fp8 --model " + model + " --data " + good, "fp8", 2},
        {"eval --model " + model, "--data", 2},
        {"frobnicate", "frobnicate", 2},
    };
    for (const auto& c : cases) {
        const auto r = run(c.args);
        INFO(c.args << "\n" << r.output);
        CHECK(r.code == c.code);
        CHECK_THAT(r.output, Contains(c.says) && Contains("error: "));
        CHECK_THAT(r.output, !Contains("terminate") && !Contains("Aborted") && !Contains("core dumped"));
    }
}

TEST_CASE("generate --json writes valid JSON with U+FFFD for bytes that are not UTF-8, and the token ids",
          "[cli][infer]") {
    // A prompt of invalid bytes, and sampling hot enough that lone high byte tokens (<0x80>..<0xFF>) come out.
    const auto r = run("generate --model " + data_dir + "/stories260K.bin --tokenizer " + data_dir +
                       "/tok512.bin --json --no-stop --temperature 20 --seed 3 --max-new-tokens 64 --prompt \"$(printf '\\377\\376Once')\"");
    INFO(r.output);
    REQUIRE(r.code == 0);
    const auto line = r.output.substr(0, r.output.find('\n'));
    const auto j = nlohmann::json::parse(line);  // throws on invalid UTF-8 or invalid JSON
    const auto& out = j["outputs"][0];
    const std::string replacement = "\xEF\xBF\xBD";
    CHECK(out["prompt"].get<std::string>() == replacement + replacement + "Once");
    const auto ids = out["tokens"].get<std::vector<std::int32_t>>();
    CHECK(ids.size() == 64);
    const bool high_byte = std::any_of(ids.begin(), ids.end(), [](std::int32_t id) { return id >= 3 + 0x80 && id <= 258; });
    REQUIRE(high_byte);
    CHECK_THAT(out["text"].get<std::string>(), Contains(replacement));
}
