// The paper's recurrent checkpoints (huginn_raven): config.json both ways, save_huginn/load_huginn round
// trips (a re-export is byte-identical), logits against an independent PyTorch forward of the format
// (io/peer_huginn.py) for the Llama-derived and Huginn-0125 variants, and bad directories.
// Not here: plain Hugging Face Llama folders (test_hf.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include <recur/backends/reference.hpp>
#include <recur/io/huginn.hpp>
#include <recur/io/load_model.hpp>

#include "support/peer.hpp"
#include "support/scratch_dir.hpp"
#include "support/skip.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;
using B = reference;
using Sandwich = RecurrentOf<B, SandwichBlock<B>>;
using Olmo2 = RecurrentOf<B, Olmo2Block<B>>;

namespace {

const std::vector<std::int32_t> tokens{1, 5, 2, 9, 3, 3, 7, 0, 10, 4, 12, 6};

/// A retrofit of a 7-layer Llama with grouped-query heads, llama3 RoPE scaling and an untied head.
Recurrent<B> llama_retrofit() {
    model_config c = test::tiny_config({.vocab = 19, .d = 32, .heads = 4, .kv_heads = 2, .ffn = 40, .layers = 7, .seq = 16});
    c.rope = {500.0, rope_layout::half, llama3_rope_scaling{4.0, 1.0, 4.0, 16}};
    recurrence_options o;
    o.init_scale = 0.5;
    o.mean_r = 6;
    o.backprop_depth = 3;
    o.seed = 17;
    return Recurrent<B>(c, surgery_spec{{0}, {2, 3}, {5}}, o, 3);
}

/// Huginn-0125's shape: sandwich blocks, q/k biases, embeddings scaled by sqrt(d), a tied head.
Sandwich huginn_0125() {
    model_config c = test::tiny_config({.vocab = 19, .d = 32, .heads = 4, .kv_heads = 4, .ffn = 40, .layers = 4, .seq = 16, .init_std = 0.1});
    c.block = block_kind::sandwich;
    c.qk_bias = true;
    c.tie_embeddings = true;
    c.embed_scale = std::sqrt(32.0);
    c.rope = {50000.0, rope_layout::interleaved, std::nullopt};
    c.norm_eps = 1e-6;
    Sandwich m(c, 1, 2, 1, recurrence_options{}, 5);
    m.lm_head.weight = m.embed_tokens.weight.clone().set_requires_grad();
    // Non-trivial norm weights and biases, so a misplaced one shows in the logits.
    rng gen(9);
    m.visit_parameters("", [&](const std::string& name, Tensor<B>& t) {
        if (name.find("norm") != std::string::npos || name.ends_with(".bias"))
            t = add(t, randn<B>(t.shape(), gen, 0.0, 0.2)).detach().set_requires_grad();
    });
    return m;
}

/// An OLMo-2 retrofit: norms on the sublayer outputs, q/k norms, grouped-query heads, untied.
Olmo2 olmo2_retrofit() {
    model_config c = test::tiny_config({.vocab = 19, .d = 32, .heads = 4, .kv_heads = 2, .ffn = 40, .layers = 6, .seq = 16,
                                        .init_std = 0.1});
    c.block = block_kind::olmo2;
    c.qk_norm = true;
    c.rope.theta = 500000.0;
    Olmo2 m(c, surgery_spec{{0, 1}, {2, 3}, {4, 5}}, recurrence_options{}, 8);
    rng gen(10);
    m.visit_parameters("", [&](const std::string& name, Tensor<B>& t) {
        if (name.find("norm") != std::string::npos) t = randn<B>(t.shape(), gen, 1.0, 0.3).set_requires_grad();
    });
    return m;
}

template <class M>
void check_same_parameters(M& a, M& b) {
    const auto pa = named_parameters<B>(a), pb = named_parameters<B>(b);
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].name);
        CHECK(pa[i].name == pb[i].name);
        CHECK(pa[i].tensor->shape() == pb[i].tensor->shape());
        CHECK(pa[i].tensor->template to_host<double>() == pb[i].tensor->template to_host<double>());
    }
}

template <class M>
std::vector<float> logits(const M& m, const Tensor<B>& s0, std::int64_t r) {
    no_grad off;
    const auto ids = Tensor<B>::from_host(tokens, {1, static_cast<std::int64_t>(tokens.size())});
    return m.forward(ids, iteration_split{0, r}, 0, nullptr, s0).template to_host<float>();
}

