// Fuzzes the llama2.c checkpoint reader (a 7 x int32 header, then f32 weights), as `recur eval`,
// `generate` and `convert` load a .bin file. Not here: the llama2.c tokenizer (fuzz_tokenizer.cpp).
#include <recur/backends/reference.hpp>
#include <recur/io/llama2c.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "model.bin", {data, size});
    return recur::fuzz::expect_recur_errors([&] { (void)recur::load_llama2c<recur::reference>(path); });
}
