// The trainer end to end on the cpu backend: a tiny recurrent model learns to copy (exact match
// >= 95 %), OLMo-2 and sandwich blocks train and resume too, resume from a checkpoint is bit-exact,
// a non-finite step stops the run naming the tensor (or is skipped, when asked), a corrupt checkpoint
// is refused, a run folder has one owner, a stop flag ends a run between steps. Not here: optimizers,
// schedules, data, processes (tests/cli).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>

#include <recur/backends/cpu.hpp>
#include <recur/optim/adamw.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/train/trainer.hpp>

#include "support/scratch_dir.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;

namespace {
using B = cpu;

/// Copying: BOS a_1..a_L SEP a_1..a_L with digits a_i in [3, 3 + digits); the loss covers the copy
/// only. Row i of the stream is a pure function of (seed, i); the cursor is (seed, rows drawn).
struct copy_task {
    std::int64_t length = 6, digits = 10;
    std::uint64_t seed = 1;
    std::int64_t drawn = 0;
    std::int32_t filler_id = -1;  // >= 0: the last row of every batch is this id throughout, with no loss

    std::int64_t seq() const { return 2 * length + 1; }  // inputs: BOS, L digits, SEP, L - 1 digits... (2L + 1)
    struct batch_t {
        std::vector<std::int32_t> ids, targets;
    };
    batch_t next(std::int64_t, std::int64_t batch, std::int64_t seq_len) {
        REQUIRE(seq_len == seq());
        batch_t b;
        for (std::int64_t row = 0; row < batch; ++row) {
            rng gen(seed * 1000003 + static_cast<std::uint64_t>(drawn++));
            std::vector<std::int32_t> digits_of(static_cast<std::size_t>(length));
            for (auto& d : digits_of) d = static_cast<std::int32_t>(3 + gen.next() % static_cast<std::uint64_t>(digits));
            std::vector<std::int32_t> full{1};
            full.insert(full.end(), digits_of.begin(), digits_of.end());
            full.push_back(2);
            full.insert(full.end(), digits_of.begin(), digits_of.end());  // 2L + 2 tokens
            for (std::int64_t t = 0; t < seq_len; ++t) {
                b.ids.push_back(full[static_cast<std::size_t>(t)]);
                b.targets.push_back(t >= length ? full[static_cast<std::size_t>(t + 1)] : -100);
            }
            if (filler_id >= 0 && row == batch - 1)
                for (std::int64_t t = 0; t < seq_len; ++t) {
                    b.ids[static_cast<std::size_t>(row * seq_len + t)] = filler_id;
                    b.targets[static_cast<std::size_t>(row * seq_len + t)] = -100;
                }
        }
        return b;
    }
    nlohmann::json cursor() const { return {{"seed", seed}, {"drawn", drawn}}; }
    void restore(const nlohmann::json& j) {
        seed = j.at("seed").get<std::uint64_t>();
        drawn = j.at("drawn").get<std::int64_t>();
    }
};

model_config tiny_config() {
    model_config c;
    c.vocab_size = 16, c.d_model = 64, c.n_heads = 4, c.n_kv_heads = 2, c.ffn_dim = 128, c.max_seq_len = 32;
    c.n_layers = 3;
    return c;
}

recurrence_options zero_state() {
    recurrence_options o;
    o.init = state_init::zeros;
    return o;
}

train_config tiny_run(std::int64_t steps, const std::string& out_dir = "") {
    train_config t;
    t.steps = steps;
    t.batch = 32;
    t.seq = copy_task{}.seq();
    t.lr.warmup_fraction = 0.05;
    t.curriculum.max = 2;
    t.curriculum.warmup_fraction = 0.25;
    t.backprop.max = 2;
    t.out_dir = out_dir;
    t.checkpoint_every = 0;
    t.log_every = 50;
    return t;
}

muon_adamw_options fast_lr() {
    muon_adamw_options o;
    o.muon.lr = 0.02;
    o.adamw.lr = 3e-3;
    o.muon.weight_decay = o.adamw.weight_decay = 0;
    return o;
}

/// Exact match of the copied digits under greedy decoding. With teacher forcing, every copied
/// position's argmax right is the same as a greedy decode being right (by induction over positions).
double copy_accuracy(const Recurrent<B>& m, std::int64_t r, std::int64_t rows) {
    copy_task task{.seed = 777};
    const auto b = task.next(0, rows, task.seq());
    no_grad off;
    const auto logits = m.forward(Tensor<B>::from_host(b.ids, {rows, task.seq()}), r).to_host<float>();
    const auto V = m.config.vocab_size;
    std::int64_t exact = 0;
    for (std::int64_t row = 0; row < rows; ++row) {
        bool ok = true;
        for (std::int64_t t = 0; t < task.seq(); ++t) {
            const auto target = b.targets[static_cast<std::size_t>(row * task.seq() + t)];
            if (target < 0) continue;
            const float* l = logits.data() + (row * task.seq() + t) * V;
            ok = ok && std::max_element(l, l + V) - l == target;
        }
        exact += ok;
    }
    return static_cast<double>(exact) / static_cast<double>(rows);
}

template <class Model>
std::vector<std::uint32_t> parameter_bits(Model& m) {
    std::vector<std::uint32_t> bits;
    m.visit_parameters("", [&](const std::string&, Tensor<B>& t) {
        for (const float x : t.to_host<float>()) {
            std::uint32_t u;
            std::memcpy(&u, &x, 4);
            bits.push_back(u);
        }
    });
    return bits;
}
}  // namespace

