// Fuzzes Hugging Face tokenizer.json files: parsed by hf_tokenizer, then text encoded and decoded with
// whatever it accepted. Not here: llama2.c tokenizer files (fuzz_tokenizer.cpp).
#include <recur/io/hf_tokenizer.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "tokenizer.json", {data, size});
    return recur::fuzz::expect_recur_errors([&] {
        const auto tok = recur::load_hf_tokenizer(path);
        for (const char* text : {"Once upon a time, the cat sat in a hat.\n  12345 <s>", "\xff\xfe\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80\r\n\t"}) {
            const auto ids = tok.encode(text);
            (void)tok.decode(ids);
            (void)tok.decode(ids, true);
        }
    });
}
