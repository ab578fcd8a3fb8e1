// Fuzzes GGUF files: parsed, every tensor dequantised, then read as a Llama model and as a tokenizer
// where the metadata says so. Not here: safetensors (fuzz_safetensors.cpp).
#include <recur/backends/reference.hpp>
#include <recur/io/gguf.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "model.gguf", {data, size});
    return recur::fuzz::expect_recur_errors([&] {
        const recur::gguf_file f(path);
        for (const auto& t : f.tensors())
            if (t.numel() <= (1 << 20)) (void)f.read_f32(t.name);
        try {
            (void)recur::load_gguf_tokenizer(path);
        } catch (const recur::error&) {
        }
        const auto c = recur::gguf_llama_config(f);
        if (recur::fuzz::beyond_fuzz_budget(c, static_cast<double>(c.n_layers))) return;
        (void)recur::load_gguf<recur::fuzz::B>(path);
    });
}
