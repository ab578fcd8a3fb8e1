// decoder and kv_cache: cached decoding equals the uncached full-sequence forward (ordinary and
// recurrent models, r = 1 and 4, Llama, OLMo-2 and sandwich blocks, rows of different lengths, batched
// extend and rewind), cache sharing and its memory, adaptive exit, continuous compute, self-speculative
// generation (equal to plain greedy decoding), and bad input. Not here: sampling and answer extraction
// (test_sampling.cpp, test_answer.cpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/infer/decoder.hpp>
#include <recur/infer/generate.hpp>
#include <recur/io/llama2c.hpp>

#include "support/shared_data.hpp"
#include "support/tiny_model.hpp"

using namespace recur;
using Catch::Contains;

namespace {

const std::string data_dir = RECUR_SHARED_DATA;

model_config tiny() { return test::tiny_config({.vocab = 13, .d = 16, .heads = 4, .kv_heads = 2, .seq = 32, .init_std = 0.3}); }

/// A tiny recurrent model: 1 prelude, 2 core and 1 coda layers, noise-initialised state.
template <class B>
Recurrent<B> tiny_recurrent(std::uint64_t seed = 3) {
    recurrence_options o;
    o.seed = 11;
    return Recurrent<B>(tiny(), 1, 2, 1, o, seed);
}

std::vector<std::int32_t> sequence(std::size_t n, std::int32_t vocab, std::int32_t salt = 0) {
    std::vector<std::int32_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<std::int32_t>((i * 7 + 3 + static_cast<std::size_t>(salt) * 5 + i * i) % static_cast<std::size_t>(vocab));
    return ids;
}

/// Logits (T, V) of the uncached forward over ids (batch 1) at r iterations.
template <class B, class Model>
std::vector<float> full_logits(const Model& m, const std::vector<std::int32_t>& ids, std::int64_t r) {
    no_grad off;
    const auto x = Tensor<B>::from_host(ids, {1, static_cast<std::int64_t>(ids.size())});
    if constexpr (RecurrentModel<Model>) return m.forward(x, r).template to_host<float>();
    else return m.forward(x).template to_host<float>();
}

/// Row t of a (T, V) host matrix.
std::vector<float> row_of(const std::vector<float>& m, std::size_t t, std::size_t v) {
    return {m.begin() + static_cast<std::ptrdiff_t>(t * v), m.begin() + static_cast<std::ptrdiff_t>((t + 1) * v)};
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
    return m;
}

/// Prefills `prompt` tokens of ids into row 0, then feeds the rest one token at a time; returns the
/// logits of every position (T, V) as the decoder produced them.
template <class B, class Model>
std::vector<float> decoded_logits(const Model& m, const std::vector<std::int32_t>& ids, std::size_t prompt,
                                  const decode_options& o) {
    decoder<B, Model> dec(m, o, 1, static_cast<std::int64_t>(ids.size()));
    std::vector<float> out = dec.prefill(0, std::span(ids).first(prompt), true).template to_host<float>();
    const std::int64_t row[] = {0};
    for (std::size_t t = prompt; t < ids.size(); ++t) {
        const auto l = dec.step(row, std::span(ids).subspan(t, 1)).template to_host<float>();
        out.insert(out.end(), l.begin(), l.end());
    }
    return out;
}

}  // namespace

TEST_CASE("cached decoding equals the uncached forward: tiny recurrent model, r = 1 and 4, full cache", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    const auto ids = sequence(14, 13);
    for (const std::int64_t r : {1, 4}) {
        INFO("r = " << r);
        decode_options o;
        o.r = r;
        const auto want = full_logits<cpu>(m, ids, r);
        const auto got = decoded_logits<cpu>(m, ids, 5, o);
        CHECK(max_abs_diff(got, want) < 1e-4);
    }
}

