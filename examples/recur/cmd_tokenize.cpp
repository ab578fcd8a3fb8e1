// `recur tokenize`: a text or JSONL corpus -> an llm.c token file, with a llama2.c or Hugging Face
// tokenizer; one summary line.
// Not here: training a tokenizer, sharding, train/validation splits.
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <recur/io/text_corpus.hpp>
#include <recur/io/token_file.hpp>
#include <recur/io/any_tokenizer.hpp>

#include "commands.hpp"
#include "options.hpp"

namespace {

struct options {
    std::string tokenizer, in, out;
    recur::corpus_format format = recur::corpus_format::automatic;
    bool eos = false;
};

int tokenize(const options& o) {
    const auto start = std::chrono::steady_clock::now();
    const auto tokenizer = recur::load_tokenizer(o.tokenizer);
    const auto corpus = recur::tokenize_corpus(tokenizer, o.in, o.format, o.eos);
    const auto info = recur::write_token_file(o.out, corpus.ids);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "recur tokenize (" << tokenizer.kind() << "): " << corpus.documents << " documents, " << info.count << " tokens, " << corpus.bytes
              << " bytes in, " << seconds << " s (" << static_cast<double>(corpus.bytes) / seconds / 1e6
              << " MB/s) -> '" << o.out << "' (version " << info.version << ")" << std::endl;
    return 0;
}

}  // namespace

namespace recur_cli {

command add_tokenize(CLI::App& parent) {
    auto* cmd = parent.add_subcommand(
        "tokenize",
        "encode a text or JSONL corpus with a llama2.c or Hugging Face tokenizer into an llm.c token file (BOS per "
        "document)");
    auto o = std::make_shared<options>();
    add_tokenizer_option(cmd, o->tokenizer, "e.g. ../shared/data/tok512.bin", any_tokenizer)->required();
    cmd->add_option("--in", o->in, "corpus: text (documents split at <|endoftext|> lines, else blank lines) or JSONL")
        ->required();
    cmd->add_option("--out", o->out, "token file to write (llm.c format; uint16 ids when they fit)")->required();
    const std::map<std::string, recur::corpus_format> formats{{"auto", recur::corpus_format::automatic},
                                                              {"text", recur::corpus_format::text},
                                                              {"jsonl", recur::corpus_format::jsonl}};
    cmd->add_option("--format", o->format, "auto (jsonl for *.jsonl), text or jsonl")
        ->transform(CLI::CheckedTransformer(formats));
    cmd->add_flag("--eos", o->eos, "also end every document with EOS");
    return {cmd, [o] { return tokenize(*o); }};
}

}  // namespace recur_cli
