// model_config JSON: round trip, defaults for missing keys, and errors that name the key.
// Not here: checkpoint formats (later io tests).
#include <catch2/catch.hpp>

#include <recur/io/config_json.hpp>

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
}

TEST_CASE("bad model_config JSON names the key", "[io][errors]") {
    CHECK_THROWS_WITH(model_config_from_json(json{{"d_modle", 64}}), Contains("unknown key 'd_modle'"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"n_heads", "eight"}}), Contains("'n_heads'") && Contains("wrong type"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"block", "mamba"}}), Contains("'block'") && Contains("'mamba'"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"n_heads", 8}, {"n_kv_heads", 3}}), Contains("n_kv_heads 3"));
    CHECK_THROWS_WITH(model_config_from_json(json{{"rope_scaling", {{"factr", 8}}}}), Contains("rope_scaling") && Contains("'factr'"));
    CHECK_THROWS_WITH(model_config_from_json(json::array()), Contains("JSON object"));
    CHECK_THROWS_WITH(load_model_config("/nonexistent/model.json"), Contains("cannot open '/nonexistent/model.json'"));
}
