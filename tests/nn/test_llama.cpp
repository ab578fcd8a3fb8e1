// LlamaModel and its modules: Hugging Face parameter names, whole-model finite-difference gradients
// (Llama, sandwich and OLMo-2 blocks, q/k norm, biases, tied head, embed scale), cpu against reference,
// config errors.
// Not here: per-op checks (ops/) and the recurrent model (recurrence/).
#include <catch2/catch.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>

#include "support/compare.hpp"
#include "support/gradcheck.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;

namespace {

model_config tiny_config() { return test::tiny_config(); }

template <class B>
std::pair<Tensor<B>, Tensor<B>> tokens() {
    const std::vector<std::int32_t> ids{1, 5, 2, 9, 3, 3, 7, 0, 10, 4}, targets{5, 2, 9, 3, -100, 7, 0, 10, 4, 6};
    return {Tensor<B>::from_host(ids, {2, 5}), Tensor<B>::from_host(targets, {2, 5})};
}

template <class BlockT>
void check_model_gradients(const model_config& c) {
    using B = reference64;
    LlamaModel<B, BlockT> m(c, 42);
    const auto [ids, targets] = tokens<B>();
    backward(m.loss(ids, targets));
    const auto params = named_parameters<B>(m);
    const auto results = test::finite_difference_check(params, [&] { return m.loss(ids, targets).item(); });
    for (const auto& r : results) {
        INFO(r.name << ": relative error " << r.relative_error);
        CHECK(r.relative_error < 1e-6);
        CHECK(r.numeric_norm > 0);
    }
}

}  // namespace

TEST_CASE("LlamaModel names its parameters like Hugging Face", "[nn]") {
    auto c = tiny_config();
    c.qk_norm = true;
    c.attention_bias = true;
    LlamaModel<reference> m(c, 1);
    const auto params = named_parameters<reference>(m);
    std::vector<std::string> names;
    for (const auto& p : params) names.push_back(p.name);
    CHECK(names.front() == "model.embed_tokens.weight");
    CHECK(names.back() == "lm_head.weight");
    CHECK(std::count(names.begin(), names.end(), "model.layers.1.self_attn.q_proj.weight") == 1);
    CHECK(std::count(names.begin(), names.end(), "model.layers.0.self_attn.k_proj.bias") == 1);
    CHECK(std::count(names.begin(), names.end(), "model.layers.1.self_attn.q_norm.weight") == 1);
    CHECK(std::count(names.begin(), names.end(), "model.layers.0.mlp.down_proj.weight") == 1);
    CHECK(std::count(names.begin(), names.end(), "model.norm.weight") == 1);
    // 11*16 embed + 2 layers * (2 norms 32 + q 16*16+16 + k,v 2*(8*16+8) + o 16*16 + qk norms 16+8 + mlp 3*24*16) + norm 16 + head 11*16
    CHECK(parameter_count<reference>(m) == 176 + 2 * (32 + 272 + 272 + 256 + 24 + 1152) + 16 + 176);

    c.tie_embeddings = true;
    LlamaModel<reference> tied(c, 1);
    CHECK(named_parameters<reference>(tied).back().name == "model.norm.weight");
}

TEST_CASE("rng::for_loading builds a model's shapes without drawing: zeros where a seed draws, the rest the same",
          "[nn]") {
    auto c = tiny_config();
    c.attention_bias = true;
    LlamaModel<reference> seeded(c, 7), same(c, rng(7)), loading(c, rng::for_loading());
    const auto a = named_parameters<reference>(seeded), b = named_parameters<reference>(same),
               z = named_parameters<reference>(loading);
    REQUIRE(a.size() == z.size());
    REQUIRE(a.size() == b.size());
    std::size_t drawn = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].name);
        CHECK(z[i].name == a[i].name);
        CHECK(z[i].tensor->shape() == a[i].tensor->shape());
        CHECK(b[i].tensor->to_host<float>() == a[i].tensor->to_host<float>());  // the seed overload is rng(seed)
        const auto values = a[i].tensor->to_host<float>(), zeros = z[i].tensor->to_host<float>();
        const bool random = std::any_of(values.begin(), values.end(), [](float v) { return v != 0.0f && v != 1.0f; });
        if (random) {
            ++drawn;
            CHECK(std::all_of(zeros.begin(), zeros.end(), [](float v) { return v == 0.0f; }));
        } else {
            CHECK(zeros == values);  // norms' ones and zero biases are not drawn
        }
    }
    CHECK(drawn >= 2 + 2 * 7);  // embedding, head, and each layer's projections
    rng g = rng::for_loading();
    CHECK_FALSE(g.draws());
    CHECK(rng(3).draws());
}

