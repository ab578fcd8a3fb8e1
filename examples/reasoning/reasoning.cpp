// The reasoning demo (issue 7, item 1): does retrofitted recurrence buy depth on a task that needs it?
// The task (chain_task.hpp): chains of dependent assignments mod 10 such as
//     <s> q=4; x=q+7; c=x*3; h=c-9; ?h  ->  3
// whose difficulty is the number of dependent steps: a fixed-depth model runs out of layers, a
// recurrent one can loop. Every ';' is also trained to predict the value just assigned (a target,
// never an input: no intermediate step is written into the context).
//
// Pipeline (all from scratch, no data files):
//   1. pretrain a small non-recurrent LlamaModel on difficulties 1..train_max (packed rows);
//   2. retrofit it (prelude / recurrent core / coda, passthrough adapter) and train with the 1-sqrt
//      curriculum over r_bar, truncated backprop, Poisson-lognormal (n, k) and Muon + AdamW;
//   3. controls at equal training FLOPs: the same recurrent shape from random init (same plan), and
//      the pretrained model trained further (as many steps as reach the same FLOPs);
//   4. exact-match accuracy per difficulty 1..test_max (beyond training) at test r in {1,2,4,...,32}.
// Writes results.json, accuracy_vs_r.tsv, accuracy_vs_difficulty.tsv and curves.tsv to --out.
// Not here: plotting (scripts/demo.sh runs gnuplot), the library pieces (include/recur).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/recurrence/recurrent.hpp>
#include <recur/train/flops.hpp>
#include <recur/train/trainer.hpp>

#include "demos/report.hpp"
#include "reasoning/chain_task.hpp"

