// Hugging Face Llama: config.json, save_hf/load_hf round trips, and logits against an independent PyTorch
// Llama (io/peer_hf_llama.py; without torch it fails in CI and is a ctest skip elsewhere).
// Not here: safetensors itself.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include <recur/backends/reference.hpp>
#include <recur/io/config_json.hpp>
#include <recur/io/hf.hpp>

#include "support/peer.hpp"
#include "support/scratch_dir.hpp"
#include "support/skip.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;
using B = reference;

namespace {

const std::vector<std::int32_t> tokens{1, 5, 2, 9, 3, 3, 7, 0, 10, 4, 12, 6};

model_config tiny_config() {
    model_config c = test::tiny_config({.vocab = 19, .d = 32, .heads = 4, .kv_heads = 2, .ffn = 40, .seq = 16});
    c.norm_eps = 1e-5;  // init_std 0.3: far from linear, so a wrong weight or layout shows in the logits
    return c;
}

template <class BlockT>
std::vector<float> logits(const LlamaModel<B, BlockT>& m) {
    no_grad off;
    return m.forward(Tensor<B>::from_host(tokens, {1, static_cast<std::int64_t>(tokens.size())})).template to_host<float>();
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    return d;
}

/// The Llama 3.2 1B config.json as published (a subset of its unrelated keys kept).
const char* llama32_config = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256
})";

}  // namespace

TEST_CASE("hf_config_from_json reads the Llama 3.2 1B config.json", "[io][hf]") {
    const auto c = hf_config_from_json(nlohmann::json::parse(llama32_config), "llama32/config.json");
    CHECK(c.d_model == 2048);
    CHECK(c.ffn_dim == 8192);
    CHECK(c.n_layers == 16);
    CHECK(c.n_heads == 32);
    CHECK(c.n_kv_heads == 8);
    CHECK(c.resolved_head_dim() == 64);
    CHECK(c.vocab_size == 128256);
    CHECK(c.max_seq_len == 131072);
    CHECK(c.norm_eps == 1e-5);
    CHECK(c.rope.theta == 500000.0);
    CHECK(c.rope.layout == rope_layout::half);
    REQUIRE(c.rope.scaling);
    CHECK(c.rope.scaling->factor == 32.0);
    CHECK(c.rope.scaling->low_freq_factor == 1.0);
    CHECK(c.rope.scaling->high_freq_factor == 4.0);
    CHECK(c.rope.scaling->original_max_position_embeddings == 8192);
    CHECK(c.tie_embeddings);
    CHECK_FALSE(c.qk_norm);
    CHECK_FALSE(c.attention_bias);

    // Older spellings: no head_dim or kv heads, rope_scaling null, "type" instead of "rope_type".
    auto j = nlohmann::json::parse(llama32_config);
    j.erase("head_dim");
    j.erase("num_key_value_heads");
    j["rope_scaling"] = nullptr;
    const auto d = hf_config_from_json(j, "old");
    CHECK(d.n_kv_heads == 32);
    CHECK(d.head_dim == 0);
    CHECK(d.resolved_head_dim() == 64);
    CHECK_FALSE(d.rope.scaling);
    j["rope_scaling"] = {{"type", "default"}};
    CHECK_FALSE(hf_config_from_json(j, "old").rope.scaling);
    // transformers 5 puts rope_theta and the scaling into rope_parameters.
    j.erase("rope_scaling");
    j.erase("rope_theta");
    j["rope_parameters"] = {{"rope_type", "llama3"},          {"rope_theta", 250000.0},     {"factor", 8},
                            {"low_freq_factor", 1},           {"high_freq_factor", 4},      {"original_max_position_embeddings", 4096}};
    const auto e = hf_config_from_json(j, "v5");
    CHECK(e.rope.theta == 250000.0);
    REQUIRE(e.rope.scaling);
    CHECK(e.rope.scaling->original_max_position_embeddings == 4096);
}