TEST_CASE("cached decoding equals the uncached forward on the reference backend in double", "[infer]") {
    const auto m = tiny_recurrent<reference64>();
    const auto ids = sequence(9, 13, 1);
    decode_options o;
    o.r = 3;
    CHECK(max_abs_diff(decoded_logits<reference64>(m, ids, 1, o), full_logits<reference64>(m, ids, 3)) < 1e-10);
}

TEST_CASE("cached decoding equals the uncached forward for OLMo-2 and sandwich blocks, ordinary and recurrent", "[infer]") {
    // OLMo-2: post-norm residuals and RMSNorm over the full q and k projections. Sandwich (Huginn-0125):
    // four norms, q and k biases, a scaled embedding. Every norm weight is perturbed so none is the identity.
    test::for_olmo2_and_sandwich<reference64>(tiny(), 4.0, [&]<class BlockT>(const model_config& c, const char* what) {
        INFO(what);
        rng gen(21);
        const auto perturb = [&](auto& model) {
            model.visit_parameters("", [&](const std::string&, Tensor<reference64>& t) {
                t = add(t, randn<reference64>(t.shape(), gen, 0.0, 0.2)).detach();
            });
        };
        LlamaModel<reference64, BlockT> llama(c, 4);
        perturb(llama);
        const auto ids = sequence(11, 13, 4);
        CHECK(max_abs_diff(decoded_logits<reference64>(llama, ids, 3, {}), full_logits<reference64>(llama, ids, 1)) < 1e-10);
        recurrence_options ro;
        ro.seed = 8;
        RecurrentOf<reference64, BlockT> m(c, 1, 2, 1, ro, 6);
        perturb(m);
        for (const std::int64_t r : {1, 3}) {
            INFO("r = " << r);
            decode_options o;
            o.r = r;
            CHECK(max_abs_diff(decoded_logits<reference64>(m, ids, 4, o), full_logits<reference64>(m, ids, r)) < 1e-10);
        }
    });
}

TEST_CASE("cached decoding of stories260K and its retrofit equals the uncached forward", "[infer][data]") {
    const auto llama = load_llama2c<cpu>(data_dir + "/stories260K.bin");
    const auto ids = sequence(40, 512, 2);
    CHECK(max_abs_diff(decoded_logits<cpu>(llama, ids, 17, {}), full_logits<cpu>(llama, ids, 1)) < 1e-4);

    recurrence_options ro;
    ro.adapter = adapter_init::passthrough;
    ro.seed = 5;
    auto m = retrofit(llama, surgery_spec{{0}, {1, 2, 3}, {4}}, ro, 9);
    // A lightly trained adapter: pass-through plus noise, so that the state matters at every iteration.
    rng gen(1);
    m.adapter.weight = add(m.adapter.weight, randn<cpu>(m.adapter.weight.shape(), gen, 0.0, 0.05)).detach();
    for (const std::int64_t r : {1, 4}) {
        INFO("r = " << r);
        decode_options o;
        o.r = r;
        CHECK(max_abs_diff(decoded_logits<cpu>(m, ids, 17, o), full_logits<cpu>(m, ids, r)) < 1e-4);
    }
}

TEST_CASE("greedy generation through the cache reproduces stories260K's reference tokens", "[infer][data]") {
    const auto llama = load_llama2c<cpu>(data_dir + "/stories260K.bin");
    const auto want = test::read_json_file(data_dir + "/stories260K_reference.json")["greedy_ids_from_bos"].get<std::vector<std::int32_t>>();
    generation_options o;
    o.max_new_tokens = 128;
    const auto res = generate<cpu>(llama, {{1}}, o);
    REQUIRE(res.tokens.size() == 1);
    CHECK(res.tokens[0] == std::vector<std::int32_t>(want.begin(), want.begin() + 128));
    CHECK(res.generated_tokens == 128);
    CHECK(res.decoded_tokens == 127);
    CHECK(res.cache_slots == 0);
}

