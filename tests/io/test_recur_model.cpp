// Recurrent models on disk: save -> load gives identical logits; surgery on stories260K with a
// pass-through adapter at r = 1 equals the model with the dropped layers removed; spec and config JSON.
// Not here: safetensors corruptions (test_safetensors.cpp) or Hugging Face checkpoints (test_hf.cpp).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <recur/backends/cpu.hpp>
#include <recur/io/llama2c.hpp>
#include <recur/io/recur_model.hpp>

#include "support/compare.hpp"

using namespace recur;
using Catch::Contains;
using recur::test::relative_error;

namespace {
const std::string data_dir = RECUR_SHARED_DATA;
using B = cpu;

std::filesystem::path scratch(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / ("recur_test_recur_model_" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

Tensor<B> some_ids(std::int64_t vocab, std::int64_t t, std::uint64_t seed) {
    rng gen(seed);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(2 * t));
    for (auto& x : ids) x = static_cast<std::int32_t>(gen.next() % static_cast<std::uint64_t>(vocab));
    return Tensor<B>::from_host(ids, {2, t});
}

std::vector<double> logits(const Recurrent<B>& m, const Tensor<B>& ids, std::int64_t r) {
    no_grad off;
    return m.forward(ids, r).to_host<double>();
}
}  // namespace

TEST_CASE("layer lists parse single indices and inclusive ranges", "[io][surgery]") {
    CHECK(parse_layer_list("0,1,4-7", "--core") == std::vector<std::int64_t>{0, 1, 4, 5, 6, 7});
    CHECK(parse_layer_list("", "--coda").empty());
    CHECK(parse_layer_list("3", "--core") == std::vector<std::int64_t>{3});
    CHECK_THROWS_WITH(parse_layer_list("1,,2", "--core"), Contains("--core") && Contains("empty"));
    CHECK_THROWS_WITH(parse_layer_list("a", "--prelude"), Contains("--prelude") && Contains("'a'"));
    CHECK_THROWS_WITH(parse_layer_list("5-3", "--core"), Contains("backwards"));
    CHECK_THROWS_WITH(parse_layer_list("-1", "--core"), Contains("'-1'"));
}

TEST_CASE("surgery specs and recurrence options round-trip through JSON and reject bad values", "[io][surgery]") {
    const surgery_spec s{{0, 1}, {10, 11, 12, 13}, {14, 15}};
    CHECK(surgery_spec_from_json(to_json(s), 16, "") == s);
    CHECK_THROWS_WITH(surgery_spec_from_json(to_json(s), 14, "cfg"), Contains("cfg") && Contains("layer 14"));
    CHECK_THROWS_WITH(surgery_spec_from_json({{"prelude", {0}}, {"core", {0}}, {"coda", nlohmann::json::array()}}, 4, ""),
                      Contains("increasing"));
    CHECK_THROWS_WITH(surgery_spec_from_json({{"prelude", {0}}, {"core", {1}}}, 4, ""), Contains("'coda'"));
    CHECK_THROWS_WITH(surgery_spec_from_json({{"prelude", {0}}, {"core", "1"}, {"coda", {2}}}, 4, ""),
                      Contains("'core'") && Contains("must be an array of integers"));
    // a layer index that is a float (too large for an integer: found by fuzz_run_config) is named
    CHECK_THROWS_WITH(surgery_spec_from_json({{"prelude", {0}}, {"core", {1e119}}, {"coda", {2}}}, 4, ""),
                      Contains("'core'") && Contains("must be an array of integers"));
    CHECK_THROWS_WITH(surgery_spec_from_json({{"prelude", {0.5}}, {"core", {1}}, {"coda", {2}}}, 4, ""),
                      Contains("'prelude'") && Contains("must be an array of integers"));
    CHECK_THROWS_WITH(surgery_spec_from_json({{"prelude", {0}}, {"core", {1}}, {"coda", {2}}, {"extra", 1}}, 4, ""),
                      Contains("'extra'"));

    recurrence_options o;
    o.init = state_init::zeros;
    o.inject = injection::additive;
    o.adapter = adapter_init::passthrough;
    o.init_scale = 0.5;
    o.seed = 42;
    o.mean_r = 32;
    o.backprop_depth = 4;
    const auto back = recurrence_options_from_json(to_json(o), "");
    CHECK(back.init == o.init);
    CHECK(back.inject == o.inject);
    CHECK(back.adapter == o.adapter);
    CHECK(back.init_scale == o.init_scale);
    CHECK(back.seed == o.seed);
    CHECK(back.mean_r == o.mean_r);
    CHECK(back.backprop_depth == o.backprop_depth);
    CHECK_THROWS_WITH(recurrence_options_from_json({{"state_init", "gaussian"}}, "f"),
                      Contains("state_init") && Contains("gaussian") && Contains("truncated_normal"));
    CHECK_THROWS_WITH(recurrence_options_from_json({{"mean_r", 0}}, "f"), Contains("mean_r"));
    CHECK_THROWS_WITH(recurrence_options_from_json({{"r", 4}}, "f"), Contains("'r'"));
}

TEST_CASE("a saved recurrent model reloads to identical logits", "[io][surgery]") {
    model_config c;
    c.vocab_size = 97, c.d_model = 32, c.n_heads = 4, c.n_kv_heads = 2, c.ffn_dim = 48, c.n_layers = 7, c.max_seq_len = 16;
    recurrence_options o;
    o.init = state_init::zeros;  // deterministic state: logits depend on weights only
    o.mean_r = 3;
    Recurrent<B> m(c, surgery_spec{{0}, {2, 3}, {6}}, o, 11);
    const auto dir = scratch("roundtrip");
    save_recurrent(dir, m, dtype::f32, "unit test");
    const auto back = load_recurrent<B>(dir);
    CHECK(back.spec() == m.spec());
    CHECK(back.options.mean_r == 3);
    CHECK(load_recur_model_info(dir).source == "unit test");
    CHECK(is_recur_model_dir(dir));
    const auto ids = some_ids(c.vocab_size, 9, 3);
    for (const std::int64_t r : {1, 4}) CHECK(logits(back, ids, r) == logits(m, ids, r));

    SECTION("a source that is not UTF-8 (a file name's raw bytes) is written with U+FFFD, never refused") {
        save_recurrent(dir, m, dtype::f32, "/data/\xff\xfemodel.bin");
        CHECK(load_recur_model_info(dir).source == "/data/\xEF\xBF\xBD\xEF\xBF\xBDmodel.bin");
    }

    SECTION("bf16 weights reload within bf16 rounding") {
        save_recurrent(dir, m, dtype::bf16);
        const auto half = load_recurrent<B>(dir);
        CHECK(relative_error(logits(half, ids, 2), logits(m, ids, 2)) < 2e-2);
    }
    SECTION("a config naming layers the weights lack is an io_error") {
        auto j = nlohmann::json::parse(std::ifstream(dir / "config.json"));
        j["surgery"]["core"] = {2, 3, 4};
        std::ofstream(dir / "config.json") << j.dump();
        CHECK_THROWS_AS(load_recurrent<B>(dir), io_error);
        CHECK_THROWS_WITH(load_recurrent<B>(dir), Contains("model.core.4"));
    }
    SECTION("a config claiming a far larger model than its weights is refused before anything is allocated") {
        auto j = nlohmann::json::parse(std::ifstream(dir / "config.json"));
        j["model"]["d_model"] = std::int64_t{1} << 36;
        std::ofstream(dir / "config.json") << j.dump();
        CHECK_THROWS_AS(load_recurrent<B>(dir), io_error);
        CHECK_THROWS_WITH(load_recurrent<B>(dir), Contains("config.json") && Contains("describes at least"));
    }
    SECTION("a config with a bad surgery is an io_error naming the file") {
        auto j = nlohmann::json::parse(std::ifstream(dir / "config.json"));
        j["surgery"]["coda"] = {7};
        std::ofstream(dir / "config.json") << j.dump();
        CHECK_THROWS_AS(load_recurrent<B>(dir), io_error);
        CHECK_THROWS_WITH(load_recurrent<B>(dir), Contains("config.json") && Contains("layer 7"));
    }
}

TEST_CASE("stories260K surgery with a pass-through adapter at r = 1 equals the pruned model", "[io][surgery][data]") {
    const auto source = load_llama2c<B>(data_dir + "/stories260K.bin");
    recurrence_options o;
    o.adapter = adapter_init::passthrough;
    const surgery_spec spec{{0}, {2, 3}, {4}};
    auto rec = retrofit(source, spec, o, 1);
    LlamaModel<B> pruned = source;
    pruned.layers.blocks.erase(pruned.layers.blocks.begin() + 1);
    pruned.layers.index.erase(pruned.layers.index.begin() + 1);
    const auto ids = some_ids(source.config.vocab_size, 64, 5);
    no_grad off;
    const auto want = pruned.forward(ids).to_host<double>();
    CHECK(relative_error(logits(rec, ids, 1), want) < 1e-6);
    // Weights were copied unchanged, and the copy is independent of the source.
    CHECK(rec.core.blocks[0].self_attn.q_proj.weight.to_host<float>() ==
          source.layers.blocks[2].self_attn.q_proj.weight.to_host<float>());
    CHECK(rec.lm_head.weight.to_host<float>() == source.embed_tokens.weight.to_host<float>());
    CHECK(rec.lm_head.weight.raw_data() != source.embed_tokens.weight.raw_data());

    const auto dir = scratch("stories");
    save_recurrent(dir, rec, dtype::f32, data_dir + "/stories260K.bin");
    const auto back = load_recurrent<B>(dir);
    CHECK(logits(back, ids, 1) == logits(rec, ids, 1));
    CHECK(logits(back, ids, 4) == logits(rec, ids, 4));
}
