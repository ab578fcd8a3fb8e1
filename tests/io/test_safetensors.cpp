// safetensors: F32/F64/BF16/F16 round trips, a hand-written file, sharded sets, module parameters (identical
// logits), and a table of corrupt inputs. Not here: Hugging Face configs and the PyTorch peer (test_hf.cpp).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/reference.hpp>
#include <recur/io/safetensors.hpp>

#include "support/scratch_dir.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;
using B = reference;

namespace {

/// Values k/8, exactly representable in bf16 and f16.
std::vector<float> eighths(std::int64_t n, int start = -7) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(start + static_cast<int>(i)) / 8.0f;
    return v;
}

Tensor<B> eighths_tensor(const Shape& s, int start = -7) { return Tensor<B>::from_host(eighths(s.numel(), start), s); }

/// A file with the given JSON header (length field = its size unless `declared`) and data bytes.
std::string raw_file(const std::string& header, std::size_t data_bytes, std::uint64_t declared = ~0ull) {
    std::string out(8, '\0');
    const std::uint64_t n = declared == ~0ull ? header.size() : declared;
    std::memcpy(out.data(), &n, 8);
    return out + header + std::string(data_bytes, '\x01');
}

/// One header entry: "name": {"dtype": ..., "shape": ..., "data_offsets": ...} (shape/offsets as JSON text).
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

model_config tiny_config() { return test::tiny_config(); }

std::vector<float> logits(const LlamaModel<B>& m) {
    const std::vector<std::int32_t> ids{1, 5, 2, 9, 3, 3, 7};
    no_grad off;
    return m.forward(Tensor<B>::from_host(ids, {1, 7})).to_host<float>();
}

named_tensors<B> parameters_of(LlamaModel<B>& m) {
    named_tensors<B> out;
    for (const auto& p : named_parameters<B>(m)) out.emplace_back(p.name, *p.tensor);
    return out;
}

/// The message of the io_error `f` throws ("" if it throws none).
std::string io_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const io_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("save_safetensors and safetensors_file round-trip F32, F64, BF16 and F16", "[io][safetensors]") {
    const test::scratch_dir dir("recur_safetensors_roundtrip");
    const std::vector<Shape> shapes{{}, {3}, {2, 3}, {2, 1, 3}, {1, 2, 2, 2}, {0, 4}};
    named_tensors<B> tensors;
    for (std::size_t i = 0; i < shapes.size(); ++i) {
        std::string name = "t";  // t6 .. t1: file order differs from sorted order
        name += std::to_string(shapes.size() - i);
        tensors.emplace_back(name, eighths_tensor(shapes[i], static_cast<int>(i)));
    }
    for (const dtype type : {dtype::f32, dtype::f64, dtype::bf16, dtype::f16}) {
        INFO(type);
        const auto path = dir / ("round_" + std::string(dtype_name(type)) + ".safetensors");
        save_safetensors<B>(path, tensors, type, {{"format", "pt"}, {"note", "hello"}});
        const safetensors_file f(path);
        CHECK(f.names() == std::vector<std::string>{"t1", "t2", "t3", "t4", "t5", "t6"});
        CHECK(f.metadata() == safetensors_metadata{{"format", "pt"}, {"note", "hello"}});
        for (const auto& [name, t] : tensors) {
            INFO(name);
            REQUIRE(f.contains(name));
            const auto& info = f.info(name);
            CHECK(info.type == type);
            CHECK(info.shape == t.shape());
            CHECK(info.bytes() == static_cast<std::uint64_t>(t.numel()) * dtype_size(type));
            CHECK(f.read_f32(name) == t.to_host<float>());
            CHECK(f.read<double>(name) == t.to_host<double>());
            CHECK(f.tensor<B>(name).to_host<float>() == t.to_host<float>());
            const auto stored = f.tensor<B>(name, dtype::bf16);
            CHECK(stored.dtype() == dtype::bf16);
            CHECK(stored.to_host<float>() == t.to_host<float>());
        }
        CHECK_FALSE(f.contains("t7"));
        // The header length is a multiple of 8 and the header is padded with spaces.
        std::ifstream in(path, std::ios::binary);
        std::uint64_t n = 0;
        in.read(reinterpret_cast<char*>(&n), 8);
        CHECK(n % 8 == 0);
        std::string header(n, '\0');
        in.read(header.data(), static_cast<std::streamsize>(n));
        CHECK(header.front() == '{');
        CHECK(header.find_last_not_of(' ') == header.rfind('}'));
    }
}