TEST_CASE("a batch of prompts of different lengths decodes each row as if alone", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    const std::vector<std::vector<std::int32_t>> full{sequence(12, 13, 0), sequence(9, 13, 1), sequence(15, 13, 2)};
    const std::vector<std::size_t> prompt{3, 7, 1};
    decode_options o;
    o.r = 4;
    decoder<cpu, Recurrent<cpu>> dec(m, o, 3, 15);
    std::vector<std::vector<float>> got(3);
    for (std::int64_t i = 0; i < 3; ++i) {
        const auto& ids = full[static_cast<std::size_t>(i)];
        got[static_cast<std::size_t>(i)] = dec.prefill(i, std::span(ids).first(prompt[static_cast<std::size_t>(i)]), true).to_host<float>();
    }
    // Step every row that still has tokens, all together (rows listed out of order).
    for (std::size_t t = 0;; ++t) {
        std::vector<std::int64_t> rows;
        std::vector<std::int32_t> tokens;
        for (const std::int64_t i : {2, 0, 1}) {
            const auto k = static_cast<std::size_t>(i);
            if (prompt[k] + t < full[k].size()) {
                rows.push_back(i);
                tokens.push_back(full[k][prompt[k] + t]);
            }
        }
        if (rows.empty()) break;
        const auto l = dec.step(rows, tokens).to_host<float>();
        for (std::size_t j = 0; j < rows.size(); ++j) {
            const auto r = row_of(l, j, 13);
            auto& g = got[static_cast<std::size_t>(rows[j])];
            g.insert(g.end(), r.begin(), r.end());
        }
    }
    for (std::size_t i = 0; i < 3; ++i) {
        INFO("row " << i);
        CHECK(dec.length(static_cast<std::int64_t>(i)) == std::ssize(full[i]));
        CHECK(max_abs_diff(got[i], full_logits<cpu>(m, full[i], 4)) < 1e-4);
    }
}

TEST_CASE("every cache sharing policy runs and reports its memory", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    const auto ids = sequence(12, 13, 3);
    const std::int64_t r = 6;
    const auto want = full_logits<cpu>(m, ids, r);
    // One buffer is rows x capacity x kv heads x head dim floats; 2 ordinary layers, 2 core layers.
    const std::int64_t buffer = 1 * 12 * 2 * 4 * 4;
    struct expect {
        const char* policy;
        std::int64_t slots;
        bool exact;  // equals the full-sequence forward
    };
    for (const auto& e : {expect{"full", 6, true}, expect{"compress:6", 6, true}, expect{"compress:8", 6, true},
                          expect{"compress:2", 2, false}, expect{"compress:1", 1, false}, expect{"latest", 1, false}}) {
        INFO(e.policy);
        decode_options o;
        o.r = r;
        o.cache = cache_policy::parse(e.policy);
        CHECK(o.cache.name() == e.policy);
        decoder<cpu, Recurrent<cpu>> dec(m, o, 1, 12);
        dec.prefill(0, std::span(ids).first(4));
        const std::int64_t row[] = {0};
        std::vector<float> last;
        for (std::size_t t = 4; t < ids.size(); ++t) last = dec.step(row, std::span(ids).subspan(t, 1)).to_host<float>();
        CHECK(dec.cache().core_slots() == e.slots);
        CHECK(dec.cache().bytes() == 2 * (2 + 2 * e.slots) * buffer);
        CHECK(dec.cache().bytes_per_position() == 2 * (2 + 2 * e.slots) * 2 * 4 * 4);
        const double diff = max_abs_diff(last, row_of(want, 11, 13));
        if (e.exact) CHECK(diff < 1e-4);
        else CHECK(diff > 1e-4);  // sharing slots changes what later tokens read
        for (const float x : last) CHECK(std::isfinite(x));
    }
    // latest is compress:1 by definition: identical numbers.
    auto run = [&](const char* policy) {
        decode_options o;
        o.r = r;
        o.cache = cache_policy::parse(policy);
        return decoded_logits<cpu>(m, ids, 4, o);
    };
    CHECK(run("latest") == run("compress:1"));
}

