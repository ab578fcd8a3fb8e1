// model_config JSON: round trip, defaults for missing keys, and errors that name the key; reading a
// whole text or JSON file (read_text.hpp). Not here: checkpoint formats (later io tests).
#include <catch2/catch.hpp>

#include <string>
#include <tuple>
#include <type_traits>

#include <recur/io/config_json.hpp>
#include <recur/io/read_text.hpp>

#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;
using nlohmann::json;

TEST_CASE("model_config survives a JSON round trip", "[io]") {
    model_config c;
    c.vocab_size = 4096;
    c.d_model = 256;
    c.ffn_dim = 704;
    c.qk_norm = true;
    c.block = block_kind::sandwich;
    c.rope = {500000.0, rope_layout::interleaved, llama3_rope_scaling{32, 1, 4, 8192}};
    const auto back = model_config_from_json(json::parse(to_json(c).dump()));
    CHECK(to_json(back) == to_json(c));
    CHECK(back.rope.scaling->factor == 32);
    CHECK(back.block == block_kind::sandwich);
    CHECK(model_config_from_json(json::object()).d_model == model_config{}.d_model);  // defaults
    CHECK(back.rope.theta == 500000.0);
    CHECK(back.rope.layout == rope_layout::interleaved);
    CHECK(back.rope.scaling->original_max_position_embeddings == 8192);
}

TEST_CASE("model_config's field table writes every key, leaves out an absent rope_scaling and documents each key", "[io]") {
    const model_config c;
    const json j = to_json(c);
    CHECK(j.size() == std::tuple_size_v<std::remove_cvref_t<decltype(model_config_fields)>> - 1);  // no rope_scaling
    CHECK_FALSE(j.contains("rope_scaling"));
    CHECK(j.at("head_dim") == c.d_model / c.n_heads);  // written resolved
    CHECK(j.at("rope_theta") == c.rope.theta);
    CHECK(j.at("rope_layout") == "half");
    CHECK_FALSE(model_config_from_json(json{{"rope_scaling", nullptr}}).rope.scaling);
    const std::string help = model_config_help();
    for (const auto& [key, value] : j.items()) CHECK_THAT(help, Contains("  " + key + " ("));
    CHECK_THAT(help, Contains("rope_layout (\"half\" | \"interleaved\", default \"half\")"));
    CHECK_THAT(help, Contains("rope_scaling (object)"));
}

TEST_CASE("bad model_config JSON names the key", "[io][errors]") {
    CHECK_THROWS_WITH(model_config_from_json(json{{"d_modle", 64}}), Contains("unknown key 'd_modle'"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"n_heads", "eight"}}), Contains("'n_heads'") && Contains("must be an integer"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"d_model", 1e119}}), Contains("'d_model'") && Contains("must be an integer"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"block", "mamba"}}), Contains("'block'") && Contains("'mamba'"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"n_heads", 8}, {"n_kv_heads", 3}}), Contains("n_kv_heads 3"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"rope_scaling", {{"factr", 8}}}}), Contains("rope_scaling") && Contains("'factr'"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"rope_scaling", 8}}, "m.json"),
                      Contains("m.json: model_config: rope_scaling: expected a JSON object"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"rope_theta", "big"}}), Contains("'rope_theta'"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"rope_layout", "twisted"}}), Contains("'rope_layout'") && Contains("half, interleaved"));
    CHECK_THROWS_WITH(model_config_from_json(json::array()), Contains("JSON object"));
    CHECK_THROWS_WITH(load_model_config("/nonexistent/model.json"), Contains("cannot open '/nonexistent/model.json'"));
}

TEST_CASE("check_model_size refuses models far beyond their weights or the machine's memory", "[io][errors]") {
    model_config c;
    CHECK_NOTHROW(check_model_size(c, 2, "small.json"));
    c.vocab_size = 1 << 20;  // 2^26 embedding values
    CHECK_THROWS_WITH(check_model_size(c, 2, "small.json", 1e6), Contains("small.json") && Contains("describes at least"));
    c.d_model = std::int64_t{1} << 40;
    c.ffn_dim = std::int64_t{1} << 40;
    CHECK_THROWS_AS(check_model_size(c, 2, "huge.json"), io_error);
    CHECK_THROWS_WITH(check_model_size(c, 2, "huge.json"), Contains("huge.json") && Contains("GiB of memory"));
    model_config long_context;
    long_context.max_seq_len = std::int64_t{1} << 50;  // RoPE tables alone
    CHECK_THROWS_WITH(check_model_size(long_context, 2, "rope.json"), Contains("max_seq_len"));
}

TEST_CASE("read_text_file and read_json_file name a missing file, a directory and bad JSON", "[io][errors]") {
    const test::scratch_dir dir("recur_test_read_text");
    dir.write("good.json", "{\"a\": 1}");
    dir.write("bad.json", "{\"a\": ");
    std::filesystem::create_directories(dir.path() / "folder");
    CHECK(detail::read_json_file(dir.path() / "good.json", "who")["a"] == 1);
    CHECK(detail::read_text_file(dir.path() / "good.json", "who") == "{\"a\": 1}");
    CHECK_THROWS_WITH(detail::read_text_file(dir.path() / "missing.json", "who"), Contains("who: cannot open") && Contains("missing.json"));
    // Opening a directory succeeds on Linux and reading it throws from inside the stream buffer.
    CHECK_THROWS_AS(detail::read_json_file(dir.path() / "folder", "who"), io_error);
    CHECK_THROWS_WITH(detail::read_json_file(dir.path() / "folder", "who"), Contains("folder' is a directory"));
    CHECK_THROWS_WITH(detail::read_json_file(dir.path() / "bad.json", "who"), Contains("bad.json' is not valid JSON"));
}