TEST_CASE("a tiny recurrent model trained from scratch learns to copy", "[train][learning]") {
    Recurrent<B> model(tiny_config(), 1, 1, 1, zero_state(), 3);
    copy_task data;
    muon_adamw<B> opt(named_parameters<B>(model), fast_lr());
    std::ostringstream log;
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> t(model, data, opt, tiny_run(150), log);
    const double before = copy_accuracy(model, 2, 256);
    t.run();
    const double after = copy_accuracy(model, 2, 256);
    INFO(log.str());
    CHECK(before < 0.05);
    CHECK(after >= 0.95);
    CHECK(t.tokens_seen() == 150 * 32 * copy_task{}.seq());
    CHECK(t.flops_spent() > 0);
}

TEST_CASE("a non-recurrent model trains without a curriculum and counts its FLOPs", "[train]") {
    LlamaModel<B> model(tiny_config(), 5);
    copy_task data;
    muon_adamw<B> opt(named_parameters<B>(model), fast_lr());
    std::ostringstream log;
    auto run = tiny_run(3);
    run.curriculum.max = 4;  // ignored: a LlamaModel has no recurrence
    trainer<B, LlamaModel<B>, copy_task, muon_adamw<B>> t(model, data, opt, run, log);
    for (int i = 0; i < 3; ++i) {
        const auto m = t.step();
        CHECK(m.mean_r == 1);
        CHECK(m.n == 0);
        CHECK(m.k == 1);
    }
    const double tokens = 3.0 * 32 * static_cast<double>(copy_task{}.seq());
    CHECK(t.flops_spent() == Approx(training_flops_per_token<B>(model) * tokens).epsilon(1e-12));
}

TEST_CASE("FLOPs per token: 6 per parameter recorded, 2 without gradient or at inference, counted by hand", "[train]") {
    Recurrent<B> model(tiny_config(), 1, 2, 1, recurrence_options{}, 3);
    const auto params = [](auto& part) { return static_cast<double>(parameter_count<B>(part)); };
    const double per_iteration = params(model.core) + static_cast<double>(model.adapter.weight.numel());
    const double once = params(model.prelude) + params(model.coda) + static_cast<double>(model.lm_head.weight.numel());
    CHECK(training_flops_per_token<B>(model, {3, 2}) == Approx(6 * (once + 2 * per_iteration) + 2 * 3 * per_iteration));
    CHECK(forward_flops_per_token<B>(model, 5) == Approx(2 * (once + 5 * per_iteration)));
    CHECK(forward_flops_per_token<B>(model, 5) == Approx(training_flops_per_token<B>(model, {0, 5}) / 3));
}