TEST_CASE("compressed slots hold each position's entry from the last iteration mapped to them", "[infer]") {
    // compress:2 at r = 5: slot 0 is written by iterations 0, 2, 4 and slot 1 by 1, 3. A token that
    // exits after 1 iteration leaves slot 1 unwritten, so finish() fills it with its iteration-0 entry.
    kv_cache<reference64> cache({1, 4, 1, 2, 0, 1}, cache_policy::parse("compress:2"));
    const std::int64_t row[] = {0}, pos0[] = {0}, pos1[] = {1};
    auto write = [&](std::int64_t it, std::int64_t p, double value) {
        const auto slot = cache.core(it)[0];
        Tensor<reference64>::copy_into(slot.k.slice(1, p, 1), Tensor<reference64>::full({1, 1, 1, 2}, value), false);
    };
    auto read = [&](std::int64_t slot_iteration, std::int64_t p) {
        return cache.core(slot_iteration)[0].k.slice(1, p, 1).to_host<double>()[0];
    };
    for (std::int64_t it = 0; it < 5; ++it) write(it, 0, 10.0 + static_cast<double>(it));
    cache.finish(row, pos0, 1, 5);
    CHECK(read(0, 0) == 14.0);  // iteration 4
    CHECK(read(1, 0) == 13.0);  // iteration 3
    write(0, 1, 20.0);
    cache.finish(row, pos1, 1, 1);
    CHECK(read(0, 1) == 20.0);
    CHECK(read(1, 1) == 20.0);  // filled with the latest entry
    CHECK(cache.core_slots() == 2);

    // full: a slot first reached later starts as a copy of the previous one (each token's latest entry).
    kv_cache<reference64> full({1, 4, 1, 2, 0, 1}, cache_policy{});
    const std::int64_t rows2[] = {0};
    Tensor<reference64>::copy_into(full.core(0)[0].k.slice(1, 0, 1), Tensor<reference64>::full({1, 1, 1, 2}, 7.0), false);
    full.finish(rows2, pos0, 1, 1);
    CHECK(full.core(1)[0].k.slice(1, 0, 1).to_host<double>()[0] == 7.0);
    CHECK(full.core_slots() == 2);
}

TEST_CASE("adaptive exit: threshold 0 runs the maximum, a huge threshold stops at the minimum", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    const auto ids = sequence(10, 13, 4);
    decode_options fixed;
    fixed.r = 6;
    const auto want = decoded_logits<cpu>(m, ids, 3, fixed);
    for (const char* rule : {"kl:0", "entropy:0", "latent:0"}) {
        INFO(rule);
        decode_options o = fixed;
        o.exit = exit_options::parse(rule);
        CHECK(decoded_logits<cpu>(m, ids, 3, o) == want);
    }
    for (const auto& [rule, min, stops] : {std::tuple{"kl:1e30", 3, 3}, std::tuple{"kl:1e30", 1, 2},
                                           std::tuple{"entropy:1e30", 4, 4}, std::tuple{"latent:1e30", 1, 1},
                                           std::tuple{"latent:1e30", 5, 5}, std::tuple{"argmax:2", 1, 3}}) {
        INFO(rule << " min " << min);
        decode_options o = fixed;
        o.exit = exit_options::parse(rule);
        o.exit.min_iterations = min;
        decoder<cpu, Recurrent<cpu>> dec(m, o, 1, 10);
        dec.prefill(0, std::span(ids).first(3));
        const std::int64_t row[] = {0};
        for (std::size_t t = 3; t < ids.size(); ++t) {
            dec.step(row, std::span(ids).subspan(t, 1));
            // argmax:2 stops once the argmax held for 2 iterations; the tiny model's may keep changing.
            if (std::string(rule).starts_with("argmax")) CHECK(dec.last_iterations()[0] >= stops);
            else CHECK(dec.last_iterations()[0] == stops);
        }
    }
}

