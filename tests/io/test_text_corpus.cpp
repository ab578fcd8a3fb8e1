// Corpora as documents: the TinyStories and GSM8K files split as documented, tokenize_corpus's layout, and
// malformed JSONL lines named by number. Not here: the tokenizer itself (test_tokenizer).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <recur/io/text_corpus.hpp>

#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;
using recur::test::scratch_dir;

namespace {
const std::string data_dir = RECUR_SHARED_DATA;

std::vector<std::string> documents(const std::string& path, corpus_format format = corpus_format::automatic) {
    std::vector<std::string> docs;
    for_each_document(path, format, [&](std::string_view d) { docs.emplace_back(d); });
    return docs;
}

}  // namespace

TEST_CASE("TinyStories train head splits at <|endoftext|> lines", "[io][data]") {
    const auto docs = documents(data_dir + "/tinystories_train_head_2mb.txt");
    REQUIRE(docs.size() == 2316);
    CHECK(docs.front().starts_with("One day, a little girl named Lily found a needle in her room."));
    CHECK(docs.front().ends_with("because they had shared and worked together."));
    CHECK(docs[1].starts_with("Once upon a time, there was a little car"));
    CHECK(std::none_of(docs.begin(), docs.end(), [](const std::string& d) {
        return d.find("<|endoftext|>") != std::string::npos || d.front() == '\n' || d.back() == '\n';
    }));
}

TEST_CASE("TinyStories validation text has no marker and splits at blank lines", "[io][data]") {
    const auto docs = documents(data_dir + "/tinystories_valid.txt");
    REQUIRE(docs.size() == 4302);
    CHECK(docs.front().starts_with("Spot. Spot saw the shiny car"));
    CHECK(docs.back().ends_with("He knew he would always remember his special performance."));
}

TEST_CASE("GSM8K JSONL documents are question, newline, answer", "[io][data]") {
    const auto path = data_dir + "/gsm8k_test.jsonl";
    const auto docs = documents(path);
    REQUIRE(docs.size() == 1319);
    std::ifstream f(path);
    std::string first;
    std::getline(f, first);
    const auto j = nlohmann::json::parse(first);
    CHECK(docs.front() == j["question"].get<std::string>() + "\n" + j["answer"].get<std::string>());
    CHECK(docs.front().starts_with("Janet\xe2\x80\x99s ducks"));  // the \u2019 escape decoded to UTF-8
}

TEST_CASE("tokenize_corpus puts BOS before every document, EOS after on request", "[io][data]") {
    const auto t = load_llama2c_tokenizer(data_dir + "/tok512.bin");
    const scratch_dir dir("recur_text_corpus_tokenize");
    const auto path = dir.write(
        "three.txt", "First story.\n<|endoftext|>\n\n  Second\n\nstory.  \n<|endoftext|>\n<|endoftext|>\nThird");
    const auto c = tokenize_corpus(t, path);
    CHECK(c.documents == 3);
    CHECK(c.bytes == static_cast<std::int64_t>(std::filesystem::file_size(path)));
    std::vector<std::int32_t> want;
    for (const char* d : {"First story.", "Second\n\nstory.", "Third"}) {
        const auto ids = t.encode(d, true, false);
        want.insert(want.end(), ids.begin(), ids.end());
    }
    CHECK(c.ids == want);
    const auto with_eos = tokenize_corpus(t, path, corpus_format::text, true);
    CHECK(with_eos.ids.size() == want.size() + 3);
    CHECK(std::count(with_eos.ids.begin(), with_eos.ids.end(), 2) == 3);
    CHECK(with_eos.ids.back() == 2);

    const auto stories = tokenize_corpus(t, data_dir + "/tinystories_valid.txt");
    CHECK(stories.documents == 4302);
    CHECK(std::count(stories.ids.begin(), stories.ids.end(), 1) == 4302);
    CHECK(stories.ids.front() == 1);
}

TEST_CASE("text without a marker splits at blank lines, and an explicit format overrides the file name", "[io]") {
    const scratch_dir dir("recur_text_corpus_paragraphs");
    CHECK(documents(dir.write("para.txt", "\n\nOne\ntwo\n\n \t\nThree\n")) ==
          std::vector<std::string>{"One\ntwo", "Three"});
    CHECK(documents(dir.write("empty.txt", "")).empty());
    const auto jsonl_named_txt = dir.write("lines.txt", "{\"text\": \" a story \"}\n\n{\"text\": \"b\"}\n");
    CHECK(documents(jsonl_named_txt, corpus_format::jsonl) == std::vector<std::string>{"a story", "b"});
    CHECK(documents(jsonl_named_txt, corpus_format::text).size() == 2);  // two raw JSON paragraphs
    CHECK(resolve_corpus_format("x.jsonl", corpus_format::automatic) == corpus_format::jsonl);
    CHECK(resolve_corpus_format("x.jsonl", corpus_format::text) == corpus_format::text);
    CHECK(resolve_corpus_format("x.txt", corpus_format::automatic) == corpus_format::text);
}

TEST_CASE("malformed JSONL lines throw io_error naming the file and the line", "[io][errors]") {
    const scratch_dir dir("recur_text_corpus_jsonl");
    const std::string ok = "{\"text\": \"fine\"}\n";
    struct bad_file {
        std::string name, text, problem;
    };
    const std::vector<bad_file> table{
        {"syntax.jsonl", ok + ok + "{\"text\": \"unterminated}\n", "line 3 is not valid JSON"},
        {"fields.jsonl", ok + "{\"body\": \"x\"}\n", "line 2 needs a string \"text\" field"},
        {"half_gsm8k.jsonl", "{\"question\": \"q\"}\n", "line 1 needs"},
        {"number.jsonl", ok + "\n" + "{\"text\": 5}\n", "line 3 needs"},
        {"array.jsonl", "[\"text\"]\n", "line 1 needs"},
        {"overflow.jsonl", ok + "{\"x\": 1e99999}\n", "line 2 is not valid JSON"},  // found by fuzz_qa_jsonl
    };
    for (const auto& bad : table) {
        INFO(bad.name);
        const auto path = dir.write(bad.name, bad.text);
        REQUIRE_THROWS_AS(documents(path), io_error);
        REQUIRE_THROWS_WITH(documents(path), Contains(path) && Contains(bad.problem));
    }
    REQUIRE_THROWS_WITH(documents(data_dir + "/missing.txt"), Contains("cannot open") && Contains("missing.txt"));
}
