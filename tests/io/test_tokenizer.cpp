// The llama2.c tokenizer against stories260K_reference.json, its O(n log n) encode against a literal port
// of llama2.c's O(n^2) loop, decoding, and a table of malformed tokenizer files. Not here: corpora (test_text_corpus).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include <recur/io/tokenizer.hpp>

#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;
using recur::test::scratch_dir;
using namespace std::string_literals;

namespace {
const std::string data_dir = RECUR_SHARED_DATA;

const llama2c_tokenizer& tok512() {
    static const llama2c_tokenizer t = load_llama2c_tokenizer(data_dir + "/tok512.bin", 512);
    return t;
}

nlohmann::json reference() {
    std::ifstream f(data_dir + "/stories260K_reference.json");
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}

std::string read_bytes(const std::string& path, std::size_t limit = std::string::npos) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f.good());
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return s.substr(0, limit);
}

/// llama2.c's encode(), line for line (run.c): code points looked up one by one, then repeated full
/// scans for the best-scoring adjacent merge. The one departure: a dummy-prefix space missing from
/// the vocabulary falls back to its byte token, as in the library, where llama2.c would store -1.
std::vector<std::int32_t> naive_encode(const llama2c_tokenizer& t, std::string_view text, bool bos, bool eos) {
    std::vector<std::int32_t> tokens;
    if (bos) tokens.push_back(1);
    if (!text.empty()) {
        const std::int32_t dummy_prefix = t.find(" ");
        tokens.push_back(dummy_prefix >= 0 ? dummy_prefix : ' ' + 3);
    }
    std::string str_buffer, pair;
    for (std::size_t c = 0; c < text.size(); ++c) {
        if ((text[c] & 0xC0) != 0x80) str_buffer.clear();
        str_buffer += text[c];
        const char following = c + 1 < text.size() ? text[c + 1] : '\0';
        if ((following & 0xC0) == 0x80 && str_buffer.size() < 4) continue;
        const std::int32_t id = t.find(str_buffer);
        if (id != -1) {
            tokens.push_back(id);
        } else {
            for (const char b : str_buffer) tokens.push_back(static_cast<unsigned char>(b) + 3);
        }
        str_buffer.clear();
    }
    while (true) {
        float best_score = -1e10f;
        std::int32_t best_id = -1;
        std::ptrdiff_t best_idx = -1;
        for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
            pair.assign(t.piece(tokens[i])).append(t.piece(tokens[i + 1]));
            const std::int32_t id = t.find(pair);
            if (id != -1 && t.score(id) > best_score) {
                best_score = t.score(id);
                best_id = id;
                best_idx = static_cast<std::ptrdiff_t>(i);
            }
        }
        if (best_idx == -1) break;
        tokens[static_cast<std::size_t>(best_idx)] = best_id;
        tokens.erase(tokens.begin() + best_idx + 1);
    }
    if (eos) tokens.push_back(2);
    return tokens;
}

const std::vector<std::string> tricky_strings{
    "", " ", "a", "  leading and trailing  ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "eeeeeeeeeeeeeeeee", "                ",
    "\n\n\n", "Once upon a time", "Lily's \"big\" day!\n\nThe end.", "caf\xc3\xa9 na\xc3\xafve \xc3\xa9\xc3\xa9\xc3\xa9",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80 smile", "\xff\xfe\x01 bytes", "\x80\x80\x80\x80\x80\x80 orphans",
    "\xf0\x9f\x98\x80\x80\x80 overlong run", "\xe6\x97", "nul\0inside"s, "<0x41> is not a byte token in text",
    "\t\ttabs\r\n", "12345678901234567890", "~~~~~~~~^^^^^^^^"};

/// Pieces 0-258 as in any llama2.c vocabulary, then `extra` (piece, score) pairs.
llama2c_tokenizer small_vocab(const std::vector<std::pair<std::string, float>>& extra) {
    std::vector<std::string> pieces{"<unk>", "\n<s>\n", "\n</s>\n"};
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        pieces.emplace_back(buf);
    }
    std::vector<float> scores(pieces.size(), 0.0f);
    for (const auto& [p, s] : extra) pieces.push_back(p), scores.push_back(s);
    return {pieces, scores};
}
}  // namespace

TEST_CASE("tok512 reproduces the reference encoding and decodes it back", "[io][data]") {
    const auto& t = tok512();
    CHECK(t.vocab_size() == 512);
    CHECK(t.bos() == 1);
    CHECK(t.eos() == 2);
    const auto ref = reference();
    const auto text = ref["encode_text"].get<std::string>();
    const auto want = ref["encode_ids"].get<std::vector<std::int32_t>>();
    REQUIRE(want.size() == 994);
    CHECK(t.encode(text, true, false) == want);
    CHECK(t.decode(want) == text);
    auto with_eos = want;
    with_eos.push_back(2);
    CHECK(t.encode(text, true, true) == with_eos);
    auto greedy = ref["greedy_ids_from_bos"].get<std::vector<std::int32_t>>();  // what follows BOS
    greedy.insert(greedy.begin(), 1);
    CHECK(t.decode(greedy) == ref["greedy_text"].get<std::string>());
}

