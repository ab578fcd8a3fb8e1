// retrofit_tinystories: the TinyStories demo (issue 7, item 2). Loads the pretrained llama2.c model
// stories260K (5 layers, d 64), measures its validation loss, picks a prelude / core / coda split
// from the layer analysis, retrofits it into a depth-recurrent model with a pass-through adapter,
// heals it on TinyStories text (Muon + AdamW, WSD learning rate, the 1-sqrt curriculum over mean
// recurrence, Poisson-lognormal (n, k) draws with truncated backprop), fine-tunes the original model
// on the same data for the same training FLOPs as the baseline, and reports validation loss at
// test-time r = 1 .. 32 for all of them, with a sample story per model, and decodes the healed
// retrofit self-speculatively (drafts at small r, verified at r_max) against plain decoding.
//
// Writes to --out: results.json (settings, losses, curves, samples, speculative decoding's
// acceptance and speed-up, seconds per phase),
// loss_vs_r.tsv and curves.tsv (gnuplot blocks, see demos/report.hpp) and samples.txt.
// Not here: the library code it wires together (include/recur/), the results/table helpers shared
// with the reasoning demo (demos/report.hpp), plotting.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/data/data_phases.hpp>
#include <recur/data/packed_tokens.hpp>
#include <recur/infer/generate.hpp>
#include <recur/infer/loss_eval.hpp>
#include <recur/io/llama2c.hpp>
#include <recur/io/recur_model.hpp>
#include <recur/io/text_corpus.hpp>
#include <recur/io/tokenizer.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/recurrence/layer_analysis.hpp>
#include <recur/recurrence/recurrent.hpp>
#include <recur/train/flops.hpp>
#include <recur/train/trainer.hpp>

#include "demos/report.hpp"

namespace {

namespace fs = std::filesystem;
using B = recur::cpu;
using llama = recur::LlamaModel<B>;
using recurrent = recur::Recurrent<B>;
using json = nlohmann::ordered_json;

/// Every setting of a run; the defaults are the demo's (about 5 minutes on 2 cores), --quick
/// replaces some of them with a smoke-test run of a few seconds.
struct options {
    std::string data_dir = "../shared/data";
    std::string out = "results/retrofit_tinystories";
    std::string split;  // "P/C/Q" layer lists, e.g. "0/2-3/4"; empty: chosen from the layer analysis
    std::int64_t core = 2;  // core layers when the analysis chooses the split
    std::int64_t steps = 360, batch = 16, seq = 256;
    std::int64_t r_max = 8, backprop = 4;  // curriculum target r_bar and backprop depth s
    std::vector<std::int64_t> r{1, 2, 4, 8, 16, 32};
    // Learning rates, tuned per model (see the demo's report): healing the retrofit needs a larger
    // Muon step than fine-tuning the converged source, which larger steps only push off its optimum.
    double muon_lr = 4e-3, adamw_lr = 1e-4, baseline_muon_lr = 3e-4, baseline_adamw_lr = 3e-5;
    std::int64_t eval_tokens = 16384, eval_batch = 16;
    std::int64_t sample_tokens = 120;
    std::uint64_t seed = 1;
    bool quick = false;

    /// --quick: a handful of steps and tokens, r in {1, 2}; flags given on the command line
    /// (`given(name)`) keep their values.
    template <class Given>
    void apply_quick(Given&& given) {
        auto set = [&](const char* flag, auto& field, auto value) {
            if (!given(flag)) field = value;
        };
        set("--steps", steps, 4);
        set("--batch", batch, 4);
        set("--seq", seq, 64);
        set("--r-max", r_max, 2);
        set("--backprop", backprop, 2);
        set("--r", r, std::vector<std::int64_t>{1, 2});
        set("--eval-tokens", eval_tokens, 1024);
        sample_tokens = 24;
    }
};

/// The data files and where to download them when they are missing.
struct data_files {
    fs::path model, tokenizer, train, valid;

