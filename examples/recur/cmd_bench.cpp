// `recur bench`: tokens/s of a recurrent model on the cpu backend (training step with the optimizer,
// inference forward, or KV-cached decoding), model FLOPs and peak RSS, one JSON line.
// Not here: the PyTorch side (benchmarks/peer_torch_*.py).
//
// Model FLOPs per token (train/flops.hpp, plus attention):
//   train: 6 x (P_prelude + P_coda + P_head + k x (P_core + P_adapter)) + 2 x n x (P_core + P_adapter)
//          + attention: 3 x A x (prelude + coda + k x core layers) + A x n x core layers
//   fwd:   2 x (P_prelude + P_coda + P_head + r x (P_core + P_adapter)) + A x (prelude + coda + r x core layers)
//   A = 4 x n_heads x head_dim x (T + 1) / 2, one layer's causal attention forward per token (q k^T and
//   p v, 2 FLOPs per multiply-add, (T + 1) / 2 keys on average).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/infer/decoder.hpp>
#include <recur/io/config_json.hpp>
#include <recur/io/json_text.hpp>
#include <recur/io/load_model.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/train/flops.hpp>

#include "commands.hpp"
#include "options.hpp"

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
                         j["layers"].size() == 3 &&
                         std::all_of(j["layers"].begin(), j["layers"].end(), [](const auto& v) { return v.is_number_integer(); }),
                     "recur bench: '", name, "' must hold {\"model\": {...}, \"layers\": [P, R, C]}");
        m.config = recur::model_config_from_json(j["model"], name);
        m.prelude = j["layers"][0].get<std::int64_t>();
        m.core = j["layers"][1].get<std::int64_t>();
        m.coda = j["layers"][2].get<std::int64_t>();
    }
    return m;
}

/// Peak resident set size of this process so far, MiB.
double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

/// Model FLOPs per token of a training step at `split` (train) or a forward at r = split.n + split.k
/// (fwd), by the formula at the top of this file.
double model_flops_per_token(recur::Recurrent<B>& m, recur::iteration_split split, std::int64_t seq, bool train) {
    const recur::model_config& c = m.config;
    const double attention = 4.0 * static_cast<double>(c.n_heads * c.resolved_head_dim()) * static_cast<double>(seq + 1) / 2.0;
    const auto once = static_cast<double>(m.prelude.blocks.size() + m.coda.blocks.size());
    const auto core = static_cast<double>(m.core.blocks.size());
    const auto n = static_cast<double>(split.n), k = static_cast<double>(split.k);
    if (train) return recur::training_flops_per_token<B>(m, split) + attention * (3.0 * (once + k * core) + n * core);
    return recur::forward_flops_per_token<B>(m, split.n + split.k) + attention * (once + (n + k) * core);
}