TEST_CASE("a hand-written file in the published safetensors layout is read", "[io][safetensors]") {
    const test::scratch_dir dir("recur_safetensors_layout");
    const std::string header = "{\"__metadata__\":{\"format\":\"pt\"}," + entry("a", "BF16", "[2]", "[0,4]") + "," +
                               entry("b", "F16", "[1,2]", "[4,8]") + "," + entry("c", "F32", "[1]", "[8,12]") + "}";
    std::string bytes = raw_file(header, 0);
    // bf16 1.0 = 0x3f80, -2.0 = 0xc000; f16 1.0 = 0x3c00, 0.5 = 0x3800; f32 0.25 = 0x3e800000 (little-endian).
    for (const unsigned char c : {0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3c, 0x00, 0x38, 0x00, 0x00, 0x80, 0x3e})
        bytes.push_back(static_cast<char>(c));
    const safetensors_file f(dir.write("layout.safetensors", bytes));
    CHECK(f.read_f32("a") == std::vector<float>{1.0f, -2.0f});
    CHECK(f.read_f32("b") == std::vector<float>{1.0f, 0.5f});
    CHECK(f.read_f32("c") == std::vector<float>{0.25f});
    CHECK(f.info("b").shape == Shape{1, 2});
    CHECK(f.metadata().at("format") == "pt");
    const auto t = f.tensor<B>("a");
    CHECK(t.dtype() == dtype::f32);
    CHECK(t.to_host<float>() == std::vector<float>{1.0f, -2.0f});
}

TEST_CASE("tensors of more than four dimensions are written and read with leading dimensions merged",
          "[io][safetensors]") {
    // Huginn-0125 keeps its RoPE table as a (1, T, 1, D/2, 2) tensor.
    const test::scratch_dir dir("recur_safetensors_rank5");
    const auto t = Tensor<B>::from_host(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, 1, 2, 2});
    save_safetensors<B>(dir / "r5.safetensors", {{"cis", t}}, dtype::f32, {}, {{"cis", {1, 3, 1, 2, 2}}});
    const safetensors_file f(dir / "r5.safetensors");
    CHECK(f.info("cis").dims == std::vector<std::int64_t>{1, 3, 1, 2, 2});
    CHECK(f.info("cis").shape == Shape{3, 1, 2, 2});
    CHECK(f.tensor<B>("cis").to_host<float>() == t.to_host<float>());
    CHECK_THROWS_WITH(save_safetensors<B>(dir / "bad.safetensors", {{"cis", t}}, dtype::f32, {}, {{"cis", {1, 5, 1, 2, 2}}}),
                      Contains("'cis'") && Contains("12 elements"));
}

TEST_CASE("safetensors_set reads a single file, a folder, and a sharded index", "[io][safetensors]") {
    const test::scratch_dir dir("recur_safetensors_set");
    std::filesystem::create_directories(dir.path() / "one");
    save_safetensors<B>(dir / "one/model.safetensors", named_tensors<B>{{"x", eighths_tensor({2, 2})}}, dtype::f32);
    for (const auto& path : {dir / "one", dir / "one/model.safetensors"}) {
        const safetensors_set s(path);
        CHECK(s.names() == std::vector<std::string>{"x"});
        CHECK(s.read_f32("x") == eighths(4));
        CHECK(s.shards().size() == 1);
    }

    std::filesystem::create_directories(dir.path() / "sharded");
    save_safetensors<B>(dir / "sharded/model-00001-of-00002.safetensors",
                        named_tensors<B>{{"b", eighths_tensor({3})}, {"a", eighths_tensor({2, 2}, 1)}}, dtype::bf16);
    save_safetensors<B>(dir / "sharded/model-00002-of-00002.safetensors",
                        named_tensors<B>{{"c", eighths_tensor({1, 2, 3}, -2)}}, dtype::f32);
    const nlohmann::json index{{"metadata", {{"total_size", 42}}},
                               {"weight_map",
                                {{"a", "model-00001-of-00002.safetensors"},
                                 {"b", "model-00001-of-00002.safetensors"},
                                 {"c", "model-00002-of-00002.safetensors"}}}};
    dir.write("sharded/model.safetensors.index.json", index.dump(2));
    for (const auto& path : {dir / "sharded", dir / "sharded/model.safetensors.index.json"}) {
        const safetensors_set s(path);
        CHECK(s.path() == dir / "sharded/model.safetensors.index.json");
        CHECK(s.names() == std::vector<std::string>{"a", "b", "c"});
        CHECK(s.shards().size() == 2);
        CHECK(s.metadata().at("total_size") == "42");
        CHECK(s.file_of("c").path() == dir / "sharded/model-00002-of-00002.safetensors");
        CHECK(s.info("a").type == dtype::bf16);
        CHECK(s.read_f32("a") == eighths(4, 1));
        CHECK(s.read_f32("b") == eighths(3));
        CHECK(s.tensor<B>("c").shape() == Shape{1, 2, 3});
        CHECK(s.tensor<B>("c").to_host<float>() == eighths(6, -2));
        CHECK_FALSE(s.contains("d"));
    }
}