    explicit data_files(const fs::path& dir)
        : model(dir / "stories260K.bin"), tokenizer(dir / "tok512.bin"), train(dir / "tinystories_train_head_2mb.txt"),
          valid(dir / "tinystories_valid.txt") {}

    /// Throws recur::error naming the first missing file and its source.
    void check_present() const {
        constexpr const char* tinyllamas = "https://huggingface.co/karpathy/tinyllamas/tree/main/stories260K";
        constexpr const char* tinystories = "https://huggingface.co/datasets/roneneldan/TinyStories";
        const std::pair<const fs::path*, const char*> files[] = {
            {&model, tinyllamas}, {&tokenizer, tinyllamas}, {&train, tinystories}, {&valid, tinystories}};
        for (const auto& [path, source] : files)
            recur::check(fs::is_regular_file(*path), "missing data file '", path->string(), "': download it from ",
                         source, " (see also ../shared/data/README.md in the recur checkout, or pass --data-dir)");
    }
};

/// "P/C/Q" with each part a layer list ("0", "2-3", "1,3"; empty for an empty prelude or coda).
recur::surgery_spec parse_split(const std::string& text, std::int64_t layers) {
    const auto a = text.find('/'), b = a == std::string::npos ? a : text.find('/', a + 1);
    recur::check(b != std::string::npos && text.find('/', b + 1) == std::string::npos, "--split: '", text,
                 "' is not of the form PRELUDE/CORE/CODA, e.g. 0/2-3/4");
    recur::surgery_spec s{recur::parse_layer_list(text.substr(0, a), "--split prelude"),
                          recur::parse_layer_list(text.substr(a + 1, b - a - 1), "--split core"),
                          recur::parse_layer_list(text.substr(b + 1), "--split coda")};
    s.validate(layers);
    return s;
}

std::string split_text(const recur::surgery_spec& s) {
    auto part = [](const std::vector<std::int64_t>& idx) { return idx.empty() ? "" : recur::detail::layer_ranges(idx); };
    return part(s.prelude) + "/" + part(s.core) + "/" + part(s.coda);
}

/// Mean next-token loss over the evaluation windows (seq-token windows, no overlap).
template <class LogitsOf>
double val_loss(std::span<const std::int32_t> ids, const options& o, LogitsOf&& logits_of) {
    return recur::mean_next_token_loss<B>(ids, o.seq, o.eval_batch, logits_of).mean;
}

/// One model's line of the result: validation loss at each r (one value for an ordinary model).
struct model_result {
    std::string name;
    bool is_recurrent = false;
    double training_flops = 0;
    std::int64_t steps = 0, tokens = 0;
    std::vector<std::int64_t> r;
    std::vector<double> loss;

