// hf_tokenizer against Hugging Face's own `tokenizers` (io/peer_hf_tokenizers.py trains real
// tokenizer.json files of six flavours, has `transformers` convert SmolLM2-135M's GGUF tokenizer and a
// SentencePiece GGUF vocabulary it trains with `sentencepiece`, and encodes TinyStories valid, GSM8K
// test and a torture set; without the Python packages it fails in CI and is a ctest skip elsewhere),
// recur's GGUF tokenizer against the same and against SentencePiece itself, and its errors.
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <filesystem>
#include <optional>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/io/any_tokenizer.hpp>
#include <recur/io/gguf.hpp>
#include <recur/io/hf_tokenizer.hpp>
#include <recur/io/text_corpus.hpp>

#include "support/peer.hpp"
#include "support/skip.hpp"
#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;
using nlohmann::json;

namespace {

const std::string python = RECUR_TOKENIZERS_PYTHON;
const std::string peer_script = std::string(RECUR_TESTS_DIR) + "/io/peer_hf_tokenizers.py";

std::vector<std::string> read_inputs(const std::filesystem::path& file) {
    std::ifstream f(file, std::ios::binary);
    std::uint32_t n = 0;
    f.read(reinterpret_cast<char*>(&n), 4);
    std::vector<std::string> lines(n);
    for (auto& line : lines) {
        std::uint32_t len = 0;
        f.read(reinterpret_cast<char*>(&len), 4);
        line.resize(len);
        f.read(line.data(), len);
    }
    REQUIRE(f.good());
    return lines;
}

/// How `tok` agrees with `tokenizers` over the lines of a peer run (expected.jsonl: one object per line,
/// ids with the template applied and the decodes of those ids with and without special tokens).
struct agreement {
    std::size_t lines = 0, tokens = 0, id_mismatches = 0, decode_mismatches = 0, round_trip_failures = 0;
};

/// `lossless`: also checks decode(encode(x)) == x (UTF-8-repaired), special-token strings included.
agreement compare_with(const hf_tokenizer& tok, const std::filesystem::path& expected_file,
                       const std::vector<std::string>& lines, bool lossless) {
    std::ifstream expected(expected_file);
    REQUIRE(expected.good());
    agreement a;
    for (std::string row; std::getline(expected, row); ++a.lines) {
        REQUIRE(a.lines < lines.size());
        const std::string& line = lines[a.lines];
        const json e = json::parse(row);
        const auto theirs = e["ids"].get<std::vector<std::int32_t>>();
        a.tokens += theirs.size();
        if (tok.encode(line) != theirs && a.id_mismatches++ < 5) UNSCOPED_INFO("line " << a.lines << " ids differ: '" << line << "'");
        if ((tok.decode(theirs) != e["decoded"].get<std::string>() ||
             tok.decode(theirs, true) != e["decoded_skip"].get<std::string>()) &&
            a.decode_mismatches++ < 5)
            UNSCOPED_INFO("line " << a.lines << " decodes differently: '" << line << "'");
        if (lossless && tok.decode(tok.encode(line, false)) != detail::valid_utf8(line)) ++a.round_trip_failures;
    }
    return a;
}

void check_agreement(const agreement& a, std::size_t lines) {
    CHECK(a.lines == lines);
    CHECK(a.id_mismatches == 0);
    CHECK(a.decode_mismatches == 0);
    CHECK(a.round_trip_failures == 0);
}

/// A run of the peer over `args` (the TinyStories and GSM8K lines appended): its summary line, the
/// lines it encoded, and "tokenizers X (transformers Y's conversion)". Empty when a data file is
/// missing (outside CI).
struct peer_output {
    json summary;
    std::vector<std::string> lines;
    std::string versions;
};
std::optional<peer_output> run_conversion_peer(const test::scratch_dir& dir, std::vector<std::string> args) {
    const std::string data = RECUR_SHARED_DATA;
    for (const char* f : {"tinystories_train_head_2mb.txt", "tinystories_valid.txt", "gsm8k_test.jsonl"})
        if (!test::require_file(data + "/" + f)) return std::nullopt;
    args.push_back(data + "/tinystories_valid.txt");
    args.push_back(data + "/gsm8k_test.jsonl");
    REQUIRE(test::run_peer(python, peer_script, args, dir, "out.txt"));
    peer_output out{json::parse(test::file_text(dir.path() / "out.txt")), read_inputs(dir.path() / "inputs.bin"), ""};
    REQUIRE(out.lines.size() > 8000);
    out.versions = "tokenizers " + out.summary.at("tokenizers").get<std::string>() + " (transformers " +
                   out.summary.at("transformers").get<std::string>() + "'s conversion)";
    return out;
}

/// A tokenizer.json around a tiny byte-level BPE with `edit` applied.
json tiny_tokenizer() {
    json vocab = json::object();
    for (const char* t : {"a", "b", "c", "ab", "abc", "<s>"}) vocab[t] = vocab.size();
    return {{"version", "1.0"},
            {"added_tokens", json::array({{{"id", 5}, {"content", "<s>"}, {"special", true}}})},
            {"normalizer", nullptr},
            {"pre_tokenizer", nullptr},
            {"post_processor", nullptr},
            {"decoder", nullptr},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b", json::array({"ab", "c"})})}}}};
}

}  // namespace

TEST_CASE("hf_tokenizer encodes and decodes exactly as Hugging Face tokenizers on TinyStories, GSM8K and a torture set",
          "[io][hf_tokenizer]") {
    if (!test::require_python(python, "tokenizers", "Python package `tokenizers` (scripts/deps.sh installs it)")) return;
    const test::scratch_dir dir("recur_hf_tokenizer");
    const std::string data = RECUR_SHARED_DATA;
    for (const char* f : {"tinystories_train_head_2mb.txt", "tinystories_valid.txt", "gsm8k_test.jsonl"})
        if (!test::require_file(data + "/" + f)) return;
    REQUIRE(test::run_peer(python, peer_script,
                           {dir.path().string(), data + "/tinystories_train_head_2mb.txt", data + "/tinystories_valid.txt",
                            data + "/gsm8k_test.jsonl"},
                           dir, "out.txt"));

    const std::string version = json::parse(test::file_text(dir.path() / "out.txt")).at("tokenizers").get<std::string>();
    const auto lines = read_inputs(dir.path() / "inputs.bin");
    REQUIRE(lines.size() > 8000);
    for (const std::string flavour :
         {"spm_byte_fallback", "metaspace", "llama3_byte_level", "gpt2_digits", "qwen2_nfc", "nfkc_spm"}) {
        INFO(flavour);
        // Byte-level BPE is lossless: decoding the ids gives back the (UTF-8-repaired) text.
        const bool byte_level = flavour == "llama3_byte_level" || flavour == "gpt2_digits";
        const auto a = compare_with(load_hf_tokenizer(dir.path() / flavour), dir.path() / flavour / "expected.jsonl", lines, byte_level);
        std::cout << "ORACLE: hf_tokenizer vs tokenizers " << version << ", " << flavour << ": " << a.lines << " lines, " << a.tokens
                  << " tokens, " << a.id_mismatches << " id mismatches, " << a.decode_mismatches << " decode mismatches" << std::endl;
        check_agreement(a, lines.size());
    }
}

TEST_CASE("SmolLM2's GGUF tokenizer: transformers' conversion of it and the GGUF read by recur both encode as tokenizers "
          "does on TinyStories, GSM8K and the torture set",
          "[io][hf_tokenizer][gguf][peer]") {
    if (!test::require_python(python, "tokenizers, transformers, gguf",
                              "Python packages `tokenizers`, `transformers` and `gguf` (scripts/deps.sh installs them)"))
        return;
    const test::scratch_dir dir("recur_hf_tokenizer_smollm2");
    const auto gguf = test::smollm2_gguf(python, dir);
    if (gguf.empty()) return;
    const auto peer = run_conversion_peer(dir, {"--gguf", gguf.string(), dir.path().string()});
    if (!peer) return;
    const auto& [summary, lines, versions] = *peer;

    // transformers' tokenizer.json, read by recur's tokenizer.json reader.
    const auto converted = compare_with(load_hf_tokenizer(dir.path() / "smollm2_transformers"),
                                        dir.path() / "smollm2_transformers" / "expected.jsonl", lines, true);
    std::cout << "ORACLE: hf_tokenizer vs " << versions << ", SmolLM2-135M tokenizer.json converted from its GGUF: "
              << converted.lines << " lines, " << converted.tokens << " tokens, " << converted.id_mismatches << " id mismatches, "
              << converted.decode_mismatches << " decode mismatches" << std::endl;
    check_agreement(converted, lines.size());

    // The GGUF itself, read by recur's GGUF reader: its pre-tokenizer ("smollm") splits every digit,
    // which transformers' conversion drops; so it is compared with that vocabulary plus the digit split.
    const auto native = compare_with(load_gguf_tokenizer(gguf), dir.path() / "smollm2_digits" / "expected.jsonl", lines, true);
    const auto differing = summary.at("lines_differing").get<std::size_t>();
    std::cout << "ORACLE: recur's GGUF tokenizer vs " << versions << " with the GGUF's digit split, SmolLM2-135M: " << native.lines
              << " lines, " << native.tokens << " tokens, " << native.id_mismatches << " id mismatches, " << native.decode_mismatches
              << " decode mismatches (transformers' conversion tokenizes " << differing << " of the lines differently)" << std::endl;
    check_agreement(native, lines.size());
    CHECK(differing > 0);  // the conversion's loss is real: were it 0, the digit split would be untested here
}

TEST_CASE("a SentencePiece GGUF vocabulary (Llama-2's kind, scores and no merges): recur encodes as transformers' "
          "conversion and as SentencePiece itself",
          "[io][hf_tokenizer][gguf][peer]") {
    if (!test::require_python(python, "tokenizers, transformers, gguf, sentencepiece",
                              "Python packages `tokenizers`, `transformers`, `gguf` and `sentencepiece` (scripts/deps.sh installs them)"))
        return;
    const test::scratch_dir dir("recur_hf_tokenizer_spm_gguf");
    // The peer trains a SentencePiece BPE model with Llama-2's settings and writes it to spm.gguf as
    // llama.cpp's converter does; transformers converts that GGUF; SentencePiece encodes every line too.
    const auto peer = run_conversion_peer(
        dir, {"--spm-gguf", dir.path().string(), std::string(RECUR_SHARED_DATA) + "/tinystories_train_head_2mb.txt"});
    if (!peer) return;
    const auto& [summary, lines, versions] = *peer;
    const auto gguf = dir.path() / "spm.gguf";
    const auto expected = dir.path() / "spm_gguf_transformers" / "expected.jsonl";

    const auto converted = compare_with(load_hf_tokenizer(dir.path() / "spm_gguf_transformers"), expected, lines, false);
    check_agreement(converted, lines.size());
    const auto native = compare_with(load_gguf_tokenizer(gguf), expected, lines, false);
    std::cout << "ORACLE: recur's GGUF tokenizer vs " << versions << ", a SentencePiece GGUF vocabulary of "
              << summary.at("vocab").get<int>() << " pieces: " << native.lines << " lines, " << native.tokens << " tokens, "
              << native.id_mismatches << " id mismatches, " << native.decode_mismatches << " decode mismatches" << std::endl;
    check_agreement(native, lines.size());

    // SentencePiece itself reads "<s>", "</s>" and "<unk>" inside text as text; transformers, llama.cpp
    // (parsing special tokens) and recur read them as the special tokens. Those lines aside, all agree.
    const hf_tokenizer tok = load_gguf_tokenizer(gguf);
    std::ifstream spm(dir.path() / "sentencepiece.jsonl");
    std::size_t n = 0, tokens = 0, differing = 0, differing_without_specials = 0;
    for (std::string row; std::getline(spm, row); ++n) {
        REQUIRE(n < lines.size());
        const auto theirs = json::parse(row).at("ids").get<std::vector<std::int32_t>>();
        tokens += theirs.size();
        if (tok.encode(lines[n]) == theirs) continue;
        ++differing;
        const bool specials = lines[n].find("<s>") != std::string::npos || lines[n].find("</s>") != std::string::npos ||
                              lines[n].find("<unk>") != std::string::npos;
        if (!specials && differing_without_specials++ < 5) UNSCOPED_INFO("line " << n << " differs from SentencePiece: '" << lines[n] << "'");
    }
    std::cout << "ORACLE: recur's GGUF tokenizer vs sentencepiece " << summary.at("sentencepiece").get<std::string>() << ": " << n
              << " lines, " << tokens << " tokens, " << differing << " lines differ, all with special-token text: "
              << (differing_without_specials == 0 ? "yes" : "NO") << std::endl;
    CHECK(n == lines.size());
    CHECK(differing_without_specials == 0);
    CHECK(differing == summary.at("lines_differing_from_sentencepiece").get<std::size_t>());
}

TEST_CASE("hf_tokenizer merges by rank, honours added tokens and the template, and names bad ids", "[io][hf_tokenizer]") {
    auto j = tiny_tokenizer();
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}})},
                           {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {5}}, {"tokens", {"<s>"}}}}}}};
    const hf_tokenizer tok(j);
    CHECK(tok.encode("abc", false) == std::vector<std::int32_t>{4});
    CHECK(tok.encode("abcab", true) == std::vector<std::int32_t>{5, 4, 3});  // a b c a b -> ab c ab -> abc ab
    CHECK(tok.encode("ab<s>c", false) == std::vector<std::int32_t>{3, 5, 2});
    CHECK(tok.decode(std::vector<std::int32_t>{5, 4, 2}, true) == "abc c");
    CHECK_THROWS_WITH(tok.decode(std::vector<std::int32_t>{9}), Contains("token id 9 is out of range"));
    CHECK(tok.vocab_size() == 6);
    CHECK(tok.token_to_id("abc") == 4);
    CHECK(tok.prefix_ids() == std::vector<std::int32_t>{5});
}