void expect_io(const std::function<void()>& f, const std::vector<std::string>& parts) {
    REQUIRE_THROWS_AS(f(), io_error);
    try {
        f();
    } catch (const io_error& e) {
        for (const auto& part : parts) CHECK_THAT(e.what(), Contains(part));
    }
}

}  // namespace

TEST_CASE("huginn_raven round trips keep every weight, the split and the options, and a re-export is byte-identical",
          "[io][huginn]") {
    const test::scratch_dir dir("recur_huginn_round");
    SECTION("Llama-derived retrofit") {
        auto m = llama_retrofit();
        save_huginn<B>(dir.path() / "a", m);
        const auto cfg = nlohmann::json::parse(test::file_text(dir.path() / "a/config.json"));
        CHECK(cfg["model_type"] == "huginn_raven");
        CHECK(cfg["n_layers"] == 4);
        CHECK(cfg["n_layers_in_recurrent_block"] == 2);
        CHECK(cfg["rope_scaling"]["rope_type"] == "llama3");
        CHECK(cfg["init_values"]["embed_scale"] == 1.0);
        CHECK(cfg["tie_embeddings"] == false);
        auto back = load_huginn<B>(dir.path() / "a");
        CHECK(back.spec() == m.spec());
        CHECK(back.config.n_layers == 7);
        CHECK(back.options.seed == 17);
        CHECK(back.options.mean_r == 6);
        CHECK(back.options.backprop_depth == 3);
        CHECK(back.options.init_scale == Approx(0.5));
        CHECK(back.config.rope.scaling.has_value());
        save_huginn<B>(dir.path() / "b", back);
        auto again = load_huginn<B>(dir.path() / "b");
        check_same_parameters(back, again);
        CHECK(test::file_text(dir.path() / "a/model.safetensors") == test::file_text(dir.path() / "b/model.safetensors"));
        CHECK(test::file_text(dir.path() / "a/config.json") == test::file_text(dir.path() / "b/config.json"));
    }
    SECTION("OLMo-2 retrofit") {
        auto m = olmo2_retrofit();
        save_huginn<B>(dir.path() / "a", m);
        const safetensors_set files(dir.path() / "a");
        CHECK(files.info("transformer.coda.1.attn.k_norm.weight").shape == Shape{16});
        CHECK_FALSE(files.contains("transformer.coda.1.norm_3.weight"));
        auto back = load_huginn<B, Olmo2Block<B>>(dir.path() / "a");
        CHECK(back.config.block == block_kind::olmo2);
        CHECK(back.config.qk_norm);
        check_same_parameters(m, back);
        save_huginn<B>(dir.path() / "b", back);
        CHECK(test::file_text(dir.path() / "a/model.safetensors") == test::file_text(dir.path() / "b/model.safetensors"));
    }
    SECTION("Huginn-0125 (sandwich, q/k bias, embed scale, tied)") {
        auto m = huginn_0125();
        save_huginn<B>(dir.path() / "a", m, dtype::bf16);
        const safetensors_set files(dir.path() / "a");
        CHECK_FALSE(files.contains("lm_head.weight"));  // tied
        CHECK(files.info("transformer.core_block.0.attn.qk_bias").shape == Shape{2, 1, 4, 8});
        CHECK(files.info("freqs_cis").dims == std::vector<std::int64_t>{1, 16, 1, 4, 2});
        auto back = load_huginn<B, SandwichBlock<B>>(dir.path() / "a");
        CHECK(back.config.embed_scale == Approx(std::sqrt(32.0)));
        CHECK(back.config.block == block_kind::sandwich);
        CHECK(back.config.rope.layout == rope_layout::interleaved);
        CHECK(back.config.qk_bias);
        save_huginn<B>(dir.path() / "b", back, dtype::bf16);
        CHECK(test::file_text(dir.path() / "a/model.safetensors") == test::file_text(dir.path() / "b/model.safetensors"));
        CHECK(test::file_text(dir.path() / "a/config.json") == test::file_text(dir.path() / "b/config.json"));
        // An untied head that has drifted from the embedding is written and read back untied.
        back.lm_head.weight = scale(back.lm_head.weight, 1.5).detach().set_requires_grad();
        save_huginn<B>(dir.path() / "c", back);
        CHECK(safetensors_set(dir.path() / "c").contains("lm_head.weight"));
        auto untied = load_huginn<B, SandwichBlock<B>>(dir.path() / "c");
        CHECK_FALSE(untied.config.tie_embeddings);
        check_same_parameters(back, untied);
    }
}

