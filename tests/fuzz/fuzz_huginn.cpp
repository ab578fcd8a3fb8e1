// Fuzzes the paper's recurrent checkpoint directories (huginn_raven): config.json beside valid weights
// (first byte even) or model.safetensors beside a valid config.json (odd), loaded by load_model as the
// CLI does. Not here: recur's own model directories (fuzz_recur_model.cpp).
#include <recur/backends/reference.hpp>
#include <recur/io/load_model.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto valid = recur::fuzz::tiny_model_folder("huginn-valid", [](const auto& dir, auto& m) {
        recur::save_huginn<recur::fuzz::B>(dir, m, recur::dtype::bf16);
    });
    recur::fuzz::input in{{data, size}};
    const auto dir = recur::fuzz::write_model_folder(in, valid, "huginn");
    return recur::fuzz::expect_recur_errors([&] {
        if (recur::is_huginn_dir(dir)) {
            const auto info = recur::load_huginn_info(dir, recur::safetensors_set(dir));
            const auto blocks = info.surgery.prelude.size() + info.surgery.core.size() + info.surgery.coda.size();
            if (recur::fuzz::beyond_fuzz_budget(info.config, static_cast<double>(blocks))) return;
        }
        (void)recur::load_model<recur::fuzz::B>(dir);
    });
}
