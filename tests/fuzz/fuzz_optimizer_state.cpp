// Fuzzes optimizer state files (safetensors with the optimizer kind and step count as metadata),
// loaded into AdamW (first byte even) or Muon + AdamW (odd) over the tiny model. Not here: save_state.
#include <recur/backends/reference.hpp>
#include <recur/optim/adamw.hpp>
#include <recur/optim/muon_adamw.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using recur::fuzz::B;
    recur::fuzz::input in{{data, size}};
    const bool muon = in.select(2) == 1;
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "optimizer.safetensors", in.bytes);
    static recur::Recurrent<B> model(recur::fuzz::tiny_config(), 1, 1, 1, recur::recurrence_options{}, 1);
    return recur::fuzz::expect_recur_errors([&] {
        if (muon) {
            recur::muon_adamw<B> opt(recur::named_parameters<B>(model));
            opt.load_state(path);
        } else {
            recur::adamw<B> opt(recur::named_parameters<B>(model));
            opt.load_state(path);
        }
    });
}