TEST_CASE("load_model reads recur and huginn_raven directories with the block type they name", "[io][huginn]") {
    const test::scratch_dir dir("recur_huginn_load_model");
    const auto ids = Tensor<B>::from_host(tokens, {1, static_cast<std::int64_t>(tokens.size())});
    auto check_model = [&](auto m, const std::string& name) {
        using M = decltype(m);
        INFO(name);
        m.options.init = state_init::zeros;  // the same s_0 for the saved and the loaded model in every format
        const auto want = [&] {
            no_grad off;
            return m.forward(ids, 3).template to_host<float>();
        }();
        save_recurrent(dir.path() / (name + "_recur"), m);
        if (m.config.block != block_kind::sandwich) save_huginn<B>(dir.path() / (name + "_huginn"), m);
        for (const char* format : {"_recur", "_huginn"}) {
            if (!std::filesystem::exists(dir.path() / (name + format))) continue;
            const auto loaded = load_model<B>(dir.path() / (name + format));
            REQUIRE(std::holds_alternative<M>(loaded.model));
            CHECK(loaded.is_recurrent());
            CHECK(loaded.format == (std::string(format) == "_recur" ? model_format::recur : model_format::huginn));
            no_grad off;
            const auto got = loaded.forward(ids, 3).template to_host<float>();
            CHECK(got == want);
        }
    };
    check_model(llama_retrofit(), "llama");
    check_model(olmo2_retrofit(), "olmo2");
    check_model(huginn_0125(), "sandwich");
    // A Huginn-0125 checkpoint (drawn state) loads as sandwich blocks too.
    save_huginn<B>(dir.path() / "huginn", huginn_0125());
    CHECK(std::holds_alternative<Sandwich>(load_model<B>(dir.path() / "huginn").model));
}

TEST_CASE("the initial state is drawn with init_values.std and scaled by embed_scale", "[io][huginn]") {
    auto m = huginn_0125();
    const Tensor<B> e = Tensor<B>::zeros({4, 16, 32});
    const auto s = m.initial_state(e, 0).template to_host<double>();
    double sum = 0, sq = 0, top = 0;
    for (double x : s) sum += x, sq += x * x, top = std::max(top, std::abs(x));
    const double n = static_cast<double>(s.size()), mean = sum / n, spread = std::sqrt(sq / n - mean * mean);
    const double want = std::sqrt(2.0 / (5.0 * 32)) * std::sqrt(32.0);  // N(0, want) cut at 3 want: 0.986 want
    CHECK(spread == Approx(0.986 * want).epsilon(0.05));
    CHECK(top <= 3 * want + 1e-12);
}