TEST_CASE("adaptive exit in a batch: rows stop at different iterations and still decode as if alone", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    decode_options o;
    o.r = 8;
    o.exit = exit_options::parse("latent:0.8");
    const std::vector<std::vector<std::int32_t>> seqs{sequence(9, 13, 5), sequence(9, 13, 6), sequence(9, 13, 7)};
    decoder<cpu, Recurrent<cpu>> together(m, o, 3, 9);
    std::vector<std::vector<float>> alone_logits(3), together_logits(3);
    std::vector<std::int64_t> counts;
    for (std::int64_t i = 0; i < 3; ++i) together.prefill(i, std::span(seqs[static_cast<std::size_t>(i)]).first(2));
    for (std::size_t t = 2; t < 9; ++t) {
        const std::int64_t rows[] = {0, 1, 2};
        const std::int32_t tokens[] = {seqs[0][t], seqs[1][t], seqs[2][t]};
        const auto l = together.step(rows, tokens).to_host<float>();
        for (std::size_t i = 0; i < 3; ++i) {
            const auto r = row_of(l, i, 13);
            together_logits[i].insert(together_logits[i].end(), r.begin(), r.end());
            counts.push_back(together.last_iterations()[i]);
        }
    }
    for (std::size_t i = 0; i < 3; ++i) {
        decoder<cpu, Recurrent<cpu>> alone(m, o, 1, 9);
        alone.prefill(0, std::span(seqs[i]).first(2));
        const std::int64_t row[] = {0};
        for (std::size_t t = 2; t < 9; ++t) {
            const auto l = alone.step(row, std::span(seqs[i]).subspan(t, 1)).to_host<float>();
            alone_logits[i].insert(alone_logits[i].end(), l.begin(), l.end());
        }
        CHECK(max_abs_diff(alone_logits[i], together_logits[i]) < 1e-5);
    }
    // The threshold was picked so that the counts vary: the test exercises rows leaving the batch.
    CHECK(*std::min_element(counts.begin(), counts.end()) < *std::max_element(counts.begin(), counts.end()));
    CHECK(*std::max_element(counts.begin(), counts.end()) <= 8);
}

TEST_CASE("continuous compute starts each decoded token from the previous token's final latent", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    const auto ids = sequence(10, 13, 8);
    const std::size_t prompt = 4;
    const std::int64_t r = 3;
    decode_options o;
    o.r = r;
    o.continuous = true;
    decoder<cpu, Recurrent<cpu>> dec(m, o, 1, 10);
    dec.prefill(0, std::span(ids).first(prompt));
    // The uncached forward with s_0 = noise for the prompt and the previous final latent for decoded tokens.
    const std::int64_t c = m.config.d_model;
    Tensor<cpu> start = m.initial_state(Tensor<cpu>::zeros({1, 10, c}), 0, 0);
    std::vector<std::vector<float>> got;
    const std::int64_t row[] = {0};
    for (std::size_t t = prompt; t < ids.size(); ++t) {
        Tensor<cpu>::copy_into(start.slice(1, static_cast<std::int64_t>(t), 1), dec.last_state(0), false);
        got.push_back(dec.step(row, std::span(ids).subspan(t, 1)).to_host<float>());
    }
    no_grad off;
    const auto want = m.forward(Tensor<cpu>::from_host(ids, {1, 10}), iteration_split{0, r}, 0, nullptr, start).to_host<float>();
    for (std::size_t t = prompt; t < ids.size(); ++t) CHECK(max_abs_diff(got[t - prompt], row_of(want, t, 13)) < 1e-4);
    // And it differs from starting from noise.
    decode_options fresh = o;
    fresh.continuous = false;
    CHECK(max_abs_diff(decoded_logits<cpu>(m, ids, prompt, fresh), decoded_logits<cpu>(m, ids, prompt, o)) > 1e-3);
}