namespace {

using B = recur::cpu;
using json = nlohmann::ordered_json;
using namespace reasoning;

/// Exact-match accuracy per difficulty, one row per logits tensor that `logits_of(ids)` returns for
/// (N, T) ids (one per test r of a recurrent model): right when the argmax after "?v" is the answer.
template <class Logits>
std::vector<std::vector<double>> accuracy(const std::vector<std::vector<problem>>& tests, Logits&& logits_of) {
    recur::no_grad off;
    std::vector<std::vector<double>> acc;
    for (std::size_t d = 0; d < tests.size(); ++d) {
        const auto& group = tests[d];
        const std::int64_t n = static_cast<std::int64_t>(group.size()), t = problem::length(group[0].steps) - 1;
        std::vector<std::int32_t> ids;
        ids.reserve(static_cast<std::size_t>(n * t));
        for (const auto& p : group) ids.insert(ids.end(), p.ids.begin(), p.ids.end() - 1);
        const std::vector<recur::Tensor<B>> all = logits_of(recur::Tensor<B>::from_host(ids, {n, t}));
        acc.resize(all.size(), std::vector<double>(tests.size()));
        for (std::size_t k = 0; k < all.size(); ++k) {
            const auto last = all[k].slice(1, t - 1, 1).template to_host<float>();  // (n, 1, V)
            std::int64_t right = 0;
            for (std::int64_t i = 0; i < n; ++i) {
                const float* row = last.data() + i * vocab::size;
                right += std::max_element(row, row + vocab::size) - row == vocab::digit + group[static_cast<std::size_t>(i)].answer;
            }
            acc[k][d] = static_cast<double>(right) / static_cast<double>(n);
        }
    }
    return acc;
}

// ---------------------------------------------------------------------------------------------
// Training

struct settings {
    std::string out = "results/reasoning";
    std::uint64_t seed = 1;
    int train_max = 6, test_max = 12, test_count = 100;
    std::int64_t d_model = 128, layers = 4, ffn = 384, heads = 4;
    std::int64_t batch = 32, seq = 96;
    std::int64_t pretrain_steps = 500, retrofit_steps = 250;
    std::int64_t r_max = 8, s_max = 4;
    double muon_lr = 0.02, adamw_lr = 3e-3;
    std::string split = "1/2/1";
    std::vector<std::int64_t> r = {1, 2, 4, 8, 16, 32};
    bool dense = true;
    bool quick = false;
};

json to_json(const settings& s) {
    return {{"seed", s.seed},           {"train_difficulties", {1, s.train_max}}, {"test_difficulties", {1, s.test_max}},
            {"test_problems_per_difficulty", s.test_count},
            {"model", {{"d_model", s.d_model}, {"layers", s.layers}, {"ffn_dim", s.ffn}, {"heads", s.heads}, {"vocab", vocab::size}}},
            {"batch", s.batch},         {"seq", s.seq},
            {"pretrain_steps", s.pretrain_steps}, {"retrofit_steps", s.retrofit_steps},
            {"curriculum", {{"kind", "1-sqrt"}, {"warmup_fraction", 0.75}, {"r_max", s.r_max}}},
            {"backprop_depth", s.s_max},  {"optimizer", {{"kind", "muon_adamw"}, {"muon_lr", s.muon_lr}, {"adamw_lr", s.adamw_lr}}},
            {"split", s.split},         {"test_r", s.r}};
}

recur::train_config train_plan(const settings& s, std::int64_t steps, bool recurrent) {
    recur::train_config c;
    c.steps = steps;
    c.batch = s.batch;
    c.seq = s.seq;
    c.clip = 1.0;
    c.lr.kind = recur::lr_kind::warmup_stable_decay;
    c.lr.decay_fraction = 0.2;
    c.seed = s.seed;
    c.log_every = std::max<std::int64_t>(1, steps / 10);
    if (recurrent) {
        c.curriculum.kind = recur::ramp_kind::one_minus_sqrt;
        c.curriculum.warmup_fraction = 0.75;
        c.curriculum.max = s.r_max;
        c.backprop.max = s.s_max;
    }
    return c;
}

/// Trains `model` on difficulties 1..train_max with Muon + AdamW for plan.steps steps; returns the curve.
template <class Model>
demo::curve train(Model& model, const settings& s, const recur::train_config& plan, std::uint64_t data_seed,
                  const std::string& name) {
    std::cout << "\n== " << name << ": " << plan.steps << " steps ==" << std::endl;
    chain_stream data(data_seed, 1, s.train_max, s.dense);
    recur::muon_adamw_options o;
    o.muon.lr = s.muon_lr;
    o.adamw.lr = s.adamw_lr;
    recur::muon_adamw<B> opt(recur::named_parameters<B>(model), o);
    recur::trainer<B, Model, chain_stream, recur::muon_adamw<B>> t(model, data, opt, plan);
    demo::curve c{name, {}};
    while (t.step_index() < plan.steps) c.add(t.step());
    return c;
}

// ---------------------------------------------------------------------------------------------

struct model_result {
    std::string name;
    double pretraining_flops = 0, training_flops = 0;
    std::int64_t steps = 0;
    std::vector<std::vector<double>> accuracy;  // [r][difficulty]; one row for a non-recurrent model
};

double mean_of(const std::vector<double>& v, int lo, int hi) {  // difficulties lo..hi (1-based)
    double sum = 0;
    for (int d = lo; d <= hi; ++d) sum += v[static_cast<std::size_t>(d - 1)];
    return sum / (hi - lo + 1);
}

int run(settings s) {
    if (s.quick) {
        s.pretrain_steps = 4;
        s.retrofit_steps = 3;
        s.test_count = 8;
        s.test_max = 3;
        s.train_max = 2;
        s.d_model = 32;
        s.ffn = 64;
        s.batch = 4;
        s.seq = 32;
        s.r = {1, 2};
    }
    recur::check(s.train_max >= 1 && s.test_max >= s.train_max && s.test_max <= 25, "need 1 <= --train-max <= --test-max <= 25");
    const auto split = [&] {
        std::vector<std::int64_t> parts;
        std::size_t at = 0;
        while (at <= s.split.size()) {
            const auto slash = s.split.find('/', at);
            const std::string item = s.split.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
            recur::check(!item.empty() && item.size() <= 3 && item.find_first_not_of("0123456789") == std::string::npos,
                         "--split '", s.split, "' is not P/C/Q layer counts (like 1/2/1)");
            parts.push_back(std::stoll(item));
            if (slash == std::string::npos) break;
            at = slash + 1;
        }
        recur::check(parts.size() == 3 && parts[1] >= 1 && parts[0] + parts[1] + parts[2] == s.layers, "--split '",
                     s.split, "' must be three counts P/C/Q with C >= 1 summing to --layers ", s.layers);
        return recur::surgery_spec::contiguous(parts[0], parts[1], parts[2]);
    }();
    demo::stopwatch clock;
    std::filesystem::create_directories(s.out);

    recur::model_config mc;
    mc.vocab_size = vocab::size;
    mc.d_model = s.d_model;
    mc.n_heads = s.heads;
    mc.n_kv_heads = s.heads;
    mc.ffn_dim = s.ffn;
    mc.n_layers = s.layers;
    mc.max_seq_len = std::max<std::int64_t>(s.seq, problem::length(s.test_max));

    recur::rng example_gen(s.seed);
    const problem example = make_problem(example_gen, 3);
    std::cout << "task: " << render({example.ids.begin(), example.ids.end() - 1}) << "  -> " << example.answer
              << "   (difficulty 3: three dependent steps)\n"
              << "train on difficulties 1.." << s.train_max << ", test on 1.." << s.test_max << std::endl;
    const auto tests = test_set(recur::keyed::mix(s.seed, 7), s.test_max, s.test_count);

    // 1. Pretrain the non-recurrent model.
    recur::LlamaModel<B> base(mc, s.seed);
    const auto pre_curve = train(base, s, train_plan(s, s.pretrain_steps, false), s.seed, "pretrain (non-recurrent)");
    const double pre_flops = pre_curve.steps.back().flops;
    clock.lap("pretrain");
    std::vector<model_result> results;
    auto flat = [&](const recur::LlamaModel<B>& m) {  // a non-recurrent model: one row
        return accuracy(tests, [&](const auto& ids) { return std::vector{m.forward(ids)}; });
    };
    results.push_back({"pretrained (non-recurrent)", pre_flops, 0, 0, flat(base)});

    // 2. Retrofit and train with the curriculum.
    recur::recurrence_options ro;
    ro.adapter = recur::adapter_init::passthrough;
    ro.seed = s.seed;
    auto retro = recur::retrofit(base, split, ro, s.seed);
    const auto plan = train_plan(s, s.retrofit_steps, true);
    const auto retro_curve = train(retro, s, plan, recur::keyed::mix(s.seed, 1), "retrofit (recurrent, pretrained init)");
    const double budget = retro_curve.steps.back().flops;
    clock.lap("retrofit");

    // 3a. The same recurrent shape from random init, same plan and data.
    ro.adapter = recur::adapter_init::random;
    recur::Recurrent<B> scratch(mc, split, ro, s.seed + 100);
    const auto scratch_curve = train(scratch, s, plan, recur::keyed::mix(s.seed, 1), "recurrent from random init");
    clock.lap("random_init");

    // 3b. The pretrained model trained further for the same FLOPs.
    const double per_step = recur::training_flops_per_token<B>(base) * static_cast<double>(s.batch * s.seq);
    const auto more_steps = static_cast<std::int64_t>(std::ceil(budget / per_step));
    const auto more_curve = train(base, s, train_plan(s, more_steps, false), recur::keyed::mix(s.seed, 1),
                                  "non-recurrent trained further");
    clock.lap("trained_further");

    auto at_r = [&](const recur::Recurrent<B>& m) {  // every test r from one pass of max(r) iterations
        return accuracy(tests, [&](const auto& ids) { return m.forward_at(ids, s.r); });
    };
    std::cout << "\nevaluating " << s.test_count << " problems per difficulty..." << std::endl;
    results.push_back({"retrofit (recurrent)", pre_flops, budget, s.retrofit_steps, at_r(retro)});
    results.push_back({"recurrent from random init", 0, scratch_curve.steps.back().flops, s.retrofit_steps, at_r(scratch)});
    results.push_back({"non-recurrent trained further", pre_flops, more_curve.steps.back().flops, more_steps, flat(base)});
    clock.lap("evaluation");

    // Tables: mean accuracy on trained and on harder difficulties, per model and r; then per difficulty.
    auto percent = [](double v) { return demo::fixed(100 * v, 1); };
    std::vector<std::string> header{"model", "train FLOPs"};
    for (const auto r : s.r) header.push_back("r=" + std::to_string(r));
    std::vector<std::vector<std::string>> seen, unseen;
    for (const auto& m : results) {
        std::vector<std::string> a{m.name, demo::flops(m.training_flops)}, b = a;
        for (std::size_t i = 0; i < s.r.size(); ++i) {
            const auto& row = m.accuracy[std::min(i, m.accuracy.size() - 1)];
            a.push_back(percent(mean_of(row, 1, s.train_max)));
            b.push_back(s.test_max > s.train_max ? percent(mean_of(row, s.train_max + 1, s.test_max)) : "-");
        }
        seen.push_back(a);
        unseen.push_back(b);
    }
    std::cout << "\nexact-match accuracy (%), difficulties 1.." << s.train_max << " (trained):\n" << demo::table(header, seen);
    if (s.test_max > s.train_max)
        std::cout << "\nexact-match accuracy (%), difficulties " << s.train_max + 1 << ".." << s.test_max
                  << " (harder than any trained):\n" << demo::table(header, unseen);
    std::vector<std::string> dheader{"model @ r"};
    for (int d = 1; d <= s.test_max; ++d) dheader.push_back("d" + std::to_string(d));
    std::vector<std::vector<std::string>> per_difficulty;
    for (const auto& m : results)
        for (std::size_t i = 0; i < m.accuracy.size(); ++i) {
            std::vector<std::string> row{m.name + (m.accuracy.size() > 1 ? " @ r=" + std::to_string(s.r[i]) : "")};
            for (const double v : m.accuracy[i]) row.push_back(percent(v));
            per_difficulty.push_back(row);
        }
    std::cout << "\naccuracy (%) per difficulty (chance 10):\n" << demo::table(dheader, per_difficulty);

    // Files.
    json models = json::array();
    std::vector<demo::series> vs_r, vs_difficulty;
    for (const auto& m : results) {
        json acc = json::array();
        demo::series all{m.name, {}, {}};
        for (std::size_t i = 0; i < s.r.size(); ++i) {
            const auto& row = m.accuracy[std::min(i, m.accuracy.size() - 1)];
            acc.push_back({{"r", s.r[i]}, {"accuracy", row}, {"mean_trained", mean_of(row, 1, s.train_max)},
                           {"mean_harder", s.test_max > s.train_max ? mean_of(row, s.train_max + 1, s.test_max) : NAN},
                           {"mean_all", mean_of(row, 1, s.test_max)}});
            all.x.push_back(static_cast<double>(s.r[i]));
            all.y.push_back(mean_of(row, 1, s.test_max));
        }
        vs_r.push_back(all);
        if (m.accuracy.size() > 1)
            for (std::size_t i = 0; i < s.r.size(); ++i) {
                demo::series d{m.name + " @ r=" + std::to_string(s.r[i]), {}, m.accuracy[i]};
                for (int k = 1; k <= s.test_max; ++k) d.x.push_back(k);
                if (m.name.rfind("retrofit", 0) == 0) vs_difficulty.push_back(d);
            }
        models.push_back({{"name", m.name},
                          {"recurrent", m.accuracy.size() > 1},
                          {"pretraining_flops", m.pretraining_flops},
                          {"training_flops", m.training_flops},
                          {"total_flops", m.pretraining_flops + m.training_flops},
                          {"steps", m.steps},
                          {"results", acc}});
    }
    json curves = json::array();
    for (const auto* c : {&pre_curve, &retro_curve, &scratch_curve, &more_curve}) curves.push_back(c->to_json());
    const double seconds = clock.total();
    const std::filesystem::path out(s.out);
    demo::write_json(out / "results.json", {{"demo", "reasoning"},
                                             {"run", demo::run_info()},
                                             {"seconds", seconds},
                                             {"phase_seconds", clock.laps},
                                             {"config", to_json(s)},
                                             {"difficulties", [&] {
                                                  std::vector<int> d;
                                                  for (int k = 1; k <= s.test_max; ++k) d.push_back(k);
                                                  return d;
                                              }()},
                                             {"metric", "exact-match accuracy of the answer token (argmax), chance 0.1"},
                                             {"flops_formula", "6 x (prelude + coda + head + k x (core + adapter)) + 2 x n x (core + adapter) params per token; non-recurrent: 6 x (layers + head)"},
                                             {"models", models},
                                             {"curves", curves}});
    demo::write_series_tsv(out / "accuracy_vs_r.tsv", vs_r);
    demo::write_series_tsv(out / "accuracy_vs_difficulty.tsv", vs_difficulty);
    // Training curves against cumulative FLOPs: the retrofit and the further training continue
    // where pretraining stopped; the random-init model starts from zero.
    demo::write_series_tsv(out / "curves.tsv", {pre_curve.smoothed(), retro_curve.smoothed(10, pre_flops),
                                                scratch_curve.smoothed(), more_curve.smoothed(10, pre_flops)});
    std::cout << "reasoning: done in " << demo::fixed(seconds, 0) << " s" << std::endl;
    for (const auto& m : results)
        for (const auto& row : m.accuracy)
            for (const double v : row)
                if (!std::isfinite(v)) return 1;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"recur demo: retrofitted recurrence on a synthetic multi-step reasoning task"};
    settings s;
    app.add_option("--out", s.out, "results folder")->capture_default_str();
    app.add_option("--seed", s.seed, "seed of models, data and tests")->capture_default_str();
    app.add_option("--train-max", s.train_max, "hardest difficulty in training")->capture_default_str()->check(CLI::Range(1, 25));
    app.add_option("--test-max", s.test_max, "hardest difficulty tested")->capture_default_str()->check(CLI::Range(1, 25));
    app.add_option("--test-count", s.test_count, "test problems per difficulty")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--d-model", s.d_model, "width")->capture_default_str()->check(CLI::Range(8, 4096));
    app.add_option("--layers", s.layers, "layers of the pretrained model")->capture_default_str()->check(CLI::Range(1, 64));
    app.add_option("--batch", s.batch, "rows per step")->capture_default_str()->check(CLI::Range(1, 4096));
    app.add_option("--seq", s.seq, "tokens per row")->capture_default_str()->check(CLI::Range(16, 4096));
    app.add_option("--pretrain-steps", s.pretrain_steps, "steps of pretraining")->capture_default_str()->check(CLI::Range(1, 10000000));
    app.add_option("--retrofit-steps", s.retrofit_steps, "steps of recurrent training")->capture_default_str()->check(CLI::Range(1, 10000000));
    app.add_option("--r-max", s.r_max, "curriculum's final mean recurrence")->capture_default_str()->check(CLI::Range(1, 1024));
    app.add_option("--backprop", s.s_max, "iterations with gradient (s)")->capture_default_str()->check(CLI::Range(1, 1024));
    app.add_option("--muon-lr", s.muon_lr, "Muon learning rate")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--adamw-lr", s.adamw_lr, "AdamW learning rate")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--split", s.split, "prelude/core/coda layer counts")->capture_default_str();
    app.add_option("--r", s.r, "test recurrences")->capture_default_str()->delimiter(',');
    app.add_flag("!--answer-only", s.dense, "train on the answer tokens only (default: every ';' also predicts its value)");
    app.add_flag("--quick", s.quick, "a tiny run (smoke test)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        std::sort(s.r.begin(), s.r.end());
        s.r.erase(std::unique(s.r.begin(), s.r.end()), s.r.end());
        for (const auto r : s.r) recur::check(r >= 1, "--r values must be >= 1, got ", r);
        return run(s);
    } catch (const std::exception& e) {
        std::cerr << "reasoning: " << e.what() << std::endl;
        return 1;
    }
}
