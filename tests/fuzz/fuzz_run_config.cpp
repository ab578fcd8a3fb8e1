// Fuzzes the training run file as `recur train --config` reads it: load_run_file, then the train,
// model, data and optimizer sections, over a folder of small valid files the sections may name.
// Not here: training itself (fuzz_trainer_resume.cpp), or paths outside that folder (see below).
#include <recur/train/run_config.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

namespace {

using recur::fuzz::B;

/// The folder of the run file: tokens.bin, tokenizer.bin, story.txt, qa.jsonl, and the models
/// recur-model/ and hf-model/ (all with the tokenizer's 264 ids).
const std::filesystem::path& base() {
    static const std::filesystem::path dir = [] {
        const auto d = recur::fuzz::scratch() / "run-base";
        std::filesystem::create_directories(d);
        std::vector<std::int32_t> ids;
        for (int i = 0; i < 200; ++i) ids.push_back(i % 50 == 0 ? 1 : 3 + i % 261);
        recur::write_token_file((d / "tokens.bin").string(), ids);
        recur::fuzz::write_file(d / "tokenizer.bin", recur::fuzz::tokenizer_bytes());
        recur::fuzz::write_file(d / "story.txt", "Once upon a time the cat sat.\n<|endoftext|>\nThe end in a hat.\n");
        recur::fuzz::write_file(d / "qa.jsonl", "{\"question\": \"1+1?\", \"answer\": \"2\"}\n"
                                                "{\"prompt\": \"the\", \"completion\": \" hat\"}\n");
        const auto c = recur::fuzz::tiny_config(264);
        recur::Recurrent<B> r(c, 1, 1, 1, recur::recurrence_options{}, 1);
        recur::save_recurrent<B>(d / "recur-model", r, recur::dtype::bf16);
        recur::save_hf<B>(d / "hf-model", recur::LlamaModel<B>(c, 1), recur::dtype::bf16);
        return d;
    }();
    return dir;
}

/// Whether some string in `j` (key or value) could name a file outside base(): a '/' or "..".
bool leaves_base(const nlohmann::json& j) {
    auto bad = [](const std::string& s) { return s.find('/') != std::string::npos || s.find("..") != std::string::npos; };
    if (j.is_string()) return bad(j.get_ref<const std::string&>());
    if (j.is_object())
        for (const auto& [k, v] : j.items())
            if (bad(k) || leaves_base(v)) return true;
    if (j.is_array())
        for (const auto& v : j)
            if (leaves_base(v)) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& dir = base();
    const auto path = recur::fuzz::write_file(dir / "run.json", {data, size});
    return recur::fuzz::expect_recur_errors([&] {
        const auto run = recur::load_run_file(path);
        // The harness keeps the run inside its folder: a run file may name any path (/dev/zero too),
        // and reading what a user points at is the point of those keys.
        if (leaves_base(run)) return;
        const auto& model = run["model"];
        if (model.is_object() && model.contains("config") && model.contains("layers") && model["layers"].is_array()) {
            double blocks = 0;
            for (const auto& n : model["layers"]) blocks += n.is_number() ? n.get<double>() : 0;
            if (recur::fuzz::beyond_fuzz_budget(recur::model_config_from_json(model["config"]), blocks)) return;
        }
        const auto config = recur::train_config_from_json(run["train"], path);
        auto loaded = recur::model_from_json<B>(run["model"], dir, path);
        recur::check(config.seq <= loaded.config().max_seq_len, "train.seq exceeds max_seq_len");
        (void)recur::data_plan_from_json(run["data"], config.seq, loaded.config().vocab_size, dir, path);
        if (run.contains("optimizer")) (void)recur::optimizer_config_from_json(run["optimizer"], path);
    });
}