TEST_CASE("generate: seeded sampling is reproducible and independent of the other prompts", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    generation_options o;
    o.max_new_tokens = 10;
    o.sampling.temperature = 1.0;
    o.sampling.top_k = 5;
    o.sampling.seed = 42;
    o.decode.r = 3;
    o.decode.exit = exit_options::parse("latent:0.3");
    const std::vector<std::int32_t> a = sequence(5, 13, 1), b = sequence(2, 13, 2);
    const auto both = generate<cpu>(m, {a, b}, o);
    const auto again = generate<cpu>(m, {a, b}, o);
    CHECK(both.tokens == again.tokens);
    // Row 1 alone: it must be row 1 there too, since each row seeds its own generator.
    CHECK(generate<cpu>(m, {b, b}, o).tokens[1] == both.tokens[1]);
    CHECK(both.tokens[0].size() == 10);
    CHECK(both.iterations[0].size() == 10);
    CHECK(both.iterations[0][0] == 3);  // the first new token comes from the prefill at full depth
    const auto s = both.iteration_summary();
    CHECK(s.min >= 1);
    CHECK(s.max <= 3);
    CHECK(std::accumulate(s.histogram.begin(), s.histogram.end(), std::int64_t{0}, [](std::int64_t n, const auto& kv) { return n + kv.second; }) == 20);
    o.sampling.seed = 43;
    CHECK(generate<cpu>(m, {a, b}, o).tokens != both.tokens);

    // Stop tokens end a row without being returned; stop_when ends it after the token.
    generation_options g;
    g.max_new_tokens = 8;
    g.decode.r = 2;
    const auto greedy = generate<cpu>(m, {a}, g).tokens[0];
    g.stop_tokens = {greedy[3]};
    const auto first = static_cast<std::size_t>(std::find(greedy.begin(), greedy.end(), greedy[3]) - greedy.begin());
    CHECK(generate<cpu>(m, {a}, g).tokens[0] == std::vector<std::int32_t>(greedy.begin(), greedy.begin() + static_cast<std::ptrdiff_t>(first)));
    g.stop_tokens.clear();
    g.stop_when = [](std::size_t, std::span<const std::int32_t> t) { return t.size() == 2; };
    CHECK(generate<cpu>(m, {a}, g).tokens[0] == std::vector<std::int32_t>(greedy.begin(), greedy.begin() + 2));
}

TEST_CASE("extend feeds several rows several tokens at once, and rewind forgets a row's tail", "[infer]") {
    const auto m = tiny_recurrent<reference64>();
    const std::vector<std::vector<std::int32_t>> full{sequence(10, 13, 0), sequence(8, 13, 1)};
    decode_options o;
    o.r = 3;
    decoder<reference64, Recurrent<reference64>> dec(m, o, 2, 12);
    dec.prefill(0, std::span(full[0]).first(4));
    dec.prefill(1, std::span(full[1]).first(2));
    // Three tokens for each row at its own position, in one call.
    const std::int64_t rows[] = {1, 0};
    std::vector<std::int32_t> ids(full[1].begin() + 2, full[1].begin() + 5);
    ids.insert(ids.end(), full[0].begin() + 4, full[0].begin() + 7);
    const auto got = dec.extend(rows, ids, 3, true).to_host<float>();
    CHECK(dec.length(0) == 7);
    CHECK(dec.length(1) == 5);
    const auto want1 = full_logits<reference64>(m, std::vector(full[1].begin(), full[1].begin() + 5), 3);
    const auto want0 = full_logits<reference64>(m, std::vector(full[0].begin(), full[0].begin() + 7), 3);
    for (std::size_t t = 0; t < 3; ++t) {
        CHECK(max_abs_diff(row_of(got, t, 13), row_of(want1, 2 + t, 13)) < 1e-10);
        CHECK(max_abs_diff(row_of(got, 3 + t, 13), row_of(want0, 4 + t, 13)) < 1e-10);
    }
    // A shallower pass writes different cache entries; rewinding over them and feeding other tokens
    // at full depth gives the forward of the new sequence, as if the forgotten ones never were.
    const std::int64_t row0[] = {0};
    const std::vector<std::int32_t> other{5, 9};
    dec.extend(row0, other, 2, false, 1);
    dec.rewind(0, 5);
    CHECK(dec.length(0) == 5);
    const std::vector<std::int32_t> tail{12, 3};
    const auto after = dec.extend(row0, tail, 2, true).to_host<float>();
    std::vector<std::int32_t> seq(full[0].begin(), full[0].begin() + 5);
    seq.insert(seq.end(), tail.begin(), tail.end());
    const auto want = full_logits<reference64>(m, seq, 3);
    CHECK(max_abs_diff(row_of(after, 0, 13), row_of(want, 5, 13)) < 1e-10);
    CHECK(max_abs_diff(row_of(after, 1, 13), row_of(want, 6, 13)) < 1e-10);
}

