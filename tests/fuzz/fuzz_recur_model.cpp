// Fuzzes recur model directories: config.json beside valid weights (first byte even) or
// model.safetensors beside a valid config.json (odd), loaded by load_model as the CLI does.
// Not here: the trainer's checkpoint folder as a whole (fuzz_trainer_resume.cpp).
#include <recur/backends/reference.hpp>
#include <recur/io/load_model.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto valid = recur::fuzz::tiny_model_folder("recur-valid", [](const auto& dir, auto& m) {
        recur::save_recurrent<recur::fuzz::B>(dir, m, recur::dtype::bf16);
    });
    recur::fuzz::input in{{data, size}};
    const auto dir = recur::fuzz::write_model_folder(in, valid, "recur");
    return recur::fuzz::expect_recur_errors([&] {
        if (recur::is_recur_model_dir(dir)) {
            const auto info = recur::load_recur_model_info(dir);
            const auto blocks = info.surgery.prelude.size() + info.surgery.core.size() + info.surgery.coda.size();
            if (recur::fuzz::beyond_fuzz_budget(info.config, static_cast<double>(blocks))) return;
        }
        (void)recur::load_model<recur::fuzz::B>(dir);
    });
}
