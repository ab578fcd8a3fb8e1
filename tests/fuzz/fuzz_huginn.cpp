// Fuzzes the paper's recurrent checkpoint directories (huginn_raven): config.json beside valid weights
// (first byte even) or model.safetensors beside a valid config.json (odd), loaded by load_model as the
// CLI does. Not here: recur's own model directories (fuzz_recur_model.cpp).
#include <recur/backends/reference.hpp>
#include <recur/io/load_model.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

namespace {

struct valid_folder {
    std::string config, weights;
};

const valid_folder& valid() {
    static const valid_folder v = [] {
        const auto dir = recur::fuzz::scratch() / "huginn-valid";
        recur::Recurrent<recur::fuzz::B> m(recur::fuzz::tiny_config(), 1, 1, 1, recur::recurrence_options{}, 1);
        recur::save_huginn<recur::fuzz::B>(dir, m, recur::dtype::bf16);
        return valid_folder{recur::fuzz::read_file(dir / "config.json"), recur::fuzz::read_file(dir / "model.safetensors")};
    }();
    return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    recur::fuzz::input in{{data, size}};
    const bool weights = in.select(2) == 1;
    const auto& v = valid();
    const auto dir = recur::fuzz::scratch() / "huginn";
    if (weights) {
        recur::fuzz::write_file(dir / "config.json", v.config);
        recur::fuzz::write_file(dir / "model.safetensors", in.bytes);
    } else {
        recur::fuzz::write_file(dir / "config.json", in.bytes);
        recur::fuzz::write_file(dir / "model.safetensors", v.weights);
    }
    return recur::fuzz::expect_recur_errors([&] {
        if (recur::is_huginn_dir(dir)) {
            const auto info = recur::load_huginn_info(dir, recur::safetensors_set(dir));
            const auto blocks = info.surgery.prelude.size() + info.surgery.core.size() + info.surgery.coda.size();
            if (recur::fuzz::beyond_fuzz_budget(info.config, static_cast<double>(blocks))) return;
        }
        (void)recur::load_model<recur::fuzz::B>(dir);
    });
}
