// Fuzzes text corpora as `recur tokenize` and text data sources split them into documents: plain
// text (first byte even) or JSONL (odd), each document encoded. Not here: the tokenizer file itself.
#include <recur/io/text_corpus.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const recur::llama2c_tokenizer tok = recur::load_llama2c_tokenizer(
        recur::fuzz::write_file(recur::fuzz::scratch() / "tokenizer.bin", recur::fuzz::tokenizer_bytes()));
    recur::fuzz::input in{{data, size}};
    const auto format = in.select(2) == 1 ? recur::corpus_format::jsonl : recur::corpus_format::text;
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "corpus", in.bytes);
    return recur::fuzz::expect_recur_errors([&] {
        const auto corpus = recur::tokenize_corpus(tok, path, format, true);
        (void)tok.decode(corpus.ids);
    });
}
