// Fuzzes Hugging Face folders: config.json alone (first byte 0), config.json beside valid weights (1),
// or model.safetensors beside a valid config.json (2), loaded as load_hf does. Not here: save_hf.
#include <recur/backends/reference.hpp>
#include <recur/io/hf.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

namespace {

/// A valid Hugging Face folder of the tiny model: its config.json and model.safetensors bytes.
struct valid_folder {
    std::string config, weights;
};

const valid_folder& valid() {
    static const valid_folder v = [] {
        const auto dir = recur::fuzz::scratch() / "hf-valid";
        recur::save_hf<recur::fuzz::B>(dir, recur::LlamaModel<recur::fuzz::B>(recur::fuzz::tiny_config(), 1),
                                       recur::dtype::bf16);
        return valid_folder{recur::fuzz::read_file(dir / "config.json"), recur::fuzz::read_file(dir / "model.safetensors")};
    }();
    return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    recur::fuzz::input in{{data, size}};
    const std::size_t which = in.select(3);
    const auto& v = valid();
    const auto dir = recur::fuzz::scratch() / "hf";
    return recur::fuzz::expect_recur_errors([&] {
        if (which == 0) {
            (void)recur::load_hf_config(recur::fuzz::write_file(dir / "config.json", in.bytes));
            return;
        }
        if (which == 1) {
            recur::fuzz::write_file(dir / "config.json", in.bytes);
            recur::fuzz::write_file(dir / "model.safetensors", v.weights);
        } else {
            recur::fuzz::write_file(dir / "config.json", v.config);
            recur::fuzz::write_file(dir / "model.safetensors", in.bytes);
        }
        const auto c = recur::load_hf_config(dir / "config.json");
        if (recur::fuzz::beyond_fuzz_budget(c, static_cast<double>(c.n_layers))) return;
        (void)recur::load_hf<recur::fuzz::B>(dir);
    });
}
