// Fuzzes resuming training from a checkpoint: one file of a valid checkpoint written by the trainer
// is replaced by the input (the first byte picks trainer_state.json, model.safetensors,
// optimizer.safetensors or the run folder's `latest`), then trainer::resume reads it all.
// Not here: writing checkpoints under faults (the crash-safety tests).
#include <array>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

namespace {

/// The valid checkpoint every input starts from: its files' bytes by name.
const std::array<std::pair<std::string, std::string>, 3>& valid() {
    static const auto v = [] {
        const auto run = recur::fuzz::scratch() / "valid-run";
        std::filesystem::create_directories(run);
        const auto dir = recur::fuzz::write_tiny_checkpoint(run);
        std::array<std::pair<std::string, std::string>, 3> files;
        std::size_t i = 0;
        for (const char* name : {"trainer_state.json", "model.safetensors", "optimizer.safetensors"})
            files[i++] = {name, recur::fuzz::read_file(dir / name)};
        return files;
    }();
    return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    recur::fuzz::input in{{data, size}};
    const std::size_t which = in.select(5);  // 0, 1: trainer_state.json; 2: model; 3: optimizer; 4: latest
    const auto& files = valid();
    const auto run = recur::fuzz::scratch() / "run";
    std::filesystem::remove_all(run);
    const auto dir = run / "step-00000001";
    const std::size_t fuzzed = which <= 1 ? 0 : which - 1;
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (i == fuzzed) recur::fuzz::write_file(dir / files[i].first, in.bytes);
        else recur::fuzz::write_file(dir / files[i].first, files[i].second);
    }
    if (which == 4) recur::fuzz::write_file(run / "latest", in.bytes);
    recur::fuzz::tiny_training t;
    return recur::fuzz::expect_recur_errors([&] {
        t.run.resume(which == 4 ? run : dir);
        (void)t.run.step();
    });
}