TEST_CASE("hf_config_to_json round-trips through hf_config_from_json", "[io][hf]") {
    auto c = tiny_config();
    c.head_dim = 12;
    c.tie_embeddings = true;
    c.rope = {500.0, rope_layout::half, llama3_rope_scaling{4.0, 1.0, 4.0, 16}};
    const auto j = hf_config_to_json(c);
    CHECK(j["architectures"] == nlohmann::json{"LlamaForCausalLM"});
    CHECK(j["rope_scaling"]["rope_type"] == "llama3");
    CHECK(j["rope_scaling"]["original_max_position_embeddings"].is_number_integer());
    CHECK(to_json(hf_config_from_json(j, "x")) == to_json(c));
    c.rope.scaling.reset();
    c.head_dim = 0;
    CHECK(to_json(hf_config_from_json(hf_config_to_json(c), "x")) == to_json(c));

    auto qk = tiny_config();
    qk.qk_norm = true;
    CHECK_THROWS_WITH(hf_config_to_json(qk), Contains("qk_norm"));
    auto bias = tiny_config();
    bias.attention_bias = true;
    CHECK_THROWS_WITH(hf_config_to_json(bias), Contains("attention_bias"));
    auto sandwich = tiny_config();
    sandwich.block = block_kind::sandwich;
    CHECK_THROWS_WITH(hf_config_to_json(sandwich), Contains("sandwich blocks"));
    auto olmo2 = tiny_config();
    olmo2.block = block_kind::olmo2;
    CHECK_THROWS_WITH(hf_config_to_json(olmo2), Contains("OLMo-2") && Contains("q/k norms"));
    olmo2.qk_norm = true;
    const auto o = hf_config_to_json(olmo2);
    CHECK(o["architectures"] == nlohmann::json{"Olmo2ForCausalLM"});
    CHECK(o["model_type"] == "olmo2");
    CHECK(to_json(hf_config_from_json(o, "x")) == to_json(olmo2));
    auto scaled = tiny_config();
    scaled.embed_scale = 2;
    CHECK_THROWS_WITH(hf_config_to_json(scaled), Contains("embed_scale"));
}

TEST_CASE("save_hf and load_hf round-trip Llama models", "[io][hf]") {
    const test::scratch_dir dir("recur_hf_roundtrip");
    struct variant {
        std::string name;
        model_config config;
    };
    std::vector<variant> variants;
    variants.push_back({"gqa_untied", tiny_config()});
    auto tied = tiny_config();
    tied.tie_embeddings = true;
    tied.n_kv_heads = 4;
    variants.push_back({"mha_tied", tied});
    auto scaled = tiny_config();
    scaled.head_dim = 12;
    scaled.n_kv_heads = 1;
    scaled.rope = {500.0, rope_layout::half, llama3_rope_scaling{4.0, 1.0, 4.0, 16}};
    variants.push_back({"llama3_head_dim", scaled});
    for (const auto& v : variants) {
        INFO(v.name);
        const LlamaModel<B> source(v.config, 7);
        save_hf<B>(dir.path() / v.name, source);
        const auto loaded = load_hf<B>(dir.path() / v.name);
        CHECK(to_json(loaded.config) == to_json(v.config));
        CHECK(logits(loaded) == logits(source));
        CHECK(safetensors_set(dir.path() / v.name).metadata().at("format") == "pt");

        save_hf<B>(dir.path() / (v.name + "_bf16"), source, dtype::bf16);
        const auto rounded = load_hf<B>(dir.path() / (v.name + "_bf16"));
        auto s = source;
        auto r = rounded;
        const auto ps = named_parameters<B>(s), pr = named_parameters<B>(r);
        REQUIRE(ps.size() == pr.size());
        for (std::size_t i = 0; i < ps.size(); ++i) {
            INFO(ps[i].name);
            CHECK(pr[i].tensor->to_host<float>() == ps[i].tensor->to(dtype::bf16).to_host<float>());
            CHECK(pr[i].tensor->requires_grad());
        }
    }
}

