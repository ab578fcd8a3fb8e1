// Optimizer state files: saving after N steps and loading into a fresh optimizer over a reloaded
// model resumes bit-exactly (all three optimizers, reference and cpu); files for another model,
// optimizer or grouping, and truncated or corrupt files, throw io_error and change nothing.
// Not here: the safetensors format itself (tests/io/test_safetensors.cpp).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/io/safetensors.hpp>
#include <recur/optim/clip.hpp>
#include <recur/optim/muon_adamw.hpp>

#include "optim/helpers.hpp"
#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;

namespace {

std::string file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream os;
    os << f.rdbuf();
    return os.str();
}

template <class B>
std::vector<named_parameter<B>> matrices_only(std::vector<named_parameter<B>> params) {
    std::erase_if(params, [](const auto& p) { return default_param_group(p.name, p.tensor->dim()) != param_group::muon; });
    return params;
}

/// One training step: forward, backward, clip, step (lr multiplier varying with the step), zero_grad.
template <class B, class O>
void train(Recurrent<B>& m, O& opt, const std::vector<named_parameter<B>>& params, int steps) {
    for (int i = 0; i < steps; ++i) {
        test::forward_backward(m);
        clip_grad_norm(params, 1.0);
        opt.step(1.0 / (1.0 + 0.1 * static_cast<double>(opt.steps())));
        opt.zero_grad();
    }
}

template <class B>
std::vector<std::vector<std::uint64_t>> parameter_bits(Recurrent<B>& m) {
    std::vector<std::vector<std::uint64_t>> out;
    for (const auto& p : named_parameters<B>(m)) out.push_back(test::bits(p.tensor->template to_host<typename B::scalar>()));
    return out;
}

/// Trains 3 + 4 steps straight, and 3 steps, save, reload model and optimizer state into fresh
/// objects, 4 more steps; the parameters must agree bit for bit.
template <class B, class O, class Select>
void check_resume(const test::scratch_dir& dir, const std::string& tag, Select select) {
    INFO(B::name << " " << tag);
    muon_options mo;
    mo.lr = 0.02;
    adamw_options ao;
    ao.lr = 0.01;
    auto make = [&](std::vector<named_parameter<B>> params) {
        if constexpr (std::is_same_v<O, adamw<B>>) return O(std::move(params), ao);
        else if constexpr (std::is_same_v<O, muon<B>>) return O(std::move(params), mo);
        else return O(std::move(params), muon_adamw_options{mo, ao, {}});
    };

    auto straight = test::tiny_model<B>(11);
    const auto straight_params = select(named_parameters<B>(straight));
    O straight_opt = make(straight_params);
    train(straight, straight_opt, straight_params, 7);

    const std::string weights = dir / (tag + "_model.safetensors"), state = dir / (tag + "_state.safetensors");
    {
        auto first = test::tiny_model<B>(11);
        const auto params = select(named_parameters<B>(first));
        O opt = make(params);
        train(first, opt, params, 3);
        save_parameters<B>(weights, first);
        opt.save_state(state);
    }
    auto resumed = test::tiny_model<B>(99);  // other values until loaded
    load_parameters<B>(resumed, safetensors_set(weights));
    const auto params = select(named_parameters<B>(resumed));
    O opt = make(params);
    opt.load_state(state);
    CHECK(opt.steps() == 3);
    train(resumed, opt, params, 4);
    CHECK(opt.steps() == 7);
    CHECK(parameter_bits(resumed) == parameter_bits(straight));
}

}  // namespace

TEST_CASE("save_state after N steps, load_state into a fresh optimizer: bit-exact resume", "[optim][state]") {
    const test::scratch_dir dir("recur_optim_resume");
    const auto all = [](auto params) { return params; };
    const auto matrices = [](auto params) { return matrices_only(std::move(params)); };
    check_resume<reference, muon_adamw<reference>>(dir, "muon_adamw", all);
    check_resume<reference, adamw<reference>>(dir, "adamw", all);
    check_resume<reference, muon<reference>>(dir, "muon", matrices);
    check_resume<cpu, muon_adamw<cpu>>(dir, "cpu_muon_adamw", all);
    check_resume<cpu, adamw<cpu>>(dir, "cpu_adamw", all);
    check_resume<cpu, muon<cpu>>(dir, "cpu_muon", matrices);
}

TEST_CASE("the state file holds torch-named tensors, the step count and the options", "[optim][state]") {
    const test::scratch_dir dir("recur_optim_state_file");
    auto m = test::tiny_model<reference>(1);
    const auto params = named_parameters<reference>(m);
    muon_adamw<reference> opt(params);
    test::forward_backward(m);
    opt.step();
    opt.step();
    opt.save_state(dir / "state.safetensors");
    const safetensors_file f(dir / "state.safetensors");
    CHECK(f.metadata().at("optimizer") == "muon_adamw");
    CHECK(f.metadata().at("steps") == "2");
    CHECK(f.metadata().at("muon.lr") == "0.001");
    CHECK(f.metadata().at("adamw.lr") == "5e-05");
    CHECK(f.metadata().at("muon.scale") == "spectral");
    CHECK(f.contains("model.core.1.self_attn.q_proj.weight.momentum_buffer"));
    CHECK(f.contains("model.embed_tokens.weight.exp_avg"));
    CHECK(f.contains("model.embed_tokens.weight.exp_avg_sq"));
    CHECK(f.info("model.adapter.weight.momentum_buffer").shape == m.adapter.weight.shape());
    CHECK(f.names().size() == opt.muon_group().parameters().size() + 2 * opt.adamw_group().parameters().size());
}

