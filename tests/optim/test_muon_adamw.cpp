// muon_adamw: the grouping of docs/method.md section 7 on a real Recurrent model's names, ordered
// pattern overrides, a Muon override of a 1-D parameter throwing, and a few steps lowering the loss
// of a tiny model.
// Not here: the update rules by hand (test_muon.cpp, test_adamw.cpp), state files (test_state.cpp).
#include <catch2/catch.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/optim/clip.hpp>
#include <recur/optim/muon_adamw.hpp>

#include "optim/helpers.hpp"

using namespace recur;
using Catch::Contains;

static_assert(Optimizer<adamw<reference>> && Optimizer<muon<reference>> && Optimizer<muon_adamw<reference>>);
static_assert(Optimizer<adamw<cpu>> && Optimizer<muon<cpu>> && Optimizer<muon_adamw<cpu>>);

TEST_CASE("muon_adamw groups a Recurrent model as docs/method.md section 7 says", "[optim][muon_adamw]") {
    auto m = test::tiny_model<reference>(1);
    const auto params = named_parameters<reference>(m);
    const muon_adamw<reference> opt(params);
    const auto muon_names = {"model.prelude.0.self_attn.q_proj.weight", "model.core.1.self_attn.o_proj.weight",
                             "model.coda.2.mlp.down_proj.weight", "model.adapter.weight", "model.core.1.mlp.gate_proj.weight"};
    const auto adamw_names = {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                              "model.core.1.input_layernorm.weight", "model.prelude.0.post_attention_layernorm.weight",
                              "model.core.1.self_attn.q_proj.bias", "model.coda.2.self_attn.v_proj.bias"};
    for (const auto* name : muon_names) {
        INFO(name);
        CHECK(opt.group_of(name) == param_group::muon);
    }
    for (const auto* name : adamw_names) {
        INFO(name);
        CHECK(opt.group_of(name) == param_group::adamw);
    }
    // Every parameter is in exactly one group, and the rule holds for all of them.
    CHECK(opt.muon_group().parameters().size() + opt.adamw_group().parameters().size() == params.size());
    for (const auto& p : params) {
        INFO(p.name);
        const bool table = p.name.find("embed_tokens") != std::string::npos || p.name.find("lm_head") != std::string::npos;
        CHECK((opt.group_of(p.name) == param_group::muon) == (p.tensor->dim() == 2 && !table));
    }
    CHECK_THROWS_WITH(opt.group_of("model.nothing.weight"), Contains("'model.nothing.weight'"));
    CHECK(opt.muon_group().options().lr == 1e-3);
    CHECK(opt.adamw_group().options().lr == 5e-5);
    CHECK(opt.muon_group().options().weight_decay == 1e-4);
    CHECK(opt.adamw_group().options().weight_decay == 1e-4);
}

TEST_CASE("muon_adamw pattern overrides: the first matching rule wins", "[optim][muon_adamw]") {
    auto m = test::tiny_model<reference>(1);
    muon_adamw_options o;
    o.rules = {{std::regex("q_proj"), param_group::adamw},
               {std::regex("self_attn\\.[a-z_]+\\.weight$"), param_group::muon},
               {std::regex("^model\\.adapter\\."), param_group::adamw},
               {std::regex("lm_head"), param_group::muon}};
    const muon_adamw<reference> opt(named_parameters<reference>(m), o);
    CHECK(opt.group_of("model.core.1.self_attn.q_proj.weight") == param_group::adamw);
    CHECK(opt.group_of("model.core.1.self_attn.k_proj.weight") == param_group::muon);
    CHECK(opt.group_of("model.adapter.weight") == param_group::adamw);
    CHECK(opt.group_of("lm_head.weight") == param_group::muon);
    CHECK(opt.group_of("model.core.1.mlp.up_proj.weight") == param_group::muon);  // no rule: the default

    muon_adamw_options bad;
    bad.rules = {{std::regex("self_attn"), param_group::muon}};  // matches the q/k/v biases too
    CHECK_THROWS_WITH(muon_adamw<reference>(named_parameters<reference>(m), bad),
                      Contains("self_attn.q_proj.bias") && Contains("2-D"));
}

TEST_CASE("muon_adamw with clipping lowers the loss of a tiny model", "[optim][muon_adamw]") {
    auto m = test::tiny_model<cpu>(5);
    const auto params = named_parameters<cpu>(m);
    muon_adamw_options o;
    o.muon.lr = 0.02;
    o.adamw.lr = 0.01;
    muon_adamw<cpu> opt(params, o);
    const double first = test::forward_backward(m);
    double last = first;
    for (int step = 0; step < 30; ++step) {
        if (step > 0) last = test::forward_backward(m);
        const double norm = clip_grad_norm(params, 1.0);
        REQUIRE(std::isfinite(norm));
        opt.step();
        opt.zero_grad();
    }
    INFO("loss " << first << " -> " << last);
    CHECK(last < 0.5 * first);
    CHECK(opt.steps() == 30);
    CHECK(opt.muon_group().steps() == 30);
}
