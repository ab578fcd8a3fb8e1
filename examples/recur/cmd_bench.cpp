// `recur bench`: tokens/s of a recurrent model on the cpu backend, one JSON line.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/io/config_json.hpp>

#include "commands.hpp"

namespace {

using B = recur::cpu;

struct bench_model {
    recur::model_config config;
    std::int64_t prelude = 2, core = 2, coda = 2, batch = 8, seq = 256;
};

/// "S", "M", or a JSON file {"model": {model_config keys}, "layers": [P, R, C]}.
bench_model named_model(const std::string& name) {
    bench_model m;
    m.config.n_heads = 8;
    m.config.n_kv_heads = 4;
    if (name == "S") {
        m.config.vocab_size = 4096, m.config.d_model = 256, m.config.ffn_dim = 704;
    } else if (name == "M") {
        m.config.vocab_size = 8192, m.config.d_model = 512, m.config.ffn_dim = 1408;
        m.core = 4, m.batch = 4;
    } else {
        std::ifstream f(name);
        recur::check(f.good(), "recur bench: --model-config '", name, "' is neither S, M nor a readable file");
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(f);
        } catch (const nlohmann::json::parse_error& e) {
            recur::fail("recur bench: '", name, "' is not valid JSON: ", e.what());
        }
        recur::check(j.is_object() && j.contains("model") && j.contains("layers") && j["layers"].is_array() &&
                         j["layers"].size() == 3,
                     "recur bench: '", name, "' must hold {\"model\": {...}, \"layers\": [P, R, C]}");
        m.config = recur::model_config_from_json(j["model"], name);
        m.prelude = j["layers"][0].get<std::int64_t>();
        m.core = j["layers"][1].get<std::int64_t>();
        m.coda = j["layers"][2].get<std::int64_t>();
    }
    return m;
}

int bench(const std::string& model_name, const std::string& mode, std::int64_t r, std::int64_t k, std::int64_t batch,
          std::int64_t seq, double min_seconds) {
    bench_model spec = named_model(model_name);
    if (batch > 0) spec.batch = batch;
    if (seq > 0) spec.seq = seq;
    spec.config.max_seq_len = std::max(spec.config.max_seq_len, spec.seq);
    recur::check(r >= 1 && k >= 0 && k <= r, "recur bench: need r >= 1 and 0 <= k <= r, got r ", r, ", k ", k);
    recur::Recurrent<B> model(spec.config, spec.prelude, spec.core, spec.coda, recur::recurrence_options{}, 1);
    recur::rng gen(2);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(spec.batch * spec.seq)), targets(ids.size());
    for (auto& x : ids) x = static_cast<std::int32_t>(gen.next() % static_cast<std::uint64_t>(spec.config.vocab_size));
    for (auto& x : targets) x = static_cast<std::int32_t>(gen.next() % static_cast<std::uint64_t>(spec.config.vocab_size));
    const auto ti = recur::Tensor<B>::from_host(ids, {spec.batch, spec.seq});
    const auto tt = recur::Tensor<B>::from_host(targets, {spec.batch, spec.seq});
    const recur::iteration_split split{r - k, k};
    std::uint64_t step = 0;
    auto run = [&] {
        if (mode == "train") {
            recur::backward(model.loss(ti, tt, split, step++));
            recur::zero_grad<B>(model);
        } else {
            const recur::no_grad off;
            model.forward(ti, r);
        }
    };
    using clock = std::chrono::steady_clock;
    run();  // warm-up: primitives, pool, gradient buffers
    std::int64_t steps = 0;
    const auto start = clock::now();
    double elapsed = 0;
    do {
        run();
        ++steps;
        elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < min_seconds);
    const double tokens_per_s = static_cast<double>(steps * spec.batch * spec.seq) / elapsed;
    const nlohmann::json out{{"model", model_name}, {"mode", mode}, {"r", r}, {"k", mode == "train" ? k : 0},
                             {"batch", spec.batch}, {"seq", spec.seq}, {"steps", steps},
                             {"seconds_per_step", elapsed / static_cast<double>(steps)}, {"tokens_per_s", tokens_per_s},
                             {"parameters", recur::parameter_count<B>(model)}};
    std::cout << out.dump() << std::endl;
    return 0;
}

}  // namespace

namespace recur_cli {

command add_bench(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("bench", "tokens/s of a recurrent model on the cpu backend (one JSON line)");
    struct options {
        std::string model = "S", mode = "train";
        std::int64_t r = 4, k = -1, batch = 0, seq = 0;
        double min_seconds = 3.0;
    };
    auto o = std::make_shared<options>();
    cmd->add_option("--model-config", o->model, "S, M, or a JSON file {\"model\": {...}, \"layers\": [P, R, C]}");
    cmd->add_option("--mode", o->mode, "train (forward + backward) or fwd (inference)")
        ->check(CLI::IsMember({"train", "fwd"}));
    cmd->add_option("--r", o->r, "recurrence iterations")->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    cmd->add_option("--k", o->k, "iterations with gradient (default: r)");
    cmd->add_option("--batch", o->batch, "batch size (default: the model's)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--seq", o->seq, "sequence length (default: the model's)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--min-seconds", o->min_seconds, "measure for at least this long")->check(CLI::PositiveNumber);
    return {cmd, [o] { return bench(o->model, o->mode, o->r, o->k < 0 ? o->r : o->k, o->batch, o->seq, o->min_seconds); }};
}

}  // namespace recur_cli