TEST_CASE("load_state rejects files for another model, optimizer or grouping, and corrupt files", "[optim][state]") {
    const test::scratch_dir dir("recur_optim_bad_state");
    auto m = test::tiny_model<reference>(1);
    const auto params = named_parameters<reference>(m);
    muon_adamw<reference> opt(params);
    test::forward_backward(m);
    opt.step();
    const std::string good = dir / "good.safetensors";
    opt.save_state(good);
    const std::string before = file_bytes(good);

    // Different files, each failing for its own reason.
    model_config wider = test::tiny_optim_config();
    wider.ffn_dim = 16;
    Recurrent<reference> other(wider, 1, 1, 1, recurrence_options{}, 1);
    muon_adamw<reference>(named_parameters<reference>(other)).save_state(dir / "other_model.safetensors");
    Recurrent<reference> deeper(test::tiny_optim_config(), 1, 2, 1, recurrence_options{}, 1);
    muon_adamw<reference>(named_parameters<reference>(deeper)).save_state(dir / "deeper_model.safetensors");
    adamw<reference>(params).save_state(dir / "adamw.safetensors");
    muon_adamw_options regrouped;
    regrouped.rules = {{std::regex("adapter"), param_group::adamw}};
    muon_adamw<reference>(params, regrouped).save_state(dir / "regrouped.safetensors");
    const std::string bytes = file_bytes(good);
    const std::string truncated = dir.write("truncated.safetensors", bytes.substr(0, bytes.size() - 5));
    const std::string garbage = dir.write("garbage.safetensors", "not a safetensors file at all");
    std::string flipped = bytes;  // a header length far beyond the file
    flipped[5] = '\x7f';
    dir.write("bad_header.safetensors", flipped);
    named_tensors<reference> bad_steps_tensors;
    const safetensors_file good_file(good);
    for (const auto& name : good_file.names()) bad_steps_tensors.emplace_back(name, good_file.tensor<reference>(name));
    save_safetensors<reference>(dir / "bad_steps.safetensors", bad_steps_tensors, dtype::f32,
                                {{"optimizer", "muon_adamw"}, {"steps", "-2"}});
    save_safetensors<reference>(dir / "f64.safetensors", bad_steps_tensors, dtype::f64,
                                {{"optimizer", "muon_adamw"}, {"steps", "1"}});
    save_safetensors<reference>(dir / "no_metadata.safetensors", bad_steps_tensors, dtype::f32);
    named_tensors<reference> extra = bad_steps_tensors;
    extra.emplace_back("model.extra.weight.exp_avg", Tensor<reference>::zeros({2}));
    save_safetensors<reference>(dir / "extra.safetensors", extra, dtype::f32, {{"optimizer", "muon_adamw"}, {"steps", "1"}});

    const std::vector<std::pair<std::string, std::string>> cases{
        {"other_model.safetensors", "has shape"},
        {"deeper_model.safetensors", "'model.coda.2.self_attn.q_proj.weight.momentum_buffer' is missing"},
        {"extra.safetensors", "'model.extra.weight.exp_avg' belongs to no parameter"},
        {"adamw.safetensors", "'adamw' optimizer"},
        {"regrouped.safetensors", "'model.adapter.weight.momentum_buffer' is missing"},
        {"truncated.safetensors", "truncated.safetensors"},
        {"garbage.safetensors", "garbage.safetensors"},
        {"bad_header.safetensors", "header length"},
        {"bad_steps.safetensors", "'steps'"},
        {"f64.safetensors", "compute dtype"},
        {"no_metadata.safetensors", "not an optimizer state file"},
        {"missing.safetensors", "cannot open"},
    };
    for (const auto& [file, message] : cases) {
        INFO(file);
        CHECK_THROWS_AS(opt.load_state(dir / file), io_error);
        CHECK_THROWS_WITH(opt.load_state(dir / file), Contains(file) && Contains(message));
        CHECK(opt.steps() == 1);
        opt.save_state(dir / "after.safetensors");
        CHECK(file_bytes(dir / "after.safetensors") == before);
    }
    // The tensor is named where the model differs.
    CHECK_THROWS_WITH(opt.load_state(dir / "other_model.safetensors"), Contains("mlp.gate_proj.weight"));
}

TEST_CASE("steps allocate nothing new once the pool is warm", "[optim][state]") {
    auto run = [](auto backend) {
        using B = decltype(backend);
        auto m = test::tiny_model<B>(3);
        const auto params = named_parameters<B>(m);
        muon_adamw<B> opt(params);
        test::forward_backward(m);
        clip_grad_norm(params, 1e-3);
        opt.step();
        opt.step();
        const std::size_t warm = storage_pool<B>::instance().stats().fresh_allocations;
        for (int i = 0; i < 3; ++i) {
            clip_grad_norm(params, 1e-3);
            opt.step();
        }
        INFO(B::name);
        CHECK(storage_pool<B>::instance().stats().fresh_allocations == warm);
    };
    run(reference{});
    run(cpu{});
}