TEST_CASE("self-speculative generation equals plain greedy decoding at the full r, with its statistics", "[infer]") {
    const auto m = tiny_recurrent<cpu>();
    const std::vector<std::vector<std::int32_t>> prompts{sequence(5, 13, 1), sequence(2, 13, 2), sequence(7, 13, 3)};
    generation_options plain;
    plain.max_new_tokens = 20;
    plain.decode.r = 6;
    const auto want = generate<cpu>(m, prompts, plain);
    std::int64_t drafted = 0, accepted = 0;
    for (const std::int64_t draft_r : {1, 3, 5})
        for (const std::int64_t lookahead : {1, 3, 8}) {
            INFO("draft r " << draft_r << ", lookahead " << lookahead);
            generation_options g = plain;
            g.speculation = {draft_r, lookahead};
            const auto got = generate<cpu>(m, prompts, g);
            CHECK(got.tokens == want.tokens);
            CHECK(got.generated_tokens == want.generated_tokens);
            CHECK(got.decoded_tokens == want.decoded_tokens);
            for (const auto& row : got.iterations)
                CHECK(std::all_of(row.begin(), row.end(), [](std::int64_t it) { return it == 6; }));
            CHECK(got.verify_passes > 0);
            CHECK(got.accepted_tokens <= got.drafted_tokens);
            // Every round gives each row its accepted drafts and one full-depth token.
            CHECK(got.decoded_tokens <= got.accepted_tokens + 3 * got.verify_passes);
            CHECK(got.verify_passes <= want.decoded_tokens);
            drafted += got.drafted_tokens;
            accepted += got.accepted_tokens;
        }
    CHECK(drafted > 0);
    CHECK(accepted > 0);  // some drafts at r < 6 agree with r = 6 (else every round yields one token)

    // Stop tokens and stop_when end rows mid-round exactly as in plain decoding.
    generation_options stop = plain;
    stop.stop_tokens = {want.tokens[0][6]};
    stop.stop_when = [](std::size_t i, std::span<const std::int32_t> t) { return i == 1 && t.size() == 9; };
    generation_options stop_spec = stop;
    stop_spec.speculation = {2, 4};
    CHECK(generate<cpu>(m, prompts, stop_spec).tokens == generate<cpu>(m, prompts, stop).tokens);
}

TEST_CASE("self-speculative generation of stories260K's retrofit equals plain greedy decoding", "[infer][data]") {
    const auto llama = load_llama2c<cpu>(data_dir + "/stories260K.bin");
    recurrence_options ro;
    ro.adapter = adapter_init::passthrough;
    ro.seed = 5;
    const auto m = retrofit(llama, surgery_spec{{0}, {1, 2, 3}, {4}}, ro, 9);
    generation_options plain;
    plain.max_new_tokens = 48;
    plain.decode.r = 8;
    const std::vector<std::vector<std::int32_t>> prompts{{1}, {1, 403, 407, 261}};
    const auto want = generate<cpu>(m, prompts, plain);
    generation_options g = plain;
    g.speculation = {2, 4};
    const auto got = generate<cpu>(m, prompts, g);
    CHECK(got.tokens == want.tokens);
    CHECK(got.acceptance_rate() > 0.2);  // a pass-through retrofit changes little between r = 2 and 8
}