TEST_CASE("load_hf reads sharded folders and skips rotary inv_freq buffers and a tied lm_head", "[io][hf]") {
    const test::scratch_dir dir("recur_hf_shards");
    auto c = tiny_config();
    c.tie_embeddings = true;
    LlamaModel<B> source(c, 3);
    save_hf<B>(dir.path() / "whole", source);
    named_tensors<B> all;
    for (const auto& p : named_parameters<B>(source)) all.emplace_back(p.name, *p.tensor);
    all.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", Tensor<B>::full({6}, 0.5));
    all.emplace_back("lm_head.weight", source.embed_tokens.weight);
    std::filesystem::create_directories(dir.path() / "sharded");
    std::filesystem::copy_file(dir.path() / "whole/config.json", dir.path() / "sharded/config.json");
    nlohmann::json index{{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    named_tensors<B> first, second;
    for (const auto& [name, t] : all) {
        const bool early = name.starts_with("model.layers.0.") || name.starts_with("model.embed");
        (early ? first : second).emplace_back(name, t);
        index["weight_map"][name] = early ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    save_safetensors<B>(dir / "sharded/model-00001-of-00002.safetensors", first, dtype::f32);
    save_safetensors<B>(dir / "sharded/model-00002-of-00002.safetensors", second, dtype::f32);
    dir.write("sharded/model.safetensors.index.json", index.dump(2));
    CHECK(logits(load_hf<B>(dir.path() / "sharded")) == logits(source));
}

TEST_CASE("save_hf exports interleaved-RoPE (llama2.c) models with q/k rows permuted to rotate-half", "[io][hf]") {
    const test::scratch_dir dir("recur_hf_interleaved");
    auto c = tiny_config();
    c.rope.layout = rope_layout::interleaved;
    const LlamaModel<B> source(c, 5);
    save_hf<B>(dir.path() / "m", source);
    const auto loaded = load_hf<B>(dir.path() / "m");
    CHECK(loaded.config.rope.layout == rope_layout::half);
    CHECK(max_abs_diff(logits(loaded), logits(source)) < 1e-5);
}

TEST_CASE("bad config.json files and mismatched checkpoints throw io_error naming the file and key", "[io][hf][errors]") {
    const test::scratch_dir dir("recur_hf_bad");
    const auto good = hf_config_to_json(tiny_config());
    struct bad_case {
        std::string folder;
        std::function<void(nlohmann::json&)> edit;
        std::vector<std::string> expect;  // besides the folder name
    };
    const std::vector<bad_case> cases{
        {"no_hidden", [](auto& j) { j.erase("hidden_size"); }, {"'hidden_size'", "missing"}},
        {"hidden_string", [](auto& j) { j["hidden_size"] = "32"; }, {"'hidden_size'", "expected an integer"}},
        {"layers_float", [](auto& j) { j["num_hidden_layers"] = 2.0; }, {"'num_hidden_layers'", "expected an integer"}},
        {"indivisible", [](auto& j) { j["hidden_size"] = 30; j.erase("head_dim"); },
         {"'hidden_size'", "not divisible by num_attention_heads"}},
        {"kv_heads", [](auto& j) { j["num_key_value_heads"] = 3; }, {"'num_key_value_heads'", "does not divide"}},
        {"zero_ffn", [](auto& j) { j["intermediate_size"] = 0; }, {"'intermediate_size'", "positive"}},
        {"negative_vocab", [](auto& j) { j["vocab_size"] = -5; }, {"'vocab_size'", "positive"}},
        {"odd_head_dim", [](auto& j) { j["head_dim"] = 7; }, {"'head_dim'", "even"}},
        {"eps_string", [](auto& j) { j["rms_norm_eps"] = "1e-5"; }, {"'rms_norm_eps'", "expected a number"}},
        {"tie_string", [](auto& j) { j["tie_word_embeddings"] = "yes"; }, {"'tie_word_embeddings'", "true or false"}},
        {"architecture", [](auto& j) { j["architectures"] = {"MistralForCausalLM"}; },
         {"'architectures'", "LlamaForCausalLM"}},
        {"architecture_type", [](auto& j) { j["architectures"] = "LlamaForCausalLM"; },
         {"'architectures'", "array of strings"}},
        {"model_type", [](auto& j) { j["model_type"] = "mistral"; }, {"'model_type'", "'mistral'"}},
        {"model_type_contradicts", [](auto& j) { j["model_type"] = "olmo2"; }, {"'model_type'", "contradicts"}},
        {"activation", [](auto& j) { j["hidden_act"] = "gelu"; }, {"'hidden_act'", "'gelu'"}},
        {"attention_bias", [](auto& j) { j["attention_bias"] = true; }, {"'attention_bias'", "o_proj"}},
        {"mlp_bias", [](auto& j) { j["mlp_bias"] = true; }, {"'mlp_bias'"}},
        {"rope_yarn", [](auto& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; },
         {"'rope_scaling.rope_type'", "'yarn'"}},
        {"rope_no_factor",
         [](auto& j) {
             j["rope_scaling"] = {{"rope_type", "llama3"}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                                  {"original_max_position_embeddings", 16}};
         },
         {"'rope_scaling.factor'", "missing"}},
        {"rope_string", [](auto& j) { j["rope_scaling"] = "llama3"; }, {"'rope_scaling'", "expected an object"}},
        {"rope_theta", [](auto& j) { j["rope_theta"] = -1.0; }, {"'rope_theta'", "positive"}},
    };
    CHECK(cases.size() >= 20);
    for (const auto& c : cases) {
        INFO(c.folder);
        auto j = good;
        c.edit(j);
        const auto path = dir.write(c.folder + "/config.json", j.dump());
        REQUIRE_THROWS_AS(load_hf_config(path), io_error);
        try {
            load_hf_config(path);
        } catch (const io_error& e) {
            CHECK_THAT(e.what(), Contains(c.folder + "/config.json"));
            for (const auto& part : c.expect) CHECK_THAT(e.what(), Contains(part));
        }
    }

    // Whole-folder failures.
    auto expect_io = [](const std::function<void()>& f, const std::vector<std::string>& parts) {
        REQUIRE_THROWS_AS(f(), io_error);
        try {
            f();
        } catch (const io_error& e) {
            for (const auto& part : parts) CHECK_THAT(e.what(), Contains(part));
        }
    };
    dir.write("not_json/config.json", "{\"hidden_size\": ");
    expect_io([&] { load_hf_config(dir.path() / "not_json/config.json"); }, {"not_json/config.json", "not valid JSON"});
    dir.write("array/config.json", "[1]");
    expect_io([&] { load_hf_config(dir.path() / "array/config.json"); }, {"array/config.json", "expected an object"});
    expect_io([&] { load_hf<B>(dir.path() / "nothing"); }, {"nothing/config.json", "cannot open"});
    dir.write("no_weights/config.json", good.dump());
    expect_io([&] { load_hf<B>(dir.path() / "no_weights"); }, {"no_weights", "neither model.safetensors"});

    // Untied model without lm_head.weight; weights that disagree with config.json.
    LlamaModel<B> untied(tiny_config(), 1);
    named_tensors<B> params;
    for (const auto& p : named_parameters<B>(untied))
        if (p.name != "lm_head.weight") params.emplace_back(p.name, *p.tensor);
    dir.write("no_head/config.json", good.dump());
    save_safetensors<B>(dir / "no_head/model.safetensors", params);
    expect_io([&] { load_hf<B>(dir.path() / "no_head"); }, {"no_head/model.safetensors", "'lm_head.weight'", "missing"});
    auto wider = good;
    wider["vocab_size"] = 23;
    save_hf<B>(dir.path() / "vocab", untied);
    dir.write("vocab/config.json", wider.dump());
    expect_io([&] { load_hf<B>(dir.path() / "vocab"); },
              {"vocab/model.safetensors", "'model.embed_tokens.weight'", "(19, 32)", "(23, 32)"});
}

TEST_CASE("HF checkpoints written by save_hf give the logits of an independent PyTorch Llama", "[io][hf][peer]") {
    const std::string python = RECUR_PEER_PYTHON;
    if (!test::require_python(python, "torch, numpy", "PyTorch and NumPy (Debian's python3-torch, python3-numpy)")) return;
    const test::scratch_dir dir("recur_hf_peer");
    struct variant {
        std::string name;
        model_config config;
        dtype type;
    };
    std::vector<variant> variants;
    variants.push_back({"f32_gqa_untied", tiny_config(), dtype::f32});
    auto tied = tiny_config();
    tied.tie_embeddings = true;
    tied.n_kv_heads = 4;
    variants.push_back({"bf16_mha_tied", tied, dtype::bf16});
    auto scaled = tiny_config();
    scaled.head_dim = 12;
    scaled.rope = {500.0, rope_layout::half, llama3_rope_scaling{4.0, 1.0, 4.0, 16}};
    variants.push_back({"f32_llama3_head_dim", scaled, dtype::f32});
    auto mqa = scaled;
    mqa.n_kv_heads = 1;
    mqa.tie_embeddings = true;
    variants.push_back({"bf16_llama3_mqa_tied", mqa, dtype::bf16});
    auto f16 = tiny_config();
    f16.n_layers = 3;
    variants.push_back({"f16_untied", f16, dtype::f16});
    auto interleaved = tiny_config();
    interleaved.rope.layout = rope_layout::interleaved;
    interleaved.tie_embeddings = true;
    variants.push_back({"f32_interleaved_source", interleaved, dtype::f32});

    auto olmo2 = tiny_config();
    olmo2.block = block_kind::olmo2;
    olmo2.qk_norm = true;
    olmo2.rope = {500.0, rope_layout::half, llama3_rope_scaling{4.0, 1.0, 4.0, 16}};
    variants.push_back({"f32_olmo2_gqa_untied", olmo2, dtype::f32});
    auto olmo2_interleaved = olmo2;
    olmo2_interleaved.rope.layout = rope_layout::interleaved;
    olmo2_interleaved.tie_embeddings = true;
    variants.push_back({"bf16_olmo2_interleaved_source_tied", olmo2_interleaved, dtype::bf16});

    nlohmann::json jobs = nlohmann::json::array();
    std::vector<std::vector<float>> ours;
    for (const auto& v : variants) {
        auto run = [&]<class BlockT>() {
            LlamaModel<B, BlockT> source(v.config, 11);
            // Norm weights away from one, so that a norm applied in the wrong place shows.
            rng gen(5);
            source.visit_parameters("", [&](const std::string& name, Tensor<B>& t) {
                if (name.find("norm") != std::string::npos) t = randn<B>(t.shape(), gen, 1.0, 0.3).set_requires_grad();
            });
            save_hf<B>(dir.path() / v.name, source, v.type);
            // Interleaved models are compared as they were; others as loaded (bf16/f16 rounding included).
            const bool as_is = v.config.rope.layout == rope_layout::interleaved && v.type == dtype::f32;
            ours.push_back(logits(as_is ? source : load_hf<B, BlockT>(dir.path() / v.name)));
        };
        if (v.config.block == block_kind::olmo2) run.template operator()<Olmo2Block<B>>();
        else run.template operator()<LlamaBlock<B>>();
        jobs.push_back({{"dir", dir / v.name}, {"tokens", tokens}});
    }
    dir.write("jobs.json", jobs.dump());
    REQUIRE(test::run_peer(python, std::string(RECUR_TESTS_DIR) + "/io/peer_hf_llama.py", {dir / "jobs.json"}, dir, "out.json"));
    const auto theirs = nlohmann::json::parse(test::file_text(dir.path() / "out.json"));
    REQUIRE(theirs.size() == variants.size());
    for (std::size_t i = 0; i < variants.size(); ++i) {
        INFO(variants[i].name);
        std::vector<float> flat;
        for (const auto& row : theirs[i])
            for (const auto& x : row) flat.push_back(x.get<float>());
        const double diff = max_abs_diff(ours[i], flat);
        INFO("max abs diff " << diff);
        CHECK(diff < 1e-4);
        std::cout << "ORACLE: Hugging Face " << (variants[i].config.block == block_kind::olmo2 ? "OLMo-2" : "Llama")
                  << " vs PyTorch, " << variants[i].name << ": " << tokens.size() << " tokens, max |logit difference| "
                  << diff << std::endl;
    }
}