TEST_CASE("fast encode equals llama2.c's quadratic loop on real text", "[io][data]") {
    const auto& t = tok512();
    const std::string stories = read_bytes(data_dir + "/tinystories_valid.txt", 3000);  // newlines, blank lines
    const std::string gsm8k = read_bytes(data_dir + "/gsm8k_test.jsonl", 1500);         // escapes, digits, symbols
    const auto fast_stories = t.encode(stories, true, false);
    CHECK(fast_stories == naive_encode(t, stories, true, false));
    CHECK(fast_stories.size() < stories.size() / 2);  // merges happened
    CHECK(t.encode(gsm8k, false, true) == naive_encode(t, gsm8k, false, true));
}

TEST_CASE("fast encode equals llama2.c's loop on tricky strings and round-trips through decode", "[io]") {
    const auto& t = tok512();
    for (const auto& s : tricky_strings) {
        INFO("text: " << s);
        CHECK(t.encode(s, true, false) == naive_encode(t, s, true, false));
        CHECK(t.encode(s, false, true) == naive_encode(t, s, false, true));
        CHECK(t.decode(t.encode(s, true, true)) == s);
    }
    CHECK(t.encode("", false, false).empty());
    CHECK(t.encode("", true, true) == std::vector<std::int32_t>{1, 2});
    CHECK(t.encode("\xff", false, false) == std::vector<std::int32_t>{t.find(" "), 0xff + 3});
}

TEST_CASE("fast encode equals llama2.c's loop on random strings", "[io]") {
    const auto& t = tok512();
    const std::vector<std::string> parts{"a", "e", "t", "h", " ", "  ", "the", "\n", "\xc3\xa9", "\xf0\x9f\x98\x80",
                                         "\xff", "\x80", std::string(1, '\0'), ".", "Lily"};
    std::mt19937 gen(7);
    for (int trial = 0; trial < 300; ++trial) {
        std::string s;
        const auto n = std::uniform_int_distribution<int>(0, 60)(gen);
        for (int i = 0; i < n; ++i) s += parts[std::uniform_int_distribution<std::size_t>(0, parts.size() - 1)(gen)];
        INFO("trial " << trial);
        REQUIRE(t.encode(s, trial % 2 == 0, false) == naive_encode(t, s, trial % 2 == 0, false));
    }
}

TEST_CASE("ties merge leftmost, low scores never merge, duplicates encode as their lowest id", "[io]") {
    // No " " piece: the dummy prefix falls back to byte token 0x20 + 3 = 35.
    const auto t = small_vocab({{"a", -1}, {"b", -1}, {"aa", -2}, {"ab", -2}, {"bb", -1e10f}, {"aa", -1}});
    const std::int32_t a = 259, b = 260, aa = 261, ab = 262;
    CHECK(t.find("aa") == aa);
    CHECK(t.encode("ab", false, false) == std::vector<std::int32_t>{35, ab});
    CHECK(t.encode("aaa", false, false) == std::vector<std::int32_t>{35, aa, a});
    CHECK(t.encode("aab", false, false) == std::vector<std::int32_t>{35, aa, b});  // "aa" and "ab" tie: leftmost
    CHECK(t.encode("bb", false, false) == std::vector<std::int32_t>{35, b, b});    // score -1e10 is never taken
    for (const char* s : {"aaa", "aab", "abab", "aabaab", "bbbb", "baaab", "aaaaaaa"}) {
        INFO(s);
        CHECK(t.encode(s, true, false) == naive_encode(t, s, true, false));
    }
    CHECK(t.decode(t.encode("aab", false, false)) == " aab");  // no BOS: the dummy space stays

    // A piece with an inner space: merges may cross spaces, so encode must not split words apart.
    const auto spaced = small_vocab({{" ", -1}, {"a", -1}, {"b", -1}, {" a", -2}, {"a ", -1.5f}, {"a b", -3}});
    const std::int32_t space = 259, a_space_b = 264;
    CHECK(spaced.encode("a b", false, false) == std::vector<std::int32_t>{space, a_space_b});
    for (const char* s : {"a b", "a b a b", " a  b a", "b a b"}) {
        INFO(s);
        CHECK(spaced.encode(s, true, false) == naive_encode(spaced, s, true, false));
    }
}