TEST_CASE("bad decoder input throws recur::error naming the problem", "[infer][errors]") {
    const auto m = tiny_recurrent<cpu>();
    decode_options o;
    o.r = 2;
    decoder<cpu, Recurrent<cpu>> dec(m, o, 2, 6);
    const std::vector<std::int32_t> ids{1, 2, 3, 4};
    dec.prefill(0, ids);
    CHECK_THROWS_WITH(dec.prefill(0, ids), Contains("exceed the capacity 6"));
    CHECK_THROWS_WITH(dec.prefill(2, ids), Contains("row 2 outside [0, 2)"));
    CHECK_THROWS_WITH(dec.prefill(1, std::span<const std::int32_t>()), Contains("no tokens"));
    const std::int64_t twice[] = {0, 0};
    const std::int32_t two[] = {1, 2};
    CHECK_THROWS_WITH(dec.step(twice, two), Contains("listed twice"));
    const std::int64_t one[] = {1};
    CHECK_THROWS_WITH(dec.step(one, two), Contains("2 tokens for 1 rows"));
    CHECK_THROWS_WITH((decoder<cpu, Recurrent<cpu>>(m, o, 1, 33)), Contains("max_seq_len 32"));
    CHECK_THROWS_WITH((decoder<cpu, Recurrent<cpu>>(m, o, 0, 8)), Contains("rows must be >= 1"));
    for (const char* bad : {"", "fulll", "compress", "compress:0", "compress:x", "compress:3x", "latest:2"})
        CHECK_THROWS_WITH(cache_policy::parse(bad), Contains("is not full, compress:N"));
    for (const char* bad : {"kl", "kl:", "kl:abc", "kl:-1", "kl:nan", "argmax:0", "argmax:1.5", "foo:1"})
        CHECK_THROWS_AS(exit_options::parse(bad), error);
    generation_options g;
    CHECK_THROWS_WITH(generate<cpu>(m, {{1, 2}, {}}, g), Contains("prompt 1 is empty"));
    CHECK_THROWS_WITH(generate<cpu>(m, {{1, 13}}, g), Contains("token 13 outside the vocabulary"));
    CHECK_THROWS_WITH(generate<cpu>(m, {std::vector<std::int32_t>(33, 1)}, g), Contains("exceeds max_seq_len 32"));

    const std::int64_t row1[] = {1};
    CHECK_THROWS_WITH(dec.extend(row1, two, 3), Contains("2 tokens for 1 rows of 3"));
    CHECK_THROWS_WITH(dec.rewind(0, 5), Contains("holds 4 tokens; cannot rewind to 5"));
    CHECK_THROWS_WITH(dec.rewind(0, -1), Contains("cannot rewind to -1"));
    g.decode.r = 4;
    const auto speculative = [&](auto edit) {
        generation_options s = g;
        s.speculation = {2, 3};
        edit(s);
        return generate<cpu>(m, {{1, 2}}, s);
    };
    CHECK_THROWS_WITH(speculative([](auto& s) { s.speculation.draft_r = 4; }), Contains("draft r in [1, 4), got 4"));
    CHECK_THROWS_WITH(speculative([](auto& s) { s.speculation.lookahead = 0; }), Contains("lookahead >= 1"));
    CHECK_THROWS_WITH(speculative([](auto& s) { s.sampling.temperature = 0.5; }), Contains("greedy"));
    CHECK_THROWS_WITH(speculative([](auto& s) { s.decode.cache = cache_policy::parse("latest"); }), Contains("cache 'full'"));
    CHECK_THROWS_WITH(speculative([](auto& s) { s.decode.exit = exit_options::parse("kl:0.01"); }), Contains("adaptive exit"));
    CHECK_THROWS_WITH(speculative([](auto& s) { s.decode.continuous = true; }), Contains("continuous compute"));
    generation_options ordinary;
    ordinary.speculation = {1, 2};
    const LlamaModel<cpu> llama(tiny(), 2);
    CHECK_THROWS_WITH(generate<cpu>(llama, {{1, 2}}, ordinary), Contains("needs a recurrent model"));
}