int bench(const std::string& model_name, const std::string& mode, std::int64_t r, std::int64_t k, std::int64_t batch,
          std::int64_t seq, double min_seconds, bool optimizer_step, std::optional<recur::matmul_precision> ns_precision) {
    bench_model spec = named_model(model_name);
    if (batch > 0) spec.batch = batch;
    if (seq > 0) spec.seq = seq;
    spec.config.max_seq_len = std::max(spec.config.max_seq_len, spec.seq);
    recur_cli::usage_check(r >= 1 && k >= 0 && k <= r, "recur bench: need r >= 1 and 0 <= k <= r, got r ", r, ", k ", k);
    recur::Recurrent<B> model(spec.config, spec.prelude, spec.core, spec.coda, recur::recurrence_options{}, 1);
    recur::rng gen(2);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(spec.batch * spec.seq)), targets(ids.size());
    for (auto& x : ids) x = static_cast<std::int32_t>(gen.next() % static_cast<std::uint64_t>(spec.config.vocab_size));
    for (auto& x : targets) x = static_cast<std::int32_t>(gen.next() % static_cast<std::uint64_t>(spec.config.vocab_size));
    const auto ti = recur::Tensor<B>::from_host(ids, {spec.batch, spec.seq});
    const auto tt = recur::Tensor<B>::from_host(targets, {spec.batch, spec.seq});
    const recur::iteration_split split{r - k, k};
    std::uint64_t step = 0;
    std::unique_ptr<recur::muon_adamw<B>> opt;
    recur::muon_adamw_options opt_options;
    opt_options.muon.ns_precision = ns_precision;
    if (mode == "train" && optimizer_step)
        opt = std::make_unique<recur::muon_adamw<B>>(recur::named_parameters<B>(model), opt_options);
    auto run = [&] {
        if (mode == "train") {
            recur::backward(model.loss(ti, tt, split, step++));
            if (opt) {
                opt->step(1e-3);  // a tiny multiplier: the weights stay near their start over many steps
                opt->zero_grad();
            } else {
                recur::zero_grad<B>(model);
            }
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
    const double flops = model_flops_per_token(model, mode == "train" ? split : recur::iteration_split{0, r}, spec.seq,
                                               mode == "train");
    const nlohmann::json out{{"model", model_name},
                             {"mode", mode},
                             {"r", r},
                             {"k", mode == "train" ? k : 0},
                             {"optimizer", mode == "train" ? (opt ? "muon_adamw" : "none") : "-"},
                             {"precision", recur::matmul_precision_name(recur::get_matmul_precision())},
                             {"ns_precision", opt ? recur::matmul_precision_name(ns_precision.value_or(recur::get_matmul_precision())) : "-"},
                             {"batch", spec.batch},
                             {"seq", spec.seq},
                             {"steps", steps},
                             {"seconds_per_step", elapsed / static_cast<double>(steps)},
                             {"tokens_per_s", tokens_per_s},
                             {"model_flops_per_token", flops},
                             {"model_gflops", flops * tokens_per_s / 1e9},
                             {"peak_rss_mib", peak_rss_mib()},
                             {"parameters", recur::parameter_count<B>(model)}};
    std::cout << recur::json_text(out) << std::endl;
    return 0;
}

/// What `--mode decode` measures: `batch` rows, each prefilled with `prompt_tokens` random tokens, then
/// `new_tokens` greedy decode steps at depth r against a KV cache shared across iterations by `cache`.
struct decode_request {
    std::int64_t r = 4, batch = 1, prompt_tokens = 16, new_tokens = 128;
    std::string cache = "full";
    double min_seconds = 3.0;
};

/// A model to decode with, its name in the JSON, and what was done to it.
struct decode_model {
    std::variant<recur::Recurrent<B>, recur::RecurrentOf<B, recur::SandwichBlock<B>>, recur::RecurrentOf<B, recur::Olmo2Block<B>>>
        model;
    std::string name, note;
};

/// A named model (S, M, JSON) with random weights.
decode_model named_decode_model(const std::string& name) {
    const bench_model spec = named_model(name);
    return {recur::Recurrent<B>(spec.config, spec.prelude, spec.core, spec.coda, recur::recurrence_options{}, 1), name,
            "random weights"};
}

/// Any checkpoint load_model reads. An ordinary (non-recurrent) model of L >= 3 layers is retrofitted
/// as prelude {0}, core {1 .. L-2}, coda {L-1} with a random concat adapter, so that r applies.
decode_model loaded_decode_model(const std::string& path) {
    auto loaded = recur::load_model<B>(path);
    const std::string format = recur::model_format_name(loaded.format);
    return std::visit(
        [&](auto& m) -> decode_model {
            if constexpr (recur::RecurrentModel<decltype(m)>) {
                return {std::move(m), path, "recurrent " + format + " model, as loaded"};
            } else {
                const auto layers = std::ssize(m.layers.blocks);
                recur::check(layers >= 3, "recur bench: --model '", path, "' has ", layers,
                             " layers; retrofitting it for the benchmark needs at least 3 (prelude, core, coda)");
                const auto spec = recur::surgery_spec::contiguous(1, layers - 2, 1);
                std::string core = "{1";
                core += layers > 3 ? " .. " + std::to_string(layers - 2) + "}" : "}";
                return {recur::retrofit(m, spec, recur::recurrence_options{}, 1), path,
                        "non-recurrent " + format + " model (" + std::to_string(layers) +
                            " layers) retrofitted for the benchmark: prelude {0}, core " + core + ", coda {" +
                            std::to_string(layers - 1) + "}, random (untrained) concat adapter; only speed is meaningful"};
            }
        },
        loaded.model);
}

/// Times prefill and greedy decoding (argmax on the host); one JSON line.
template <class Model>
int bench_decode(Model& model, const std::string& name, const std::string& note, const decode_request& q) {
    using clock = std::chrono::steady_clock;
    const auto& c = model.config;
    recur_cli::usage_check(q.batch >= 1 && q.batch <= 4096, "recur bench: --batch must be in [1, 4096] for --mode decode, got ", q.batch);
    recur::check(q.prompt_tokens >= 1 && q.prompt_tokens < c.max_seq_len, "recur bench: --prompt-tokens must be in [1, ",
                 c.max_seq_len - 1, "] (the model's max_seq_len ", c.max_seq_len, " leaves room for one new token), got ",
                 q.prompt_tokens);
    recur_cli::usage_check(q.new_tokens >= 1, "recur bench: --new-tokens must be >= 1, got ", q.new_tokens);
    const std::int64_t new_tokens = std::min(q.new_tokens, c.max_seq_len - q.prompt_tokens);
    recur::decode_options o;
    o.r = q.r;
    o.cache = recur::cache_policy::parse(q.cache);

    recur::rng gen(2);
    const auto vocab = static_cast<std::size_t>(c.vocab_size);
    std::vector<std::vector<std::int32_t>> prompts(static_cast<std::size_t>(q.batch));
    for (auto& p : prompts)
        for (std::int64_t t = 0; t < q.prompt_tokens; ++t) p.push_back(static_cast<std::int32_t>(gen.next() % vocab));
    std::vector<std::int64_t> rows(static_cast<std::size_t>(q.batch));
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::int64_t>(i);
    std::vector<std::int32_t> next(rows.size());
    // next[first + i] = argmax of row i of logits (N, V).
    const auto greedy = [&](const recur::Tensor<B>& logits, std::size_t first) {
        const std::vector<float> host = logits.template to_host<float>();
        for (std::size_t i = 0; i * vocab < host.size(); ++i) {
            const auto row = host.begin() + static_cast<std::ptrdiff_t>(i * vocab);
            next[first + i] = static_cast<std::int32_t>(std::max_element(row, row + static_cast<std::ptrdiff_t>(vocab)) - row);
        }
    };
    struct timing {
        double prefill = 0, decode = 0;
        std::int64_t cache_bytes = 0, cache_slots = 0;
    };
    const auto run = [&] {
        recur::decoder<B, Model> dec(model, o, q.batch, q.prompt_tokens + new_tokens);
        const auto t0 = clock::now();
        for (std::size_t i = 0; i < rows.size(); ++i) greedy(dec.prefill(rows[i], prompts[i]), i);
        const auto t1 = clock::now();
        for (std::int64_t t = 0; t < new_tokens; ++t) greedy(dec.step(rows, next), 0);
        const auto t2 = clock::now();
        return timing{std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(),
                      dec.cache().bytes(), dec.cache().core_slots()};
    };
    run();  // warm-up: primitives, pool
    timing total;
    std::int64_t repetitions = 0;
    do {
        const timing t = run();
        total.prefill += t.prefill;
        total.decode += t.decode;
        total.cache_bytes = t.cache_bytes;
        total.cache_slots = t.cache_slots;
        ++repetitions;
    } while (total.decode < q.min_seconds);
    const double steps = static_cast<double>(repetitions * new_tokens);
    const nlohmann::json out{{"model", name},
                             {"mode", "decode"},
                             {"r", o.r},
                             {"cache", o.cache.name()},
                             {"precision", recur::matmul_precision_name(recur::get_matmul_precision())},
                             {"cache_bytes", total.cache_bytes},
                             {"cache_slots", total.cache_slots},
                             {"batch", q.batch},
                             {"prompt_tokens", q.prompt_tokens},
                             {"new_tokens", new_tokens},
                             {"repetitions", repetitions},
                             {"prefill_ms", 1e3 * total.prefill / static_cast<double>(repetitions)},
                             {"ms_per_token", 1e3 * total.decode / steps},
                             {"tokens_per_s", steps * static_cast<double>(q.batch) / total.decode},
                             {"parameters", recur::parameter_count<B>(model)},
                             {"note", note}};
    std::cout << recur::json_text(out) << std::endl;
    return 0;
}

int bench_decode(decode_model dm, const decode_request& q) {
    return std::visit([&](auto& model) { return bench_decode(model, dm.name, dm.note, q); }, dm.model);
}

}  // namespace

