// llm.c token files: version 1 and 2 round trips, the exact bytes on disk, and a table of malformed files.
// Not here: where the ids come from (test_tokenizer, test_text_corpus).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <recur/io/token_file.hpp>

#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;
using recur::test::scratch_dir;

namespace {

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {(std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()};
}

std::int32_t header_field(const std::string& bytes, int i) {
    std::int32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
}

std::string with_header_field(std::string bytes, int i, std::int32_t v) {
    std::memcpy(bytes.data() + 4 * i, &v, 4);
    return bytes;
}

}  // namespace

TEST_CASE("version 1 round trip: uint16 ids after llm.c's 1024-byte header", "[io]") {
    const scratch_dir dir("recur_token_file_v1");
    const std::vector<std::int32_t> ids{1, 403, 407, 0, 65535, 2, 511};
    const auto info = write_token_file(dir / "v1.bin", ids);
    CHECK(info.version == 1);
    CHECK(info.count == 7);
    const auto bytes = read_bytes(dir / "v1.bin");
    REQUIRE(bytes.size() == 1024 + 2 * ids.size());
    CHECK(header_field(bytes, 0) == 20240520);
    CHECK(header_field(bytes, 1) == 1);
    CHECK(header_field(bytes, 2) == 7);
    for (int i = 3; i < 256; ++i) CHECK(header_field(bytes, i) == 0);
    std::uint16_t fifth;
    std::memcpy(&fifth, bytes.data() + 1024 + 2 * 4, 2);
    CHECK(fifth == 65535);
    CHECK(read_token_file(dir / "v1.bin") == ids);
    CHECK(read_token_file(dir / "v1.bin", 65536) == ids);
    const auto back = read_token_file_info(dir / "v1.bin");
    CHECK(back.version == 1);
    CHECK(back.count == 7);
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);  // no temporary left behind
}

TEST_CASE("version 2 round trip: uint32 ids, chosen automatically above 65535", "[io]") {
    const scratch_dir dir("recur_token_file_v2");
    const std::vector<std::int32_t> big{1, 65536, 151935, 2147483647, 0};
    CHECK(write_token_file(dir / "auto.bin", big).version == 2);
    CHECK(read_token_file_info(dir / "auto.bin").count == 5);
    CHECK(std::filesystem::file_size(dir / "auto.bin") == 1024 + 4 * 5);
    CHECK(read_token_file(dir / "auto.bin") == big);
    const std::vector<std::int32_t> small{5, 6, 7};
    CHECK(write_token_file(dir / "forced.bin", small, 2).version == 2);
    CHECK(std::filesystem::file_size(dir / "forced.bin") == 1024 + 4 * 3);
    CHECK(read_token_file(dir / "forced.bin") == small);
    CHECK(write_token_file(dir / "empty.bin", std::vector<std::int32_t>{}).count == 0);
    CHECK(read_token_file(dir / "empty.bin").empty());
}

TEST_CASE("ids that do not fit are refused before anything is written", "[io][errors]") {
    const scratch_dir dir("recur_token_file_refused");
    write_token_file(dir / "keep.bin", std::vector<std::int32_t>{4, 5});
    CHECK_THROWS_WITH(write_token_file(dir / "keep.bin", std::vector<std::int32_t>{1, 70000}, 1),
                      Contains("keep.bin") && Contains("id 70000") && Contains("version 2"));
    CHECK_THROWS_WITH(write_token_file(dir / "keep.bin", std::vector<std::int32_t>{1, -4}),
                      Contains("id -4 at position 1 is negative"));
    CHECK_THROWS_WITH(write_token_file(dir / "keep.bin", std::vector<std::int32_t>{1}, 3), Contains("version 3"));
    CHECK(read_token_file(dir / "keep.bin") == std::vector<std::int32_t>{4, 5});
}

TEST_CASE("malformed token files throw io_error naming the file", "[io][errors]") {
    const scratch_dir dir("recur_token_file_malformed");
    write_token_file(dir / "good1.bin", std::vector<std::int32_t>{1, 300, 511, 7});
    write_token_file(dir / "good2.bin", std::vector<std::int32_t>{1, 300, 511, 7}, 2);
    const std::string v1 = read_bytes(dir / "good1.bin"), v2 = read_bytes(dir / "good2.bin");
    std::string huge_id = v2;
    const std::uint32_t above_int32 = 3000000000u;
    std::memcpy(huge_id.data() + 1024 + 4, &above_int32, 4);
    struct bad_file {
        std::string name, bytes;
        std::int64_t vocab_size;
        std::string problem;
    };
    const std::vector<bad_file> table{
        {"empty.bin", "", -1, "shorter than the 1024-byte header"},
        {"short_header.bin", v1.substr(0, 1000), -1, "file of 1000 bytes is shorter than the 1024-byte header"},
        {"magic.bin", with_header_field(v1, 0, 20240521), -1, "magic 20240521, expected 20240520"},
        {"version.bin", with_header_field(v1, 1, 3), -1, "version 3, expected 1"},
        {"negative_count.bin", with_header_field(v1, 2, -1), -1, "negative token count -1"},
        {"cut.bin", v1.substr(0, v1.size() - 1), -1, "needs 1032 (truncated)"},
        {"count_high.bin", with_header_field(v1, 2, 5), -1, "5 tokens) needs 1034 (truncated)"},
        {"trailing.bin", v1 + "zz", -1, "1034 bytes, but its header (version 1, 4 tokens) needs 1032 (trailing bytes)"},
        {"v2_as_v1.bin", with_header_field(v2, 1, 1), -1, "(trailing bytes)"},
        {"vocab.bin", v1, 300, "id 300 at position 1 is not below the vocab size 300"},
        {"vocab2.bin", v2, 511, "id 511 at position 2 is not below the vocab size 511"},
        {"huge_id.bin", huge_id, -1, "id 3000000000 at position 1 does not fit int32"},
    };
    for (const auto& bad : table) {
        INFO(bad.name);
        const auto path = dir.write(bad.name, bad.bytes);
        REQUIRE_THROWS_AS(read_token_file(path, bad.vocab_size), io_error);
        REQUIRE_THROWS_WITH(read_token_file(path, bad.vocab_size), Contains(path) && Contains(bad.problem));
    }
    REQUIRE_THROWS_WITH(read_token_file(dir / "missing.bin"), Contains("cannot open") && Contains("missing.bin"));
    CHECK(read_token_file(dir / "good1.bin", 512).size() == 4);
}
