// Fuzzes the llama2.c tokenizer reader, then encodes and decodes text with whatever vocabulary it
// accepted (merges come from the file). Not here: tokenizer.json or GGUF vocabularies.
#include <recur/io/tokenizer.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "tokenizer.bin", {data, size});
    return recur::fuzz::expect_recur_errors([&] {
        const auto tok = recur::load_llama2c_tokenizer(path);
        for (const char* text : {"Once upon a time, the cat sat in a hat.\n", "\xff\xfe\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80"}) {
            const auto ids = tok.encode(text, true, true);
            (void)tok.decode(ids);
        }
        for (std::int32_t id = 0; id < tok.vocab_size(); ++id) (void)tok.decode_piece(recur::llama2c_tokenizer::bos_id, id);
    });
}