TEST_CASE("resuming from a checkpoint continues bit-exactly", "[train][resume]") {
    const test::scratch_dir dir("recur_test_trainer_resume");
    auto make = [] {
        return Recurrent<B>(tiny_config(), 1, 1, 1, recurrence_options{}, 5);  // truncated-normal state noise
    };
    std::ostringstream log;

    Recurrent<B> straight = make();
    copy_task d1;
    muon_adamw<B> o1(named_parameters<B>(straight), fast_lr());
    auto cfg = tiny_run(20, (dir.path() / "a").string());
    cfg.micro_batches = 2;
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>>(straight, d1, o1, cfg, log).run();

    cfg.out_dir = (dir.path() / "b").string();
    {
        Recurrent<B> first = make();
        copy_task d2;
        muon_adamw<B> o2(named_parameters<B>(first), fast_lr());
        trainer<B, Recurrent<B>, copy_task, muon_adamw<B>>(first, d2, o2, cfg, log).run(10);
    }
    Recurrent<B> resumed(tiny_config(), 1, 1, 1, recurrence_options{}, 99);  // other init: all comes from the checkpoint
    copy_task d3{.seed = 4242};                                              // the cursor restores the seed
    muon_adamw<B> o3(named_parameters<B>(resumed), fast_lr());
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> t3(resumed, d3, o3, cfg, log);
    t3.resume(cfg.out_dir);
    CHECK(t3.step_index() == 10);
    t3.run();
    CHECK(t3.step_index() == 20);
    CHECK(parameter_bits(resumed) == parameter_bits(straight));

    // metrics.jsonl of the resumed run has each step once.
    std::ifstream metrics(dir.path() / "b" / "metrics.jsonl");
    std::int64_t lines = 0, last = 0;
    for (std::string line; std::getline(metrics, line); ++lines) last = nlohmann::json::parse(line)["step"];
    CHECK(lines == 20);
    CHECK(last == 20);
}

TEST_CASE("OLMo-2 and sandwich recurrent models train (loss falls by a third) and resume bit-exactly", "[train][resume]") {
    // The trainer, Muon's split of parameters (q_norm, k_norm and the extra norms go to AdamW) and
    // the checkpoint's names for every block kind, not only Llama's.
    test::for_olmo2_and_sandwich<B>(tiny_config(), 2.0, [&]<class BlockT>(const model_config& c, const char* what) {
        INFO(what);
        using M = RecurrentOf<B, BlockT>;
        const test::scratch_dir dir("recur_test_trainer_blocks");
        std::ostringstream log;
        auto cfg = tiny_run(32, (dir.path() / "a").string());
        cfg.batch = 16;
        M straight(c, 1, 1, 1, zero_state(), 5);
        copy_task d1;
        muon_adamw<B> o1(named_parameters<B>(straight), fast_lr());
        trainer<B, M, copy_task, muon_adamw<B>> t1(straight, d1, o1, cfg, log);
        const double first = t1.step().loss;
        double last = 0;
        while (t1.step_index() < cfg.steps) last = t1.step().loss;
        CHECK(last < 2.0 / 3.0 * first);  // 2.77 -> 0.58 (OLMo-2) and 2.78 -> 1.44 (sandwich) today

        cfg.out_dir = (dir.path() / "b").string();
        {
            M part(c, 1, 1, 1, zero_state(), 5);
            copy_task d2;
            muon_adamw<B> o2(named_parameters<B>(part), fast_lr());
            trainer<B, M, copy_task, muon_adamw<B>>(part, d2, o2, cfg, log).run(16);
        }
        M resumed(c, 1, 1, 1, zero_state(), 77);
        copy_task d3;
        muon_adamw<B> o3(named_parameters<B>(resumed), fast_lr());
        trainer<B, M, copy_task, muon_adamw<B>> t3(resumed, d3, o3, cfg, log);
        t3.resume(cfg.out_dir);
        t3.run();
        CHECK(parameter_bits(resumed) == parameter_bits(straight));
    });
}

TEST_CASE("a corrupt or mismatched checkpoint is refused and nothing is overwritten", "[train][resume][errors]") {
    const test::scratch_dir dir("recur_test_trainer_corrupt");
    Recurrent<B> model(tiny_config(), 1, 1, 1, zero_state(), 5);
    copy_task data;
    muon_adamw<B> opt(named_parameters<B>(model), fast_lr());
    std::ostringstream log;
    auto cfg = tiny_run(4, dir.path().string());
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>>(model, data, opt, cfg, log).run(2);
    const auto ckpt = *latest_checkpoint(dir.path());
    auto fresh = [&](const train_config& c) {
        static Recurrent<B> m(tiny_config(), 1, 1, 1, zero_state(), 6);
        static copy_task d;
        static muon_adamw<B> o(named_parameters<B>(m), fast_lr());
        return trainer<B, Recurrent<B>, copy_task, muon_adamw<B>>(m, d, o, c, log);
    };
    auto different = cfg;
    different.batch = 16;
    CHECK_THROWS_WITH(fresh(different).resume(dir.path()), Contains("train.batch") && Contains("trainer_state.json"));

    const auto weights = ckpt / "model.safetensors";
    std::filesystem::resize_file(weights, std::filesystem::file_size(weights) - 100);
    const auto size = std::filesystem::file_size(weights);
    CHECK_THROWS_AS(fresh(cfg).resume(dir.path()), io_error);
    CHECK_THROWS_WITH(fresh(cfg).resume(dir.path()), Contains("model.safetensors"));
    CHECK(std::filesystem::file_size(weights) == size);

    std::ofstream(ckpt / "trainer_state.json") << "{\"step\": 2,";
    CHECK_THROWS_WITH(fresh(cfg).resume(dir.path()), Contains("trainer_state.json") && Contains("not valid JSON"));
    CHECK_THROWS_WITH(fresh(cfg).resume(dir.path() / "nothing"), Contains("nothing"));
}