TEST_CASE("save_parameters and load_parameters round-trip a LlamaModel with identical logits", "[io][safetensors]") {
    const test::scratch_dir dir("recur_safetensors_params");
    for (const bool tied : {false, true}) {
        auto c = tiny_config();
        c.tie_embeddings = tied;
        LlamaModel<B> source(c, 1), target(c, 2);
        REQUIRE(logits(source) != logits(target));
        save_parameters<B>(dir / "f32.safetensors", source);
        load_parameters<B>(target, safetensors_set(dir / "f32.safetensors"));
        CHECK(logits(target) == logits(source));
        for (const auto& p : named_parameters<B>(target)) {
            INFO(p.name);
            CHECK(p.tensor->requires_grad());
            CHECK(p.tensor->dtype() == dtype::f32);
        }

        // bf16: the loaded parameters are the source's rounded to bf16.
        save_parameters<B>(dir / "bf16.safetensors", source, dtype::bf16, {{"format", "pt"}});
        LlamaModel<B> rounded(c, 3);
        load_parameters<B>(rounded, safetensors_set(dir / "bf16.safetensors"));
        const auto a = named_parameters<B>(source), r = named_parameters<B>(rounded);
        REQUIRE(a.size() == r.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            INFO(a[i].name);
            CHECK(r[i].tensor->to_host<float>() == a[i].tensor->to(dtype::bf16).to_host<float>());
        }
    }

    // The same parameters split over two shards load identically.
    LlamaModel<B> source(tiny_config(), 1), target(tiny_config(), 2);
    auto all = parameters_of(source);
    const auto half = static_cast<std::ptrdiff_t>(all.size() / 2);
    std::filesystem::create_directories(dir.path() / "shards");
    save_safetensors<B>(dir / "shards/first.safetensors", named_tensors<B>(all.begin(), all.begin() + half));
    save_safetensors<B>(dir / "shards/second.safetensors", named_tensors<B>(all.begin() + half, all.end()));
    nlohmann::json index{{"weight_map", nlohmann::json::object()}};
    for (std::size_t i = 0; i < all.size(); ++i)
        index["weight_map"][all[i].first] = static_cast<std::ptrdiff_t>(i) < half ? "first.safetensors" : "second.safetensors";
    dir.write("shards/model.safetensors.index.json", index.dump());
    load_parameters<B>(target, safetensors_set(dir.path() / "shards"));
    CHECK(logits(target) == logits(source));

    // An extra tensor loads when the filter accepts it.
    all.emplace_back("model.rotary.extra", eighths_tensor({2}));
    save_safetensors<B>(dir / "extra.safetensors", all);
    LlamaModel<B> other(tiny_config(), 4);
    load_parameters<B>(other, safetensors_set(dir / "extra.safetensors"),
                       [](const std::string& n) { return n == "model.rotary.extra"; });
    CHECK(logits(other) == logits(source));
}