TEST_CASE("decode follows llama2.c: space stripped after BOS, byte tokens become bytes", "[io]") {
    const auto& t = tok512();
    const std::int32_t once = t.find(" Once");
    REQUIRE(once > 258);
    CHECK(t.decode_piece(1, once) == "Once");
    CHECK(t.decode_piece(once, once) == " Once");
    CHECK(t.decode_piece(-1, 13) == "\n");
    CHECK(t.decode_piece(1, 3).size() == 1);
    CHECK(t.decode_piece(1, 3)[0] == '\0');
    CHECK(t.decode_piece(7, 1) == "\n<s>\n");
    CHECK(t.piece(13) == "<0x0A>");
    CHECK(t.decode(std::vector<std::int32_t>{1, once, 13, 2, 1, once}) == "Once\nOnce");
}

TEST_CASE("ids out of range throw recur::error naming the id and the vocab size", "[io][errors]") {
    const auto& t = tok512();
    CHECK_THROWS_AS(t.decode(std::vector<std::int32_t>{5, 512}), error);
    CHECK_THROWS_WITH(t.decode(std::vector<std::int32_t>{5, 512}), Contains("token id 512") && Contains("512 tokens"));
    CHECK_THROWS_WITH(t.decode_piece(1, -3), Contains("token id -3"));
    CHECK_THROWS_WITH(t.piece(100000), Contains("token id 100000"));
    CHECK_THROWS_AS(small_vocab({}).score(259), error);
}

TEST_CASE("malformed tokenizer files throw io_error naming the file and the token", "[io][errors]") {
    const scratch_dir dir("recur_tokenizer_malformed");
    const std::string good = read_bytes(data_dir + "/tok512.bin");
    std::vector<std::size_t> record;  // byte offset of each token's record
    for (std::size_t pos = 4; pos < good.size();) {
        record.push_back(pos);
        std::int32_t len;
        std::memcpy(&len, good.data() + pos + 4, 4);
        pos += 8 + static_cast<std::size_t>(len);
    }
    REQUIRE(record.size() == 512);
    auto with_i32 = [&](std::size_t at, std::int32_t v) {
        std::string s = good;
        std::memcpy(s.data() + at, &v, 4);
        return s;
    };
    auto with_f32 = [&](std::size_t at, float v) {
        std::string s = good;
        std::memcpy(s.data() + at, &v, 4);
        return s;
    };
    struct bad_file {
        std::string name, bytes;
        std::int64_t expected_vocab;
        std::string problem;
    };
    const std::vector<bad_file> table{
        {"empty.bin", "", -1, "shorter than the 4-byte max_token_length"},
        {"max_zero.bin", with_i32(0, 0), -1, "max_token_length 0"},
        {"max_huge.bin", with_i32(0, 1 << 30), -1, "max_token_length 1073741824"},
        {"cut_piece.bin", good.substr(0, record[300] + 9), -1, "token 300 is truncated: its piece needs"},
        {"cut_header.bin", good.substr(0, record[300] + 5), -1, "token 300 is truncated: its score and length"},
        {"negative_len.bin", with_i32(record[5] + 4, -7), -1, "token 5 has length -7"},
        {"zero_len.bin", with_i32(record[6] + 4, 0), -1, "token 6 has length 0"},
        {"absurd_len.bin", with_i32(record[7] + 4, 2000000000), -1, "token 7 has length 2000000000"},
        {"over_max.bin", with_i32(0, 3), -1, "expected 1 to max_token_length 3"},
        {"trailing3.bin", good + "xyz", -1, "token 512 is truncated"},
        {"trailing8.bin", good + std::string(8, '\0'), -1, "token 512 has length 0"},
        {"trailing_fixed.bin", good + "x", 512, "1 trailing bytes after the expected 512 tokens"},
        {"fewer.bin", good, 600, "holds 512 tokens, expected 600"},
        {"more.bin", good, 300, "trailing bytes after the expected 300 tokens"},
        {"small_vocab.bin", good.substr(0, record[200]), -1, "at least 259"},
        {"byte_token.bin", [&] { auto s = good; s[record[10] + 8 + 4] = '8'; return s; }(), -1,
         "token 10 is '<0x08>', expected the byte token for 0x07"},
        {"nan_score.bin", with_f32(record[400], std::numeric_limits<float>::quiet_NaN()), -1, "token 400 has a NaN score"},
    };
    for (const auto& bad : table) {
        INFO(bad.name);
        const auto path = dir.write(bad.name, bad.bytes);
        REQUIRE_THROWS_AS(load_llama2c_tokenizer(path, bad.expected_vocab), io_error);
        REQUIRE_THROWS_WITH(load_llama2c_tokenizer(path, bad.expected_vocab), Contains(path) && Contains(bad.problem));
    }
    REQUIRE_THROWS_WITH(load_llama2c_tokenizer(dir / "missing.bin"),
                        Contains("cannot open") && Contains("missing.bin"));
    CHECK(load_llama2c_tokenizer(data_dir + "/tok512.bin").vocab_size() == 512);
}