TEST_CASE("tokenizer.json components recur does not implement are errors naming them", "[io][hf_tokenizer][errors]") {
    struct bad_case {
        const char* name;
        std::function<void(json&)> edit;
        const char* expect;
    };
    const std::vector<bad_case> cases{
        {"wordpiece", [](json& j) { j["model"]["type"] = "WordPiece"; }, "type 'WordPiece' is not supported"},
        {"lowercase", [](json& j) { j["normalizer"] = {{"type", "Lowercase"}}; }, "normalizer: type 'Lowercase' is not supported"},
        {"whitespace", [](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, "type 'Whitespace' is not supported"},
        {"bert", [](json& j) { j["post_processor"] = {{"type", "BertProcessing"}}; }, "type 'BertProcessing'"},
        {"wordpiece_decoder", [](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder: type 'WordPiece'"},
        {"dropout", [](json& j) { j["model"]["dropout"] = 0.1; }, "dropout"},
        {"suffix", [](json& j) { j["model"]["end_of_word_suffix"] = "</w>"; }, "end_of_word_suffix"},
        {"merge_missing", [](json& j) { j["model"]["merges"].push_back("b c"); }, "makes 'bc', which is not in the vocabulary"},
        {"merge_shape", [](json& j) { j["model"]["merges"].push_back("abc"); }, "is not two tokens separated by one space"},
        {"vocab_id", [](json& j) { j["model"]["vocab"]["d"] = -1; }, "the id -1"},
        {"vocab_twice", [](json& j) { j["model"]["vocab"]["d"] = 0; }, "gives the id 0 to two tokens"},
        {"regex", [](json& j) {
             j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
         }, "does not compile"},
        {"behaviour", [](json& j) {
             j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Contiguous"}};
         }, "Split behavior 'Contiguous' is not supported"},
        {"truncation", [](json& j) { j["truncation"] = {{"max_length", 8}}; }, "'truncation' is set"},
        {"added_id", [](json& j) { j["added_tokens"][0]["id"] = 1; }, "takes the id 1 of 'b'"},
        {"metaspace_empty", [](json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", ""}}; },
         "replacement must be one character"},
        {"metaspace_decoder", [](json& j) { j["decoder"] = {{"type", "Metaspace"}, {"replacement", "ab"}}; },
         "replacement must be one character"},
        {"strip_empty", [](json& j) { j["decoder"] = {{"type", "Strip"}, {"content", ""}, {"start", 1}, {"stop", 0}}; },
         "Strip's content must be one character"},
        {"template", [](json& j) {
             j["post_processor"] = {{"type", "TemplateProcessing"}, {"single", json::array({{{"SpecialToken", {{"id", "<x>"}}}}})}};
         }, "special token '<x>' of the template is not in 'special_tokens'"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto j = tiny_tokenizer();
        c.edit(j);
        CHECK_THROWS_WITH(hf_tokenizer(j, "t.json"), Contains("t.json") && Contains(c.expect));
    }
    const test::scratch_dir dir("recur_hf_tokenizer_bad");
    const auto path = dir.write("broken/tokenizer.json", "{\"model\": ");
    CHECK_THROWS_AS(load_hf_tokenizer(dir.path() / "broken"), io_error);
    CHECK_THROWS_WITH(load_hf_tokenizer(dir.path() / "broken"), Contains("not valid JSON"));
    CHECK_THROWS_WITH(load_hf_tokenizer(dir.path() / "missing"), Contains("missing"));
}

TEST_CASE("load_tokenizer picks the format from the path, tokenizer_config.json names BOS and EOS, corpora tokenize",
          "[io][hf_tokenizer]") {
    const test::scratch_dir dir("recur_any_tokenizer");
    auto j = tiny_tokenizer();
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}})},
                           {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {5}}, {"tokens", {"<s>"}}}}}}};
    dir.write("m/tokenizer.json", j.dump());
    const auto plain = load_tokenizer(dir.path() / "m");
    CHECK(std::string(plain.kind()) == "huggingface");
    CHECK(plain.bos() == 5);  // the template's one prefix token
    CHECK_THROWS_WITH(plain.eos(), Contains("no EOS token"));
    CHECK_THROWS_WITH(plain.encode("ab", true, true), Contains("no EOS token"));
    CHECK_THROWS_WITH(load_tokenizer(dir.path() / "m", 5), Contains("beyond the model's vocabulary of 5"));

    dir.write("m/tokenizer_config.json", R"({"bos_token": "<s>", "eos_token": {"content": "c", "lstrip": false}})");
    const auto t = load_tokenizer(dir.path() / "m" / "tokenizer.json", 6);
    CHECK(t.eos() == 2);
    CHECK(t.encode("abcab", true, true) == std::vector<std::int32_t>{5, 4, 3, 2});
    CHECK(t.encode("ab", false, false) == std::vector<std::int32_t>{3});
    CHECK(t.decode(std::vector<std::int32_t>{4, 3}) == "abc ab");

    const auto corpus_file = dir.write("corpus.txt", "abc\n<|endoftext|>\nab\n");
    const auto corpus = tokenize_corpus(t, corpus_file, corpus_format::text, true);
    CHECK(corpus.documents == 2);
    std::vector<std::int32_t> expected;
    for (const char* doc : {"abc", "ab"}) t.encode_into(expected, doc, true, true);
    CHECK(corpus.ids == expected);

    dir.write("bad/tokenizer.json", j.dump());
    dir.write("bad/tokenizer_config.json", R"({"eos_token": "zzz"})");
    CHECK_THROWS_AS(load_tokenizer(dir.path() / "bad"), io_error);
    CHECK_THROWS_WITH(load_tokenizer(dir.path() / "bad"), Contains("tokenizer_config.json") && Contains("eos_token 'zzz'"));

    const std::string tok512 = std::string(RECUR_SHARED_DATA) + "/tok512.bin";
    if (!test::require_file(tok512)) return;
    const auto l2c = load_tokenizer(tok512, 512);
    CHECK(std::string(l2c.kind()) == "llama2.c");
    CHECK(l2c.bos() == 1);
    CHECK(l2c.get<llama2c_tokenizer>() != nullptr);
}