TEST_CASE("corrupt safetensors files, indexes and mismatched modules throw io_error naming file and tensor",
          "[io][safetensors][errors]") {
    const test::scratch_dir dir("recur_safetensors_bad");
    const std::string good_a = entry("a", "F32", "[2]", "[0,8]");
    auto header_case = [&](const std::string& file, const std::string& header, std::size_t data_bytes) {
        return [&dir, file, header, data_bytes] { safetensors_file(dir.write(file, raw_file("{" + header + "}", data_bytes))); };
    };
    // An index over shard.safetensors (tensors a, b) with the given weight_map JSON.
    auto index_case = [&](const std::string& file, const std::string& weight_map) {
        return [&dir, file, weight_map] {
            save_safetensors<B>(dir / "shard.safetensors",
                                named_tensors<B>{{"a", eighths_tensor({2})}, {"b", eighths_tensor({2})}});
            safetensors_set(dir.write(file, "{\"weight_map\":" + weight_map + "}"));
        };
    };
    // Loads into tiny_config() a file holding the parameters of `saved`, edited by `edit`.
    auto module_case = [&](const std::string& file, model_config saved, std::function<void(named_tensors<B>&)> edit) {
        return [&dir, file, saved, edit] {
            LlamaModel<B> src(saved, 1), dst(tiny_config(), 2);
            auto tensors = parameters_of(src);
            edit(tensors);
            save_safetensors<B>(dir / file, tensors);
            load_parameters<B>(dst, safetensors_set(dir / file));
        };
    };
    auto big_vocab = tiny_config();
    big_vocab.vocab_size = 13;

    struct bad_case {
        std::string what;
        std::function<void()> run;
        std::vector<std::string> expect;  // besides the file name (the first item)
    };
    const std::vector<bad_case> cases{
        {"file shorter than 8 bytes", [&] { safetensors_file(dir.write("short.safetensors", "\x10\0\0")); },
         {"short.safetensors", "shorter than the 8-byte"}},
        {"header length past the end", [&] { safetensors_file(dir.write("long.safetensors", raw_file("{}", 0, 1000))); },
         {"long.safetensors", "header length 1000"}},
        {"truncated data", header_case("cut.safetensors", good_a, 6), {"cut.safetensors", "'a'", "run past"}},
        {"malformed JSON", header_case("json.safetensors", "\"a\":{\"dtype\":", 0), {"json.safetensors", "not valid JSON"}},
        {"header not an object", [&] { safetensors_file(dir.write("array.safetensors", raw_file("[1, 2]", 0))); },
         {"array.safetensors", "expected an object"}},
        {"entry not an object", header_case("entry.safetensors", "\"w\":3", 0), {"entry.safetensors", "'w'", "expected an object"}},
        {"missing dtype", header_case("nodtype.safetensors", "\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}", 4),
         {"nodtype.safetensors", "'w'", "no 'dtype'"}},
        {"dtype of the wrong type",
         header_case("dtypetype.safetensors", "\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}", 4),
         {"dtypetype.safetensors", "'w'", "'dtype'"}},
        {"unknown dtype", header_case("dtype.safetensors", entry("w", "I64", "[1]", "[0,8]"), 8),
         {"dtype.safetensors", "'w'", "unsupported dtype 'I64'"}},
        {"shape not an array", header_case("shapetype.safetensors", entry("w", "F32", "4", "[0,16]"), 16),
         {"shapetype.safetensors", "'w'", "'shape'"}},
        {"negative dimension", header_case("negative.safetensors", entry("w", "F32", "[-2,2]", "[0,0]"), 0),
         {"negative.safetensors", "'w'", "negative"}},
        {"fractional dimension", header_case("fraction.safetensors", entry("w", "F32", "[1.5]", "[0,4]"), 4),
         {"fraction.safetensors", "'w'", "non-negative integer"}},
        {"nine dimensions", header_case("rank.safetensors", entry("w", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4),
         {"rank.safetensors", "'w'", "9 dimensions", "at most 8"}},
        {"absurd dimensions",
         header_case("absurd.safetensors", entry("w", "F32", "[4294967296,4294967296,4294967296]", "[0,4]"), 4),
         {"absurd.safetensors", "'w'", "absurd"}},
        {"data_offsets not a pair", header_case("pair.safetensors", entry("w", "F32", "[1]", "[4]"), 4),
         {"pair.safetensors", "'w'", "[begin, end]"}},
        {"data_offsets reversed", header_case("reversed.safetensors", entry("w", "F32", "[0]", "[4,0]"), 4),
         {"reversed.safetensors", "'w'", "end before they begin"}},
        {"shape x dtype size != byte length", header_case("size.safetensors", entry("w", "BF16", "[3]", "[0,8]"), 8),
         {"size.safetensors", "'w'", "needs 6 bytes", "hold 8"}},
        {"offsets out of range", header_case("range.safetensors", entry("w", "F32", "[4]", "[16,32]"), 20),
         {"range.safetensors", "'w'", "run past the 20-byte data section"}},
        {"overlapping tensors",
         header_case("overlap.safetensors", entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]"), 12),
         {"overlap.safetensors", "'b'", "overlap", "'a'"}},
        {"gap between tensors",
         header_case("gap.safetensors", entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]"), 12),
         {"gap.safetensors", "'b'", "gap of 4 bytes", "'a'"}},
        {"trailing bytes", header_case("trailing.safetensors", good_a, 12), {"trailing.safetensors", "'a'", "4 bytes after"}},
        {"duplicate tensor", header_case("twice.safetensors", good_a + "," + entry("a", "F32", "[2]", "[0,8]"), 8),
         {"twice.safetensors", "'a'", "twice"}},
        {"metadata value not a string",
         header_case("meta.safetensors", "\"__metadata__\":{\"format\":1}," + good_a, 8),
         {"meta.safetensors", "'format'", "expected a string"}},
        {"tensor absent from the file",
         [&] { safetensors_file(dir.write("absent.safetensors", raw_file("{" + good_a + "}", 8))).info("nope"); },
         {"absent.safetensors", "'nope'"}},
        {"file missing", [&] { safetensors_set(dir / "missing.safetensors"); }, {"missing.safetensors", "cannot open"}},
        {"folder without checkpoint", [&] { safetensors_set(dir.path()); }, {dir.path().string(), "neither"}},
        {"index not JSON", [&] { safetensors_set(dir.write("broken.index.json", "{\"weight_map\":")); },
         {"broken.index.json", "not valid JSON"}},
        {"index without weight_map", [&] { safetensors_set(dir.write("nomap.index.json", "{\"metadata\":{}}")); },
         {"nomap.index.json", "'weight_map' is missing"}},
        {"weight_map value not a string", index_case("maptype.index.json", "{\"a\":[\"shard.safetensors\"]}"),
         {"maptype.index.json", "'a'", "expected a shard file name"}},
        {"missing shard", index_case("noshard.index.json", "{\"a\":\"gone.safetensors\"}"),
         {"noshard.index.json", "'gone.safetensors'", "'a'", "does not exist"}},
        {"shard name longer than the file system allows (found by fuzz_safetensors)",
         index_case("longname.index.json", "{\"a\":\"" + std::string(300, 'K') + ".safetensors\"}"),
         {"longname.index.json", "'a'", "cannot be opened", "File name too long"}},
        {"shard outside the folder", index_case("escape.index.json", "{\"a\":\"../shard.safetensors\"}"),
         {"escape.index.json", "'a'", "not a file name inside"}},
        {"weight_map names a tensor absent from its shard",
         index_case("absent.index.json",
                    "{\"a\":\"shard.safetensors\",\"b\":\"shard.safetensors\",\"z\":\"shard.safetensors\"}"),
         {"absent.index.json", "'z'", "does not contain it"}},
        {"shard holds a tensor the weight_map omits", index_case("omits.index.json", "{\"a\":\"shard.safetensors\"}"),
         {"omits.index.json", "'b'", "does not list"}},
        {"tensor in two shards",
         [&] {
             save_safetensors<B>(dir / "s1.safetensors", named_tensors<B>{{"a", eighths_tensor({2})}});
             save_safetensors<B>(dir / "s2.safetensors", named_tensors<B>{{"a", eighths_tensor({2})}, {"c", eighths_tensor({1})}});
             safetensors_set(dir.write("dup.index.json", R"({"weight_map":{"a":"s1.safetensors","c":"s2.safetensors"}})"));
         },
         {"dup.index.json", "'a'", "'s1.safetensors'", "'s2.safetensors'"}},
        {"missing parameter",
         module_case("missing.params.safetensors", tiny_config(),
                     [](named_tensors<B>& t) {
                         std::erase_if(t, [](const auto& e) { return e.first == "model.layers.1.mlp.up_proj.weight"; });
                     }),
         {"missing.params.safetensors", "'model.layers.1.mlp.up_proj.weight'", "missing"}},
        {"unexpected tensor",
         module_case("extra.params.safetensors", tiny_config(),
                     [](named_tensors<B>& t) { t.emplace_back("model.layers.0.extra.weight", eighths_tensor({2})); }),
         {"extra.params.safetensors", "'model.layers.0.extra.weight'", "not parameters of the module"}},
        {"shape mismatch vs the module", module_case("shape.params.safetensors", big_vocab, [](named_tensors<B>&) {}),
         {"shape.params.safetensors", "'model.embed_tokens.weight'", "(13, 16)", "(11, 16)"}},
    };
    CHECK(cases.size() >= 30);
    for (const auto& c : cases) {
        INFO(c.what);
        REQUIRE_THROWS_AS(c.run(), io_error);
        const std::string message = io_message(c.run);
        for (const auto& part : c.expect) CHECK_THAT(message, Contains(part));
    }
}