namespace recur_cli {

command add_bench(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("bench", "tokens/s of a recurrent model on the cpu backend (one JSON line)");
    struct options {
        std::string model = "S", mode = "train", path, optimizer = "muon_adamw", ns_precision = "matmul";
        std::int64_t r = 4, k = -1, batch = 0, seq = 0;
        double min_seconds = 3.0;
        decode_request decode;
    };
    auto o = std::make_shared<options>();
    auto* config = cmd->add_option("--model-config", o->model, "S, M, or a JSON file {\"model\": {...}, \"layers\": [P, R, C]}");
    auto* path = cmd->add_option("--model", o->path,
                                 "decode only: a llama2.c file, Hugging Face or recur directory (an ordinary model is "
                                 "retrofitted as prelude {0}, core {1 .. L-2}, coda {L-1})");
    cmd->add_option("--mode", o->mode, "train (forward + backward + optimizer step), fwd (inference) or decode (KV-cached, greedy)")
        ->check(CLI::IsMember({"train", "fwd", "decode"}));
    add_depth_option(cmd, o->r, "recurrence iterations");
    cmd->add_option("--k", o->k, "iterations with gradient (default: r)");
    cmd->add_option("--optimizer", o->optimizer, "train: muon_adamw (a full step) or none (forward + backward only)")
        ->check(CLI::IsMember({"muon_adamw", "none"}))
        ->capture_default_str();
    cmd->add_option("--ns-precision", o->ns_precision,
                    "train: Muon's Newton-Schulz GEMMs in f32 or bf16; matmul: as --precision")
        ->check(CLI::IsMember({"matmul", "f32", "bf16"}))
        ->capture_default_str();
    cmd->add_option("--batch", o->batch, "batch size (default: the model's; decode: 1 row)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--seq", o->seq, "sequence length (default: the model's)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--min-seconds", o->min_seconds, "measure for at least this long")->check(CLI::PositiveNumber);
    cmd->add_option("--prompt-tokens", o->decode.prompt_tokens, "decode: random prompt tokens prefilled per row")
        ->capture_default_str();
    cmd->add_option("--new-tokens", o->decode.new_tokens, "decode: greedy steps timed (capped at max_seq_len - prompt)")
        ->capture_default_str();
    cmd->add_option("--cache", o->decode.cache, "decode: KV cache sharing across iterations: full, compress:N or latest")
        ->capture_default_str();
    return {cmd, [o, config, path] {
                if (o->mode != "decode") {
                    recur_cli::usage_check(path->count() == 0, "recur bench: --model needs --mode decode (train and fwd take --model-config)");
                    return bench(o->model, o->mode, o->r, o->k < 0 ? o->r : o->k, o->batch, o->seq, o->min_seconds,
                                 o->optimizer == "muon_adamw",
                                 o->ns_precision == "matmul" ? std::nullopt
                                                             : std::optional(recur::parse_matmul_precision(o->ns_precision)));
                }
                recur_cli::usage_check(path->count() == 0 || config->count() == 0,
                             "recur bench: give --model PATH or --model-config NAME, not both");
                decode_request q = o->decode;
                q.r = o->r;
                q.batch = o->batch > 0 ? o->batch : 1;
                q.min_seconds = o->min_seconds;
                return bench_decode(path->count() > 0 ? loaded_decode_model(o->path) : named_decode_model(o->model), q);
            }};
}

}  // namespace recur_cli
