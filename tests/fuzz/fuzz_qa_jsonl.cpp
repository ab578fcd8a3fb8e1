// Fuzzes JSONL question/answer data (GSM8K rows) as training (qa_examples) and `recur eval --task`
// (read_qa_pairs) read it, with a fixed llama2.c tokenizer. Not here: scoring answers.
#include <recur/data/qa_examples.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const recur::llama2c_tokenizer tok = recur::load_llama2c_tokenizer(
        recur::fuzz::write_file(recur::fuzz::scratch() / "tokenizer.bin", recur::fuzz::tokenizer_bytes()));
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "qa.jsonl", {data, size});
    return recur::fuzz::expect_recur_errors([&] {
        (void)recur::read_qa_pairs(path, "fuzz_qa_jsonl");
        recur::qa_examples qa(path, tok, 64, 0);
        (void)qa.next(3);
    });
}