namespace {
/// A model whose down_proj holds a NaN: its loss is NaN.
Recurrent<B> nan_weight_model() {
    Recurrent<B> model(tiny_config(), 1, 1, 1, zero_state(), 5);
    auto& weight = model.core.blocks[0].mlp.down_proj.weight;
    auto w = weight.to_host<float>();
    w[0] = std::numeric_limits<float>::quiet_NaN();
    weight = Tensor<B>::from_host(w, weight.shape()).set_requires_grad();
    return model;
}
}  // namespace

TEST_CASE("a non-finite loss stops the run by default, naming the step, and keeps the last checkpoint",
          "[train][errors]") {
    const test::scratch_dir dir("recur_test_trainer_nan_stop");
    Recurrent<B> model = nan_weight_model();
    const auto before = model.core.blocks[0].mlp.down_proj.weight.to_host<float>();
    copy_task data;
    muon_adamw<B> opt(named_parameters<B>(model), fast_lr());
    std::ostringstream log;
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> t(model, data, opt, tiny_run(10, dir.path().string()), log);
    t.save_checkpoint();
    CHECK_THROWS_WITH(t.run(), Contains("step 1:") && Contains("the loss is") && Contains("step-00000000") &&
                                   Contains("train.nonfinite"));
    CHECK(t.step_index() == 0);
    CHECK(*latest_checkpoint(dir.path()) == dir.path() / "step-00000000");  // no checkpoint of the bad state
    CHECK(model.core.blocks[0].mlp.down_proj.weight.to_host<float>()[1] == before[1]);
}

TEST_CASE("a non-finite gradient under a finite loss stops the run naming the parameter", "[train][errors]") {
    // Token 15 only fills a row of its own that carries no loss: a NaN in its embedding row poisons no
    // counted loss, but backward multiplies that row's zero gradients by its NaN activations.
    Recurrent<B> model(tiny_config(), 1, 1, 1, zero_state(), 5);
    auto& embed = model.embed_tokens.weight;
    auto e = embed.to_host<float>();
    e[static_cast<std::size_t>(15 * tiny_config().d_model)] = std::numeric_limits<float>::quiet_NaN();
    embed = Tensor<B>::from_host(e, embed.shape()).set_requires_grad();
    copy_task data{.filler_id = 15};
    muon_adamw<B> opt(named_parameters<B>(model), fast_lr());
    std::ostringstream log;
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> t(model, data, opt, tiny_run(10), log);
    CHECK_THROWS_WITH(t.step(), Contains("step 1:") && Contains("the gradient of '") && Contains("is not finite") &&
                                    !Contains("the loss is"));
}

TEST_CASE("with nonfinite skip, non-finite steps are skipped with a warning, and too many in a row stop the run",
          "[train][errors]") {
    Recurrent<B> model = nan_weight_model();
    const auto w = model.core.blocks[0].mlp.down_proj.weight.to_host<float>();
    copy_task data;
    muon_adamw<B> opt(named_parameters<B>(model), fast_lr());
    std::ostringstream log;
    auto cfg = tiny_run(10);
    cfg.nonfinite = nonfinite_policy::skip;
    cfg.max_nonfinite = 3;
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> t(model, data, opt, cfg, log);
    CHECK(t.step().skipped);
    CHECK(t.step().skipped);
    CHECK_THROWS_WITH(t.step(), Contains("3 steps in a row") && Contains("non-finite"));
    CHECK_THAT(log.str(), Contains("warning: step 1 skipped"));
    // The skipped steps changed nothing but the NaN weight's neighbours stay as they were.
    CHECK(model.core.blocks[0].mlp.down_proj.weight.to_host<float>()[1] == w[1]);
}

