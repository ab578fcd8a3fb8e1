// Small valid inputs the harnesses and the seed generator share: a tiny model and run, a llama2.c
// tokenizer file, a checkpoint written by the real trainer, and a model folder with one of its two
// files replaced by the fuzzer's bytes. Not here: fuzzing itself (fuzz_*.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <recur/backends/reference.hpp>
#include <recur/data/data_phases.hpp>
#include <recur/data/packed_tokens.hpp>
#include <recur/optim/muon_adamw.hpp>
#include <recur/train/trainer.hpp>

#include "fuzz_support.hpp"

namespace recur::fuzz {

using B = reference;

/// A model small enough that building it costs microseconds; vocab 264 fits tokenizer_bytes().
inline model_config tiny_config(std::int64_t vocab = 8) {
    model_config c;
    c.vocab_size = vocab;
    c.d_model = 4;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.ffn_dim = 4;
    c.n_layers = 3;
    c.max_seq_len = 16;
    return c;
}

/// Whether a model of `c` with `blocks` blocks is too big to build under libFuzzer's 2 GB malloc
/// limit (over 256 MB of parameters and RoPE tables). The library refuses only models beyond the
/// machine's memory (check_model_size), so harnesses skip these rather than report them.
inline bool beyond_fuzz_budget(const model_config& c, double blocks) {
    const double d = static_cast<double>(c.d_model), hd = static_cast<double>(c.resolved_head_dim());
    const double params = static_cast<double>(c.vocab_size) * d * 2 +
                          blocks * d * (4 * static_cast<double>(c.n_heads) * hd + 3 * static_cast<double>(c.ffn_dim));
    return 4 * params + 12 * static_cast<double>(c.max_seq_len) * hd > 256.0 * (1 << 20);
}

/// A llama2.c tokenizer file: <unk>, <s>, </s>, the 256 byte tokens, then a few merges (264 tokens).
inline std::string tokenizer_bytes() {
    std::vector<std::string> pieces{"<unk>", "\n<s>\n", "\n</s>\n"};
    for (int b = 0; b < 256; ++b) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "<0x%02X>", b);
        pieces.emplace_back(hex);
    }
    for (const char* p : {" t", "he", " the", "in", " a"}) pieces.emplace_back(p);
    std::string out;
    auto put = [&](const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); };
    const std::int32_t max_len = 8;
    put(&max_len, 4);
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        const float score = i < 259 ? 0.0f : -static_cast<float>(i);
        const auto len = static_cast<std::int32_t>(pieces[i].size());
        put(&score, 4);
        put(&len, 4);
        put(pieces[i].data(), pieces[i].size());
    }
    return out;
}

/// A short run of the tiny recurrent model on a fixed token stream.
inline train_config tiny_train() {
    train_config t;
    t.steps = 4;
    t.batch = 2;
    t.seq = 8;
    t.log_every = 1000;
    t.curriculum.max = 2;
    t.backprop.max = 2;
    return t;
}

/// The model, data, optimizer and trainer of tiny_train(), freshly built.
struct tiny_training {
    Recurrent<B> model{tiny_config(), 1, 1, 1, recurrence_options{}, 1};
    data_phases data = [] {
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 64; ++i) ids.push_back(1 + i % 7);
        data_phases plan(0);
        plan.add_source("tokens", std::make_unique<packed_tokens>(ids, 8, 8, 1));
        plan.add_phase({0, {{"tokens"}}});
        return plan;
    }();
    muon_adamw<B> optimizer{named_parameters<B>(model)};
    std::ostringstream log;
    trainer<B, Recurrent<B>, data_phases, muon_adamw<B>> run;

    explicit tiny_training(const std::string& out_dir = "") : run(model, data, optimizer, with_out(out_dir), log) {}

private:
    static train_config with_out(const std::string& out_dir) {
        train_config t = tiny_train();
        t.out_dir = out_dir;
        return t;
    }
};

/// A run folder holding one checkpoint after a step of tiny_train(); returns the checkpoint folder.
inline std::filesystem::path write_tiny_checkpoint(const std::filesystem::path& run_dir) {
    tiny_training t(run_dir.string());
    t.run.step();
    return t.run.save_checkpoint();
}

/// A model folder's two files as a writer of the tiny recurrent model left them.
struct model_folder {
    std::string config, weights;
};

/// The folder `save(dir, model)` writes for a tiny Recurrent model, read back.
template <class Save>
model_folder tiny_model_folder(const std::string& name, Save save) {
    const auto dir = scratch() / name;
    Recurrent<B> m(tiny_config(), 1, 1, 1, recurrence_options{}, 1);
    save(dir, m);
    return {read_file(dir / "config.json"), read_file(dir / "model.safetensors")};
}

/// Writes scratch()/name with the input as config.json beside `valid`'s weights (first byte even) or
/// as model.safetensors beside `valid`'s config.json (odd); returns the folder.
inline std::filesystem::path write_model_folder(input& in, const model_folder& valid, const std::string& name) {
    const bool weights = in.select(2) == 1;
    const auto dir = scratch() / name;
    if (weights) {
        write_file(dir / "config.json", valid.config);
        write_file(dir / "model.safetensors", in.bytes);
    } else {
        write_file(dir / "config.json", in.bytes);
        write_file(dir / "model.safetensors", valid.weights);
    }
    return dir;
}

}  // namespace recur::fuzz