TEST_CASE("a tiny LlamaModel's gradients match finite differences in double", "[nn][gradcheck]") {
    check_model_gradients<LlamaBlock<reference64>>(tiny_config());
}

TEST_CASE("sandwich blocks, q/k norm, biases and a tied head pass the same check", "[nn][gradcheck]") {
    auto c = tiny_config();
    c.qk_norm = true;
    c.attention_bias = true;
    c.tie_embeddings = true;
    c.rope.layout = rope_layout::interleaved;
    check_model_gradients<SandwichBlock<reference64>>(c);
}

TEST_CASE("OLMo-2 blocks (norms on the sublayer outputs, q/k norms), q/k-only biases and an embed scale pass it too",
          "[nn][gradcheck]") {
    auto c = tiny_config();
    c.block = block_kind::olmo2;
    c.qk_norm = true;
    c.qk_bias = true;
    c.embed_scale = 2.5;
    check_model_gradients<Olmo2Block<reference64>>(c);
}

TEST_CASE("an OLMo-2 block computes x += n2(attn(x)), then x += n4(mlp(x)), from the modules it names", "[nn]") {
    using B = reference64;
    auto c = tiny_config();
    c.block = block_kind::olmo2;
    c.qk_norm = true;
    rng gen(4);
    const auto rope = std::make_shared<const rope_table<B>>(c.rope, c.resolved_head_dim(), c.max_seq_len);
    Olmo2Block<B> b(c, rope, gen);
    b.norms[1].weight = randn<B>({c.d_model}, gen, 1.0, 0.3);
    b.norms[3].weight = randn<B>({c.d_model}, gen, 1.0, 0.3);
    CHECK_FALSE(b.norms[0].weight.defined());
    CHECK_FALSE(b.norms[2].weight.defined());
    const Tensor<B> x = randn<B>({2, 5, c.d_model}, gen, 0.0, 1.0);
    const Tensor<B> h = add(x, b.norms[1].forward(b.self_attn.forward(x)));
    const Tensor<B> want = add(h, b.norms[3].forward(b.mlp.forward(h)));
    CHECK(b.forward(x).to_host<double>() == want.to_host<double>());
    std::vector<std::string> names;
    for (const auto& p : named_parameters<B>(b)) names.push_back(p.name);
    CHECK(names == std::vector<std::string>{"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                            "self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
                                            "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                                            "mlp.down_proj.weight", "post_feedforward_layernorm.weight"});
}

TEST_CASE("cpu and reference give the same LlamaModel loss and gradients", "[nn][cpu]") {
    auto c = tiny_config();
    c.init_std = 0.1;
    LlamaModel<reference> ref(c, 3);
    LlamaModel<cpu> fast(c, 3);  // same seed: identical initial weights
    const auto [ir, tr] = tokens<reference>();
    const auto [ic, tc] = tokens<cpu>();
    const auto lr = ref.loss(ir, tr);
    const auto lc = fast.loss(ic, tc);
    CHECK(lc.item() == Approx(lr.item()).epsilon(1e-5));
    backward(lr);
    backward(lc);
    test::check_same_gradients<reference, cpu>(ref, fast, 1e-4);
}

TEST_CASE("inconsistent model configs are rejected by name", "[nn][errors]") {
    auto c = tiny_config();
    c.n_kv_heads = 3;
    CHECK_THROWS_WITH(LlamaModel<reference>(c, 1), Contains("n_kv_heads 3") && Contains("n_heads 2"));
    c = tiny_config();
    c.d_model = 15;
    CHECK_THROWS_WITH(c.validate(), Contains("d_model 15") && Contains("n_heads 2"));
    c = tiny_config();
    c.vocab_size = 0;
    CHECK_THROWS_WITH(c.validate(), Contains("vocab_size"));
    LlamaModel<reference> m(tiny_config(), 1);
    CHECK_THROWS_WITH(m.forward(Tensor<reference>::zeros({5}, dtype::i32)), Contains("(B, T)"));
    CHECK_THROWS_WITH(m.forward(Tensor<reference>::zeros({1, 9}, dtype::i32)), Contains("positions [0, 9)"));
}