TEST_CASE("a run folder has one trainer at a time, the lock goes with it", "[train][lock]") {
    const test::scratch_dir dir("recur_test_trainer_lock");
    Recurrent<B> m1(tiny_config(), 1, 1, 1, zero_state(), 5), m2(tiny_config(), 1, 1, 1, zero_state(), 5);
    copy_task d1, d2;
    muon_adamw<B> o1(named_parameters<B>(m1), fast_lr()), o2(named_parameters<B>(m2), fast_lr());
    std::ostringstream log;
    const auto cfg = tiny_run(4, dir.path().string());
    {
        trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> owner(m1, d1, o1, cfg, log);
        using second = trainer<B, Recurrent<B>, copy_task, muon_adamw<B>>;
        CHECK_THROWS_WITH(second(m2, d2, o2, cfg, log), Contains(dir.path().string()) && Contains("in use") &&
                                                            Contains("pid " + std::to_string(::getpid())));
    }
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> next(m2, d2, o2, cfg, log);  // the owner is gone
    CHECK(next.step_index() == 0);
}

TEST_CASE("a stop flag ends run() after the step under way, with a checkpoint", "[train][stop]") {
    const test::scratch_dir dir("recur_test_trainer_stop");
    Recurrent<B> model(tiny_config(), 1, 1, 1, zero_state(), 5);
    copy_task data;
    muon_adamw<B> opt(named_parameters<B>(model), fast_lr());
    std::ostringstream log;
    trainer<B, Recurrent<B>, copy_task, muon_adamw<B>> t(model, data, opt, tiny_run(10, dir.path().string()), log);
    CHECK(t.run(3) == run_end::paused);
    std::atomic<bool> stop{true};
    CHECK(t.run(0, &stop) == run_end::requested);
    CHECK(t.step_index() == 3);
    CHECK(*latest_checkpoint(dir.path()) == dir.path() / "step-00000003");
    stop = false;
    CHECK(t.run(0, &stop) == run_end::done);
    CHECK(t.step_index() == 10);
}

TEST_CASE("train_config JSON names unknown keys and wrong types", "[train][config][errors]") {
    const auto c = train_config_from_json({{"steps", 100}, {"curriculum", {{"kind", "1-sqrt"}, {"r_max", 8}}}});
    CHECK(c.steps == 100);
    CHECK(c.curriculum.max == 8);
    CHECK(train_config_from_json(to_json(c)).curriculum.kind == c.curriculum.kind);
    CHECK_THROWS_WITH(train_config_from_json({{"step", 100}}), Contains("'step'"));
    CHECK_THROWS_WITH(train_config_from_json({{"steps", "100"}}), Contains("'steps'"));
    CHECK_THROWS_WITH(train_config_from_json({{"batch", 0}}), Contains("'batch'"));
    CHECK_THROWS_WITH(train_config_from_json({{"split", "random"}}), Contains("'split'") && Contains("random"));
    CHECK(train_config_from_json(nlohmann::json::object()).nonfinite == nonfinite_policy::stop);
    CHECK(train_config_from_json({{"nonfinite", "skip"}}).nonfinite == nonfinite_policy::skip);
    CHECK_THROWS_WITH(train_config_from_json({{"nonfinite", "ignore"}}), Contains("'nonfinite'") && Contains("ignore"));
    CHECK_THROWS_WITH(train_config_from_json({{"curriculum", {{"r_maxx", 8}}}}), Contains("'r_maxx'"));
}

TEST_CASE("train_config's field table drives its JSON and its help text", "[train][config]") {
    // Every key written is a key read, and the help lists each with its default.
    const auto j = to_json(train_config{});
    CHECK(j.size() == std::tuple_size_v<std::remove_const_t<decltype(train_config_fields)>>);
    CHECK(to_json(train_config_from_json(j)) == j);
    const std::string help = train_config_help();
    for (const auto& [key, value] : j.items()) CHECK_THAT(help, Contains("  " + key + " ("));
    CHECK_THAT(help, Contains("steps (integer, default 1000)"));
    CHECK_THAT(help, Contains("split (\"poisson_lognormal\" | \"fixed\", default \"poisson_lognormal\")"));
    CHECK_THAT(help, Contains("\n    r_max (integer, default 4)"));
    CHECK_THAT(help, Contains("\n    s_max (integer, default 8)"));
    CHECK_THAT(help, Contains("\n    min_ratio (number, default 0.001)"));
    CHECK_THROWS_WITH(train_config_from_json({{"keep_checkpoints", -1}}),
                      Contains("train: recur::train_config: 'keep_checkpoints' must be >= 0, got -1"));
    CHECK_THROWS_WITH(train_config_from_json({{"steps", 2.5}}), Contains("'steps' must be an integer"));
}