TEST_CASE("huginn_raven checkpoints give the logits of an independent PyTorch forward of the format at r = 1, 4, 8",
          "[io][huginn][peer]") {
    const std::string python = RECUR_PEER_PYTHON;
    if (!test::require_python(python, "torch, numpy", "PyTorch and NumPy (Debian's python3-torch, python3-numpy)")) return;
    const test::scratch_dir dir("recur_huginn_peer");
    const std::vector<std::int64_t> rs{1, 4, 8};
    nlohmann::json jobs = nlohmann::json::array();
    std::vector<std::vector<std::vector<float>>> ours;
    std::vector<std::string> names;
    auto add_job = [&](const std::string& name, const auto& m, dtype type) {
        using M = std::remove_cvref_t<decltype(m)>;
        save_huginn<B>(dir.path() / name, m, type);
        const M loaded = [&] {
            return load_huginn<B, typename std::remove_cvref_t<decltype(m.core)>::block_type>(dir.path() / name);
        }();
        const auto ids = Tensor<B>::from_host(tokens, {1, static_cast<std::int64_t>(tokens.size())});
        // The state as the file stores it (f32), so both sides start from the same values.
        const Tensor<B> drawn = loaded.initial_state(loaded.encode(ids), 3);
        const Tensor<B> s0 = Tensor<B>::from_host(drawn.template to_host<float>(), drawn.shape());
        save_safetensors<B>(dir.path() / (name + "_s0.safetensors"), {{"s0", s0}});
        std::vector<std::vector<float>> per_r;
        for (const auto r : rs) per_r.push_back(logits(loaded, s0, r));
    ours.push_back(per_r);
        names.push_back(name);
        jobs.push_back({{"dir", dir / name}, {"tokens", tokens}, {"state", dir / (name + "_s0.safetensors")}, {"r", rs}});
    };
    add_job("llama_f32_gqa_llama3_untied", llama_retrofit(), dtype::f32);
    add_job("llama_bf16_gqa_llama3_untied", llama_retrofit(), dtype::bf16);
    add_job("olmo2_f32_gqa_qk_norm_untied", olmo2_retrofit(), dtype::f32);
    add_job("huginn_f32_sandwich_qk_bias_scaled_tied", huginn_0125(), dtype::f32);
    add_job("huginn_f16_sandwich_qk_bias_scaled_tied", huginn_0125(), dtype::f16);
    dir.write("jobs.json", jobs.dump());
    REQUIRE(test::run_peer(python, std::string(RECUR_TESTS_DIR) + "/io/peer_huginn.py", {dir / "jobs.json"}, dir, "out.json"));
    const auto theirs = nlohmann::json::parse(test::file_text(dir.path() / "out.json"));
    REQUIRE(theirs.size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        double worst = 0;
        for (std::size_t j = 0; j < rs.size(); ++j) {
            INFO(names[i] << " at r = " << rs[j]);
            std::vector<float> flat;
            for (const auto& row : theirs[i][std::to_string(rs[j])])
                for (const auto& x : row) flat.push_back(x.get<float>());
            REQUIRE(flat.size() == ours[i][j].size());
            double diff = 0;
            for (std::size_t k = 0; k < flat.size(); ++k)
                diff = std::max(diff, std::abs(static_cast<double>(flat[k]) - ours[i][j][k]));
            CHECK(diff < 1e-4);
            worst = std::max(worst, diff);
        }
        std::cout << "ORACLE: huginn_raven vs PyTorch forward of the format, " << names[i] << ": r = 1, 4, 8, "
                  << tokens.size() << " tokens, max |logit difference| " << worst << std::endl;
    }
}