    model_result(std::string n, bool recurrent_model) : name(std::move(n)), is_recurrent(recurrent_model) {}
    json to_json() const {
        return {{"name", name}, {"recurrent", is_recurrent}, {"training_flops", training_flops}, {"steps", steps},
                {"tokens", tokens}, {"r", r}, {"val_loss", loss}};
    }
};

model_result evaluate_recurrent(const std::string& name, const recurrent& m, std::span<const std::int32_t> ids,
                                const options& o) {
    model_result res{name, true};
    for (const auto r : o.r) {
        res.r.push_back(r);
        res.loss.push_back(val_loss(ids, o, [&](const auto& x) { return m.forward(x, r); }));
        std::cout << "  " << name << ", r = " << r << ": " << demo::fixed(res.loss.back(), 4) << std::endl;
    }
    return res;
}

model_result evaluate_ordinary(const std::string& name, const llama& m, std::span<const std::int32_t> ids,
                               const options& o) {
    model_result res{name, false};
    res.r = {1};
    res.loss = {val_loss(ids, o, [&](const auto& x) { return m.forward(x); })};
    std::cout << "  " << name << ": " << demo::fixed(res.loss.back(), 4) << std::endl;
    return res;
}

/// The training rows: the train stream (BOS-led stories, no EOS, as llama2.c trained the model)
/// packed into seq + 1 windows, shuffled per epoch by `seed`. Both runs read the same order.
recur::data_phases story_data(std::span<const std::int32_t> ids, const options& o, std::int64_t vocab) {
    recur::data_phases d(o.seed);
    d.add_source("stories", std::make_unique<recur::packed_tokens>(ids, o.seq, vocab, o.seed, false));
    d.add_phase({0, {{"stories", 1.0}}});
    return d;
}

recur::muon_adamw_options optimizer_options(double muon_lr, double adamw_lr) {
    recur::muon_adamw_options opt;
    opt.muon.lr = muon_lr;
    opt.adamw.lr = adamw_lr;
    return opt;
}

/// The schedule both runs share (WSD learning rate, clipping); the recurrent run adds the curriculum.
recur::train_config base_train_config(const options& o, std::int64_t steps) {
    recur::train_config c;
    c.steps = steps;
    c.batch = o.batch;
    c.seq = o.seq;
    c.clip = 1.0;
    c.lr = {recur::lr_kind::warmup_stable_decay, 0.1, 0.2, 0.01};
    c.seed = o.seed;
    c.log_every = std::max<std::int64_t>(1, steps / 10);
    return c;
}

/// Trains `m` for config.steps steps on the stories and returns the run's line (without losses) and curve.
template <class Model>
std::pair<model_result, demo::curve> train(Model& m, const std::string& name, const recur::train_config& config,
                                           const recur::muon_adamw_options& optimizer,
                                           std::span<const std::int32_t> train_ids, const options& o) {
    auto data = story_data(train_ids, o, m.config.vocab_size);
    recur::muon_adamw<B> opt(recur::named_parameters<B>(m), optimizer);
    recur::trainer<B, Model, recur::data_phases, recur::muon_adamw<B>> t(m, data, opt, config);
    demo::curve curve{name, {}};
    while (t.step_index() < config.steps) curve.add(t.step());
    model_result res{name, recur::RecurrentModel<Model>};
    res.training_flops = t.flops_spent();
    res.steps = t.step_index();
    res.tokens = t.tokens_seen();
    return {res, curve};
}

/// A story from BOS: greedy decoding at depth r (ignored by an ordinary model) until BOS or EOS.
template <class Model>
std::string sample_story(const Model& m, const recur::llama2c_tokenizer& tok, std::int64_t r, const options& o) {
    recur::generation_options g;
    g.max_new_tokens = o.sample_tokens;
    g.stop_tokens = {tok.bos(), tok.eos()};
    g.decode.r = r;
    const auto out = recur::generate<B>(m, {{tok.bos()}}, g);
    return tok.decode(out.tokens[0]);
}

/// Self-speculative decoding of the healed retrofit at r = r_max: four story openings, sample_tokens
/// tokens each (no stop tokens, so every run does the same work), plain greedy decoding against drafts
/// at r = 1, 2 and r_max / 2 with lookahead 4: acceptance, speed-up (decode-phase times, the best of
/// three runs each) and whether each run reproduced plain decoding's tokens.
template <class Model>
json measure_speculation(const Model& m, const recur::llama2c_tokenizer& tok, const options& o) {
    std::vector<std::vector<std::int32_t>> prompts;
    for (const char* text : {"Once upon a time", "One day, a little girl", "Tom and his dog", "The sun was"})
        prompts.push_back(tok.encode(text, true, false));
    recur::generation_options plain;
    plain.max_new_tokens = o.sample_tokens;
    plain.decode.r = o.r_max;
    const auto best_of_3 = [&](const recur::generation_options& g) {
        recur::generation_result best = recur::generate<B>(m, prompts, g);
        for (int i = 0; i < 2; ++i) {
            recur::generation_result again = recur::generate<B>(m, prompts, g);
            if (again.decode_seconds < best.decode_seconds) best = std::move(again);
        }
        return best;
    };
    const auto base = best_of_3(plain);
    json runs = json::array();
    std::vector<std::vector<std::string>> rows{{"plain", "-", "-", demo::fixed(base.decode_tokens_per_second(), 1), "1.00", "-"}};
    for (const std::int64_t draft_r : {std::int64_t{1}, std::int64_t{2}, o.r_max / 2}) {
        if (draft_r < 1 || draft_r >= o.r_max || (!runs.empty() && runs.back()["draft_r"] >= draft_r)) continue;
        recur::generation_options g = plain;
        g.speculation = {draft_r, 4};
        const auto res = best_of_3(g);
        // Equal in exact arithmetic; a pass over several tokens rounds differently from token-by-token
        // decoding, which could flip a near-tie, so a difference is reported rather than hidden.
        std::int64_t differing = 0;
        for (std::size_t i = 0; i < prompts.size(); ++i) differing += res.tokens[i] != base.tokens[i];
        const double speedup = base.decode_seconds / res.decode_seconds;
        runs.push_back({{"draft_r", draft_r},
                        {"rows_differing_from_plain", differing},
                        {"lookahead", g.speculation.lookahead},
                        {"rounds", res.verify_passes},
                        {"drafted_tokens", res.drafted_tokens},
                        {"accepted_tokens", res.accepted_tokens},
                        {"acceptance_rate", res.acceptance_rate()},
                        {"decode_tokens_per_s", res.decode_tokens_per_second()},
                        {"speedup", speedup}});
        rows.push_back({"speculative", std::to_string(draft_r), demo::fixed(100 * res.acceptance_rate(), 1) + " %",
                        demo::fixed(res.decode_tokens_per_second(), 1), demo::fixed(speedup, 2),
                        differing == 0 ? "yes" : std::to_string(differing) + " rows differ"});
    }
    std::cout << "self-speculative decoding of the healed retrofit at r = " << o.r_max << " (" << prompts.size() << " prompts x "
              << o.sample_tokens << " tokens, lookahead 4):\n"
              << demo::table({"decoding", "draft r", "accepted", "tokens/s", "speed-up", "plain's tokens"}, rows) << std::endl;
    return {{"r", o.r_max},
            {"prompts", prompts.size()},
            {"max_new_tokens", o.sample_tokens},
            {"plain_decode_tokens_per_s", base.decode_tokens_per_second()},
            {"runs", runs}};
}

int run(const options& o) {
    demo::stopwatch clock;
    const auto lap = [&clock](const std::string& phase) {  // each phase's seconds, printed as it ends
        std::cout << "[" << phase << ": " << demo::fixed(clock.lap(phase), 1) << " s]\n" << std::endl;
    };
    const data_files files(fs::absolute(o.data_dir));
    files.check_present();
    const fs::path out_dir = fs::absolute(o.out);
    fs::create_directories(out_dir);

    // 1. Model, tokenizer, text.
    llama source = recur::load_llama2c<B>(files.model.string());
    const auto& cfg = source.config;
    const auto tok = recur::load_llama2c_tokenizer(files.tokenizer.string(), cfg.vocab_size);
    recur::check(o.seq <= cfg.max_seq_len, "--seq ", o.seq, " exceeds the model's max_seq_len ", cfg.max_seq_len);
    const auto valid = recur::tokenize_corpus(tok, files.valid.string());
    const auto train_text = recur::tokenize_corpus(tok, files.train.string());
    // The evaluation windows: the first eval_tokens predictions of the validation stream.
    const std::int64_t windows = std::min(o.eval_tokens, std::ssize(valid.ids) - 1) / o.seq;
    recur::check(windows >= 1, "the validation text has ", valid.ids.size(), " tokens, fewer than one window of --seq ",
                 o.seq);
    const std::span<const std::int32_t> eval_ids(valid.ids.data(), static_cast<std::size_t>(windows * o.seq + 1));
    const double source_params = static_cast<double>(recur::parameter_count<B>(source));
    std::cout << "stories260K: " << cfg.n_layers << " layers, d " << cfg.d_model << ", " << source_params
              << " parameters; validation " << valid.ids.size() << " tokens (" << valid.documents
              << " paragraphs), training " << train_text.ids.size() << " tokens (" << train_text.documents
              << " stories); evaluating on " << windows << " windows of " << o.seq << " = " << windows * o.seq
              << " predictions" << std::endl;
    lap("load and tokenize");

    // 2. The source model.
    std::cout << "validation loss of the source model:" << std::endl;
    model_result source_result = evaluate_ordinary("source (no training)", source, eval_ids, o);
    lap("evaluate source");

    // 3. Layer analysis and the split.
    const auto report = recur::analyze_layers(source, eval_ids.first(eval_ids.size() - 1), {.seq_len = o.seq});
    recur::surgery_spec split;
    std::string why;
    if (!o.split.empty()) {
        split = parse_split(o.split, cfg.n_layers);
        why = "given by --split";
    } else {
        split = recur::suggest_split(report, o.core);
        const auto [p, c] = recur::detail::seam(split);
        const auto kept = split.prelude.size() + split.core.size() + split.coda.size();
        std::ostringstream w;
        w << "suggest_split for a core of " << o.core << " layers keeps " << kept << " of " << cfg.n_layers
          << " layers (prelude and coda together as deep as the core) and drops layers "
          << recur::detail::layer_ranges(recur::detail::dropped_layers(split, cfg.n_layers))
          << ", the block whose removal changes the core's input least: seam distance d(h_" << p << ", h_" << c
          << ") = " << demo::fixed(report.distance[p][c], 4);
        why = w.str();
    }
    std::cout << "layer analysis of the source model on the evaluation windows:\n";
    recur::print_table(std::cout, report, split);
    std::cout << "split " << split_text(split) << ": " << why << std::endl;
    lap("layer analysis");

    // 4. Retrofit: with the pass-through adapter, r = 1 computes the pruned model.
    recur::recurrence_options ropts;
    ropts.adapter = recur::adapter_init::passthrough;
    ropts.seed = o.seed;
    ropts.mean_r = o.r_max;
    ropts.backprop_depth = o.backprop;
    recurrent rec = recur::retrofit(source, split, ropts, o.seed);
    std::cout << "validation loss of the retrofitted model before training:" << std::endl;
    model_result before = evaluate_recurrent("retrofitted, before training", rec, eval_ids, o);
    lap("evaluate retrofit");

    // 5. Heal / train the recurrent model.
    recur::train_config rec_config = base_train_config(o, o.steps);
    rec_config.curriculum = {recur::ramp_kind::one_minus_sqrt, 0.75, 1, o.r_max};
    rec_config.backprop = {recur::ramp_kind::one_minus_sqrt, 0.75, 1, o.backprop};
    rec_config.split = recur::split_mode::poisson_lognormal;
    std::cout << "training the recurrent model: " << o.steps << " steps of " << o.batch << " x " << o.seq
              << " tokens, r_bar up to " << o.r_max << ", backprop depth up to " << o.backprop << std::endl;
    auto [rec_result, rec_curve] = train(rec, "recurrent (retrofit)", rec_config,
                                           optimizer_options(o.muon_lr, o.adamw_lr), train_text.ids, o);
    lap("train recurrent");

    // 6. Baseline: the original model, fine-tuned for (at least) the same training FLOPs.
    llama base = recur::load_llama2c<B>(files.model.string());
    const double base_step_flops =
        recur::training_flops_per_token(base) * static_cast<double>(o.batch * o.seq);
    const auto base_steps = static_cast<std::int64_t>(std::ceil(rec_result.training_flops / base_step_flops));
    std::cout << "fine-tuning the original model for the same FLOPs: " << base_steps << " steps of "
              << demo::flops(base_step_flops) << " FLOPs" << std::endl;
    recur::train_config base_config = base_train_config(o, base_steps);
    base_config.curriculum = {recur::ramp_kind::constant, 0, 1, 1};  // no recurrence: r_bar = 1, n = 0, k = 1
    base_config.backprop = {recur::ramp_kind::constant, 0, 1, 1};
    base_config.split = recur::split_mode::fixed;
    auto [base_result, base_curve] = train(base, "baseline (fine-tuned, equal FLOPs)", base_config,
                                           optimizer_options(o.baseline_muon_lr, o.baseline_adamw_lr), train_text.ids, o);
    lap("train baseline");

    // 7. Validation loss after training.
    std::cout << "validation loss after training:" << std::endl;
    const model_result rec_losses = evaluate_recurrent(rec_result.name, rec, eval_ids, o);
    rec_result.r = rec_losses.r;
    rec_result.loss = rec_losses.loss;
    const model_result base_losses = evaluate_ordinary(base_result.name, base, eval_ids, o);
    base_result.r = base_losses.r;
    base_result.loss = base_losses.loss;
    lap("evaluate trained");

    // 8. Sample stories (greedy, from BOS).
    json samples = json::object();
    std::ostringstream samples_text;
    auto add_sample = [&](const std::string& label, const std::string& text) {
        samples[label] = text;
        samples_text << "== " << label << " ==\n" << text << "\n\n";
        std::cout << "== " << label << " ==\n" << text << "\n" << std::endl;
    };
    for (const std::int64_t r : {1, 8}) add_sample("recurrent, r = " + std::to_string(r), sample_story(rec, tok, r, o));
    add_sample("baseline", sample_story(base, tok, 1, o));
    add_sample("source", sample_story(source, tok, 1, o));
    lap("samples");
    const json speculation = measure_speculation(rec, tok, o);
    lap("self-speculative decoding");

    // 9. Results.
    before.training_flops = 0;
    const std::vector<model_result> models{rec_result, before, base_result, source_result};
    json config{{"data_dir", files.model.parent_path().string()},
                {"quick", o.quick},
                {"seed", o.seed},
                {"eval", {{"tokens", windows * o.seq}, {"windows", windows}, {"seq", o.seq}, {"batch", o.eval_batch},
                          {"r", o.r}, {"text", files.valid.string()}}},
                {"train_text", files.train.string()},
                {"split", {{"given", o.split}, {"core_size", o.core}}},
                {"recurrence", {{"adapter_init", "passthrough"}, {"state_init", "truncated_normal"},
                                {"injection", "concat_adapter"}, {"mean_r", ropts.mean_r},
                                {"backprop_depth", ropts.backprop_depth}}},
                {"optimizer", {{"kind", "muon_adamw"}, {"muon_lr", o.muon_lr}, {"adamw_lr", o.adamw_lr},
                               {"baseline_muon_lr", o.baseline_muon_lr}, {"baseline_adamw_lr", o.baseline_adamw_lr},
                               {"muon_weight_decay", recur::muon_options{}.weight_decay},
                               {"adamw_weight_decay", recur::adamw_options{}.weight_decay}}},
                {"train_recurrent", recur::to_json(rec_config)},
                {"train_baseline", recur::to_json(base_config)},
                {"sample", {{"max_new_tokens", o.sample_tokens}, {"decoding", "greedy"}, {"prompt", "BOS"}}}};
    json models_json = json::array();
    for (const auto& m : models) models_json.push_back(m.to_json());
    json results{{"demo", "retrofit_tinystories"},
                 {"run", demo::run_info()},
                 {"config", config},
                 {"source", {{"val_loss", source_result.loss[0]}, {"params", source_params}}},
                 {"layer_analysis", recur::to_json(report, split)},
                 {"split", {{"prelude", split.prelude}, {"core", split.core}, {"coda", split.coda},
                            {"text", split_text(split)}, {"why", why}}},
                 {"models", models_json},
                 {"curves", json::array({rec_curve.to_json(), base_curve.to_json()})},
                 {"samples", samples},
                 {"self_speculative_decoding", speculation}};

    // loss_vs_r.tsv: the recurrent models against r; the ordinary ones as flat lines over the same r.
    std::vector<demo::series> vs_r;
    for (const auto& m : models) {
        demo::series s{m.name, {}, {}};
        for (std::size_t i = 0; i < o.r.size(); ++i) {
            s.x.push_back(static_cast<double>(o.r[i]));
            s.y.push_back(m.is_recurrent ? m.loss[i] : m.loss[0]);
        }
        vs_r.push_back(std::move(s));
    }
    demo::write_series_tsv(out_dir / "loss_vs_r.tsv", vs_r);
    demo::write_series_tsv(out_dir / "curves.tsv", {rec_curve.smoothed(), base_curve.smoothed()});
    recur::write_file_atomically(out_dir / "samples.txt", samples_text.str());
    lap("write results");
    json seconds = clock.laps;
    seconds["total"] = clock.total();
    results["seconds"] = seconds;
    demo::write_json(out_dir / "results.json", results);

    // The table: rows = models, columns = r (an ordinary model's one loss under every r), FLOPs.
    std::vector<std::string> header{"validation loss (nats)"};
    for (const auto r : o.r) header.push_back("r=" + std::to_string(r));
    header.push_back("train FLOPs");
    std::vector<std::vector<std::string>> rows;
    bool finite = true;
    for (const auto& m : models) {
        std::vector<std::string> row{m.name};
        for (std::size_t i = 0; i < o.r.size(); ++i) row.push_back(demo::fixed(m.is_recurrent ? m.loss[i] : m.loss[0], 4));
        row.push_back(m.training_flops > 0 ? demo::flops(m.training_flops) : "0");
        rows.push_back(std::move(row));
        for (const double l : m.loss) finite = finite && std::isfinite(l);
    }
    std::cout << "\n" << demo::table(header, rows) << "(ordinary models have no r: their one loss is shown under every r)\n"
              << "wrote " << out_dir.string() << "/{results.json, loss_vs_r.tsv, curves.tsv, samples.txt}" << std::endl;
    if (!finite) {
        std::cerr << "retrofit_tinystories: a reported loss is not finite" << std::endl;
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"retrofit_tinystories: retrofit recurrence into stories260K, heal it on TinyStories, and compare "
                 "validation loss at test-time r with the original model fine-tuned for the same FLOPs"};
    options o;
    app.add_option("--data-dir", o.data_dir, "folder with stories260K.bin, tok512.bin and the TinyStories text "
                                             "(relative to the current directory)")
        ->capture_default_str();
    app.add_option("--out", o.out, "results folder")->capture_default_str();
    app.add_option("--steps", o.steps, "optimizer steps of the recurrent run")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
    app.add_option("--batch", o.batch, "rows per step")->capture_default_str()->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    app.add_option("--seq", o.seq, "tokens per row and per evaluation window")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{2}, std::int64_t{1} << 20));
    app.add_option("--r-max", o.r_max, "mean recurrence r_bar the curriculum ramps up to")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1024}));
    app.add_option("--backprop", o.backprop, "backprop depth s the schedule ramps up to (iterations with gradient)")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1024}));
    app.add_option("--r", o.r, "test-time recurrence depths to evaluate, e.g. 1,2,4,8")
        ->capture_default_str()
        ->delimiter(',')
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    app.add_option("--split", o.split, "surgery PRELUDE/CORE/CODA as layer lists, e.g. 0/2-3/4 (default: chosen "
                                       "from the layer analysis)");
    app.add_option("--core", o.core, "core layers when the layer analysis chooses the split")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1024}));
    app.add_option("--muon-lr", o.muon_lr, "recurrent run: Muon learning rate (block and adapter matrices)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--adamw-lr", o.adamw_lr, "recurrent run: AdamW learning rate (embeddings, head, norms)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--baseline-muon-lr", o.baseline_muon_lr, "baseline run: Muon learning rate")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--baseline-adamw-lr", o.baseline_adamw_lr, "baseline run: AdamW learning rate")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seed", o.seed, "seeds the data order, the (n, k) draws and the state noise")->capture_default_str();
    app.add_option("--eval-tokens", o.eval_tokens, "validation predictions (whole windows of --seq)")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
    app.add_flag("--quick", o.quick, "a tiny run for the smoke test: 4 steps, 1024 evaluation tokens, r in {1, 2}");
    CLI11_PARSE(app, argc, argv);
    if (o.quick) o.apply_quick([&](const char* flag) { return app.count(flag) > 0; });
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "retrofit_tinystories: " << e.what() << std::endl;
        return 1;
    }
}