TEST_CASE("bad huginn_raven directories and inexpressible models get errors naming the file and the key or tensor",
          "[io][huginn]") {
    const test::scratch_dir dir("recur_huginn_bad");
    auto llama = llama_retrofit();
    save_huginn<B>(dir.path() / "good", llama);
    const auto good = nlohmann::json::parse(test::file_text(dir.path() / "good/config.json"));
    auto with_config = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
        auto j = good;
        edit(j);
        dir.write(name + "/config.json", j.dump());
        std::filesystem::copy_file(dir.path() / "good/model.safetensors", dir.path() / name / "model.safetensors");
        return dir.path() / name;
    };
    auto expect_config = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit,
                             const std::vector<std::string>& parts) {
        INFO(name);
        const auto d = with_config(name, edit);
        auto all = parts;
        all.push_back(name + "/config.json");
        expect_io([&] { load_huginn<B>(d); }, all);
    };
    expect_config("type", [](auto& j) { j["model_type"] = "llama"; }, {"'model_type'", "'llama'"});
    expect_config("no_type", [](auto& j) { j.erase("model_type"); }, {"'model_type'", "missing"});
    expect_config("layers", [](auto& j) { j["n_layers"] = 5; }, {"'n_layers'", "(5)", "sum"});
    expect_config("no_core", [](auto& j) { j.erase("n_layers_in_recurrent_block"); }, {"'n_layers_in_recurrent_block'", "missing"});
    expect_config("head_dim", [](auto& j) { j["head_dim"] = 4; }, {"'head_dim'", "n_embd / n_heads"});
    expect_config("qk_bias_gqa", [](auto& j) { j["qk_bias"] = true; }, {"'qk_bias'", "num_key_value_heads"});
    expect_config("bias", [](auto& j) { j["bias"] = true; }, {"'bias'", "no biases"});
    expect_config("injection", [](auto& j) { j["injection_type"] = "gate"; }, {"'injection_type'", "'gate'", "'linear'"});
    expect_config("state_mode", [](auto& j) { j["initial_state_mode"] = "skip-adapter"; },
                  {"'initial_state_mode'", "'skip-adapter'"});
    expect_config("block", [](auto& j) { j["block_class_name"] = "PreNormBlock"; }, {"'block_class_name'", "SandwichBlock"});
    expect_config("rope", [](auto& j) { j["rope_scaling"] = {{"rope_type", "yarn"}}; }, {"'rope_scaling.rope_type'", "'yarn'"});
    expect_config("embed_scale", [](auto& j) { j["init_values"]["embed_scale"] = -1.0; }, {"'init_values.embed_scale'"});
    expect_config("wider", [](auto& j) { j["intermediate_size"] = 48; },
                  {"model.safetensors", "'transformer.prelude.0.mlp.fc.weight'", "(80, 32)", "(96, 32)"});
    expect_config("surgery", [](auto& j) { j["recur"]["surgery"]["core"] = {2}; }, {"'recur.surgery'", "n_layers_in_recurrent_block"});
    expect_config("unknown", [](auto& j) { j["recur"]["colour"] = 1; }, {"recur", "colour"});
    expect_config("not_object", [](auto& j) { j = nlohmann::json::array(); }, {"expected an object"});

    // Tensors missing, left over, or of a variant recur does not read.
    named_tensors<B> tensors;
    const safetensors_set src(dir.path() / "good");
    for (const auto& n : src.names())
        if (n != "transformer.coda.0.norm_2.weight") tensors.emplace_back(n, src.tensor<B>(n));
    dir.write("missing/config.json", good.dump());
    save_safetensors<B>(dir.path() / "missing/model.safetensors", tensors);
    expect_io([&] { load_huginn<B>(dir.path() / "missing"); }, {"missing/model.safetensors", "'transformer.coda.0.norm_2.weight'", "missing"});
    tensors.emplace_back("transformer.coda.0.norm_2.weight", src.tensor<B>("transformer.coda.0.norm_2.weight"));
    tensors.emplace_back("transformer.extra.weight", src.tensor<B>("transformer.ln_f.weight"));
    dir.write("extra/config.json", good.dump());
    save_safetensors<B>(dir.path() / "extra/model.safetensors", tensors);
    expect_io([&] { load_huginn<B>(dir.path() / "extra"); }, {"extra/model.safetensors", "'transformer.extra.weight'", "not part"});
    tensors.back() = {"transformer.core_block.0.attn.q_norm.weight", src.tensor<B>("transformer.ln_f.weight")};
    dir.write("olmo/config.json", good.dump());
    save_safetensors<B>(dir.path() / "olmo/model.safetensors", tensors);
    expect_io([&] { load_huginn<B>(dir.path() / "olmo"); }, {"olmo/config.json", "OLMo-2", "Olmo2Block"});
    expect_io([&] { load_huginn<B, Olmo2Block<B>>(dir.path() / "olmo"); },
              {"olmo/model.safetensors", "missing", "'transformer.core_block.0.attn.k_norm.weight'"});

    // A Huginn-0125 checkpoint read as Llama blocks, and the reverse.
    save_huginn<B>(dir.path() / "sandwich", huginn_0125());
    expect_io([&] { load_huginn<B>(dir.path() / "sandwich"); }, {"sandwich/config.json", "Huginn-0125", "SandwichBlock"});
    expect_io([&] { load_huginn<B, SandwichBlock<B>>(dir.path() / "good"); }, {"good/config.json", "Llama-derived", "LlamaBlock"});

    // Models the format cannot express.
    auto additive = llama;
    additive.options.inject = injection::additive;
    CHECK_THROWS_WITH(save_huginn<B>(dir.path() / "x", additive), Contains("adapter"));
    auto v_bias = llama_retrofit();
    v_bias.config.attention_bias = true;
    CHECK_THROWS_WITH(save_huginn<B>(dir.path() / "x", v_bias), Contains("attention_bias"));
    auto gqa_bias = llama_retrofit();
    gqa_bias.config.qk_bias = true;
    CHECK_THROWS_WITH(save_huginn<B>(dir.path() / "x", gqa_bias), Contains("n_kv_heads == n_heads"));
    auto half = huginn_0125();
    half.config.rope.layout = rope_layout::half;
    CHECK_THROWS_WITH(save_huginn<B>(dir.path() / "x", half), Contains("interleaved"));
    CHECK_THROWS_WITH(save_huginn<B>(dir.path() / "x", llama, dtype::f64), Contains("f32, bf16 or f16"));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "x"));
}
