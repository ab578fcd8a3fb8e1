// Training data: packing with EOS between documents, per-epoch permutations, seeds, resumable cursors,
// GSM8K answer-only masking with tok512, phases and mixtures, and bad inputs. Not here: tokenizing corpora.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/reference.hpp>
#include <recur/data/data_phases.hpp>
#include <recur/data/packed_tokens.hpp>
#include <recur/data/qa_examples.hpp>
#include <recur/io/token_file.hpp>
#include <recur/io/tokenizer.hpp>

#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;
using recur::test::scratch_dir;
using json = nlohmann::json;

namespace {

const std::string data_dir = RECUR_SHARED_DATA;
constexpr std::int32_t bos = 1, eos = 2, ignore = token_batch::ignore;

/// Ids 3, 4, ..., 3 + n - 1: every token distinct, no BOS after the first, so no EOS is inserted.
std::vector<std::int32_t> distinct_tokens(std::int32_t n) {
    std::vector<std::int32_t> t(static_cast<std::size_t>(n));
    std::iota(t.begin(), t.end(), 3);
    return t;
}

/// Documents of `docs` random lengths, each BOS then ids in [lo, hi).
std::vector<std::int32_t> documents(int docs, std::int32_t lo, std::int32_t hi, std::uint64_t seed) {
    rng gen(seed);
    std::vector<std::int32_t> t;
    for (int d = 0; d < docs; ++d) {
        t.push_back(bos);
        const auto len = 5 + uniform_below(gen, 40);
        for (std::uint64_t i = 0; i < len; ++i) t.push_back(lo + static_cast<std::int32_t>(uniform_below(gen, hi - lo)));
    }
    return t;
}

std::vector<token_batch> batches(data_source& s, int count, std::int64_t batch) {
    std::vector<token_batch> out;
    for (int i = 0; i < count; ++i) out.push_back(s.next(batch));
    return out;
}

bool same(const std::vector<token_batch>& a, const std::vector<token_batch>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].ids != b[i].ids || a[i].targets != b[i].targets || a[i].batch != b[i].batch || a[i].seq != b[i].seq)
            return false;
    return true;
}

std::vector<std::string> first_lines(const std::string& path, int n) {
    std::ifstream f(path);
    std::vector<std::string> lines;
    for (std::string line; static_cast<int>(lines.size()) < n && std::getline(f, line);) lines.push_back(line);
    return lines;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
}

}  // namespace

TEST_CASE("token_batch becomes (batch, seq) i32 tensors", "[data]") {
    const token_batch b{2, 3, {1, 5, 6, 1, 7, 8}, {5, 6, 2, ignore, 8, 9}};
    const auto t = to_tensors<reference>(b);
    CHECK(t.ids.shape() == Shape{2, 3});
    CHECK(t.targets.shape() == Shape{2, 3});
    CHECK(t.ids.dtype() == dtype::i32);
    CHECK(t.ids.to_host<std::int32_t>() == b.ids);
    CHECK(t.targets.to_host<std::int32_t>() == b.targets);
    CHECK_THROWS_WITH(to_tensors<reference>(token_batch{2, 3, {1, 2}, {1, 2}}), Contains("(2, 3)") && Contains("6 ids"));
}

TEST_CASE("packing puts EOS between documents and cuts windows of seq + 1 into ids and targets", "[data]") {
    const std::vector<std::int32_t> tokens{bos, 5, 6, bos, 7, 8, 9, bos, 10};
    packed_tokens p(tokens, 3, 20, 0);
    CHECK(p.stream() == std::vector<std::int32_t>{bos, 5, 6, eos, bos, 7, 8, 9, eos, bos, 10});
    REQUIRE(p.windows() == 2);  // 11 tokens: two windows of 4, three left over
    std::set<std::vector<std::int32_t>> rows;
    for (int i = 0; i < 2; ++i) {
        const auto b = p.next(1);
        CHECK(b.batch == 1);
        CHECK(b.seq == 3);
        rows.insert({b.ids[0], b.ids[1], b.ids[2], b.targets[0], b.targets[1], b.targets[2]});
    }
    CHECK(rows == std::set<std::vector<std::int32_t>>{{bos, 5, 6, 5, 6, eos}, {bos, 7, 8, 7, 8, 9}});

    CHECK(packed_tokens(tokens, 3, 20, 0, false).stream() == tokens);
    // A stream tokenized with EOS after each document gets no second EOS.
    const std::vector<std::int32_t> with_eos{bos, 5, eos, bos, 6, eos, bos, 7};
    CHECK(packed_tokens(with_eos, 3, 20, 0).stream() == with_eos);
}

TEST_CASE("packing a real token file: one EOS per document boundary", "[data]") {
    const auto tok = load_llama2c_tokenizer(data_dir + "/tok512.bin");
    const scratch_dir dir("recur_data_packing");
    std::vector<std::int32_t> ids;
    const std::vector<std::string> stories{"Once upon a time, there was a cat.", "The dog ran to the park.",
                                           "Lily liked to play with her red ball in the sun."};
    for (const auto& s : stories) tok.encode_into(ids, s, true, false);
    write_token_file(dir / "stories.bin", ids);
    const auto p = packed_tokens::from_file(dir / "stories.bin", 8, tok.vocab_size(), 0);
    CHECK(p.stream().size() == ids.size() + 2);
    CHECK(std::count(p.stream().begin(), p.stream().end(), eos) == 2);
    CHECK(tok.decode(p.stream()) == stories[0] + stories[1] + stories[2]);
    CHECK(p.windows() == static_cast<std::int64_t>(p.stream().size()) / 9);
}

TEST_CASE("every window appears exactly once per epoch, in a new order each epoch", "[data]") {
    const auto tokens = distinct_tokens(1000);
    packed_tokens p(tokens, 7, 2000, 42);
    REQUIRE(p.windows() == 125);
    std::vector<std::vector<std::int64_t>> orders;
    for (int epoch = 0; epoch < 3; ++epoch) {
        std::vector<std::int32_t> seen;   // each window as its seq + 1 tokens, in visiting order
        std::vector<std::int64_t> order;  // window index of each row
        for (int i = 0; i < 25; ++i) {
            const auto b = p.next(5);
            for (std::int64_t r = 0; r < 5; ++r) {
                const auto* ids = &b.ids[static_cast<std::size_t>(r * 7)];
                const auto* targets = &b.targets[static_cast<std::size_t>(r * 7)];
                CHECK(std::equal(ids + 1, ids + 7, targets));  // targets are the next tokens
                seen.insert(seen.end(), ids, ids + 7);
                seen.push_back(targets[6]);
                order.push_back((ids[0] - 3) / 8);
            }
        }
        CHECK(p.order().epoch() == epoch);
        std::sort(seen.begin(), seen.end());
        CHECK(seen == tokens);  // all 1000 tokens, each once (1000 = 125 * 8, nothing left over)
        std::vector<std::int64_t> identity(125);
        std::iota(identity.begin(), identity.end(), 0);
        CHECK(order != identity);
        orders.push_back(order);
    }
    CHECK(orders[0] != orders[1]);
    CHECK(orders[1] != orders[2]);
    p.next(1);
    CHECK(p.order().epoch() == 3);
}

TEST_CASE("the same seed gives the same batches, another seed others", "[data]") {
    const auto tokens = documents(200, 3, 500, 7);
    packed_tokens a(tokens, 16, 512, 1), b(tokens, 16, 512, 1), c(tokens, 16, 512, 2);
    const auto ba = batches(a, 30, 4), bb = batches(b, 30, 4), bc = batches(c, 30, 4);
    CHECK(same(ba, bb));
    CHECK(!same(ba, bc));
}

TEST_CASE("a packed cursor restored into a fresh source continues identically, across epochs", "[data]") {
    const auto tokens = documents(100, 3, 500, 3);
    for (const int k : {0, 3, 17}) {
        INFO("after " << k << " batches");
        packed_tokens a(tokens, 16, 512, 9);
        batches(a, k, 4);
        const json c = a.cursor();
        CHECK(c.at("source") == "packed_tokens");
        CHECK(c.at("seed") == 9);
        CHECK(c.at("position").get<std::int64_t>() + c.at("epoch").get<std::int64_t>() * a.windows() == 4 * k);
        packed_tokens b(tokens, 16, 512, 12345);  // the cursor's seed wins
        b.restore(json::parse(c.dump()));
        CHECK(b.cursor() == c);
        CHECK(same(batches(a, 3 * a.windows() / 4, 4), batches(b, 3 * a.windows() / 4, 4)));
    }
}

TEST_CASE("packed_tokens rejects bad tokens, too little data and bad cursors, naming them", "[data]") {
    CHECK_THROWS_WITH(packed_tokens(std::vector<std::int32_t>{1, 5, 512, 7}, 2, 512, 0),
                      Contains("id 512 at position 2") && Contains("512"));
    CHECK_THROWS_WITH(packed_tokens(std::vector<std::int32_t>{1, -4, 6, 7}, 2, 512, 0), Contains("id -4 at position 1"));
    CHECK_THROWS_WITH(packed_tokens(std::vector<std::int32_t>{1, 5, 6}, 3, 512, 0),
                      Contains("3 tokens") && Contains("seq + 1 = 4"));
    CHECK_THROWS_WITH(packed_tokens(std::vector<std::int32_t>{}, 1, 512, 0), Contains("0 tokens"));
    CHECK_THROWS_WITH(packed_tokens(std::vector<std::int32_t>{1, 5, 6}, 0, 512, 0), Contains("seq must be >= 1"));
    CHECK_THROWS_WITH(packed_tokens(std::vector<std::int32_t>{1, 0, 1, 0}, 1, 2, 0), Contains("EOS"));
    CHECK_NOTHROW(packed_tokens(std::vector<std::int32_t>{1, 0, 1, 0}, 1, 2, 0, false));

    const scratch_dir dir("recur_data_bad_tokens");
    write_token_file(dir / "big.bin", std::vector<std::int32_t>{1, 5, 600, 7, 8});
    CHECK_THROWS_AS(packed_tokens::from_file(dir / "big.bin", 2, 512, 0), io_error);
    CHECK_THROWS_WITH(packed_tokens::from_file(dir / "big.bin", 2, 512, 0),
                      Contains("big.bin") && Contains("id 600 at position 2"));
    CHECK_THROWS_AS(packed_tokens::from_file(dir / "missing.bin", 2, 512, 0), io_error);

    packed_tokens p(distinct_tokens(100), 9, 512, 5);  // 10 windows
    p.next(3);
    std::vector<std::int32_t> short_ids(8), short_targets(8);
    CHECK_THROWS_WITH(p.next_row(short_ids, short_targets), Contains("rows of 9 tokens, got 8 ids"));
    CHECK_THROWS_WITH(p.next(0), Contains("batch must be >= 1"));
    const json good = p.cursor();
    auto with = [&](const char* key, json v) {
        json c = good;
        c[key] = std::move(v);
        return c;
    };
    json missing = good;
    missing.erase("epoch");
    const std::vector<std::pair<json, std::string>> bad{
        {json::array(), "must be a JSON object"},
        {with("extra", 1), "unknown cursor key 'extra'"},
        {missing, "lacks the key 'epoch'"},
        {with("source", "qa_examples"), "'source' must be \"packed_tokens\""},
        {with("position", 11), "'position' must be an integer in [0, 10]"},
        {with("position", -1), "'position'"},
        {with("position", 2.5), "'position'"},
        {with("epoch", "1"), "'epoch'"},
        {with("epoch", -2), "'epoch'"},
        {with("seed", -1), "'seed' must be a non-negative integer"},
        {with("seed", 1.5), "'seed'"},
        {with("items", 12), "'items' is 12, but this source has 10"},
    };
    for (const auto& [cursor, message] : bad) {
        INFO(cursor.dump());
        CHECK_THROWS_WITH(p.restore(cursor), Contains("recur::packed_tokens::restore") && Contains(message));
        CHECK(p.cursor() == good);  // unchanged
    }
    CHECK_NOTHROW(p.restore(with("seed", json(std::uint64_t{18446744073709551615u}))));
}

TEST_CASE("GSM8K examples: loss exactly on the answer tokens and EOS", "[data]") {
    const auto tok = load_llama2c_tokenizer(data_dir + "/tok512.bin");
    const scratch_dir dir("recur_data_gsm8k");
    const auto lines = first_lines(data_dir + "/gsm8k_train.jsonl", 32);
    const auto path = dir.write("head.jsonl", joined(lines));
    constexpr std::int64_t seq = 1024;
    qa_examples q(path, tok, seq, 3);
    REQUIRE(q.size() == 32);
    CHECK(q.skipped() == 0);
    // The examples, built independently: example ids without the final EOS -> (question ids, answer).
    struct qa {
        std::vector<std::int32_t> question;  // BOS, encode(question + "\n")
        std::string answer;
    };
    std::map<std::vector<std::int32_t>, qa> by_example;
    for (const auto& line : lines) {
        const auto j = json::parse(line);
        const auto question = tok.encode(j["question"].get<std::string>() + "\n", true, false);
        auto ex = question;
        tok.encode_into(ex, j["answer"].get<std::string>(), false, false);
        by_example[ex] = {question, j["answer"].get<std::string>()};
    }
    REQUIRE(by_example.size() == 32);
    std::set<std::string> answers_seen;
    for (int i = 0; i < 8; ++i) {
        const auto b = q.next(4);
        for (std::size_t r = 0; r < 4; ++r) {
            const auto row = [&](const std::vector<std::int32_t>& v, std::size_t from, std::size_t to) {
                return std::vector<std::int32_t>(v.begin() + static_cast<std::ptrdiff_t>(r * seq + from),
                                                 v.begin() + static_cast<std::ptrdiff_t>(r * seq + to));
            };
            const auto ids = row(b.ids, 0, seq), targets = row(b.targets, 0, seq);
            // The example fills the row up to its EOS target; the rest is EOS ids with ignored targets.
            const auto end = static_cast<std::size_t>(std::find(targets.begin(), targets.end(), eos) - targets.begin());
            REQUIRE(end < targets.size());
            const auto example = row(b.ids, 0, end + 1);
            REQUIRE(by_example.count(example) == 1);
            const qa& want = by_example[example];
            CHECK(std::all_of(ids.begin() + static_cast<std::ptrdiff_t>(end + 1), ids.end(),
                              [](auto id) { return id == eos; }));
            // Counted targets: exactly positions question.size() - 1 .. end, i.e. those whose target is
            // an answer token or the EOS; they are the next ids, and decode (after BOS, which drops the
            // answer's leading space) to the answer.
            std::vector<std::int32_t> counted{bos};
            for (std::size_t t = 0; t < targets.size(); ++t) {
                const bool answer_or_eos = t + 1 >= want.question.size() && t <= end;
                CHECK((targets[t] != ignore) == answer_or_eos);
                if (!answer_or_eos) continue;
                if (t < end) CHECK(targets[t] == ids[t + 1]);
                counted.push_back(targets[t]);
            }
            CHECK(counted.back() == eos);
            CHECK(tok.decode(counted) == want.answer);
            answers_seen.insert(want.answer);
        }
    }
    CHECK(answers_seen.size() == 32);  // one epoch visits every example once
    CHECK(q.order().epoch() == 0);
    CHECK(q.order().position() == 32);
    for (std::int64_t i = 0; i < q.size(); ++i) {
        const auto ex = q.example(i);
        CHECK(ex.front() == bos);
        CHECK(ex.back() == eos);
        const std::vector<std::int32_t> without_eos(ex.begin(), ex.end() - 1);
        REQUIRE(by_example.count(without_eos) == 1);
        CHECK(q.answer_start(i) == static_cast<std::int64_t>(by_example[without_eos].question.size()));
    }
}

TEST_CASE("QA examples: prompt/completion, skipping long examples, seeds and cursors", "[data]") {
    const auto tok = load_llama2c_tokenizer(data_dir + "/tok512.bin");
    const scratch_dir dir("recur_data_qa");
    const auto path = dir.write("pc.jsonl", "{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n\n"
                                            "{\"prompt\": \"Say hi.\", \"completion\": \"hi\"}\n"
                                            "{\"question\": \"Tell a story.\", \"answer\": \"" + std::string(300, 'a') + "\"}\n");
    qa_examples q(path, tok, 16, 0);
    CHECK(q.size() == 2);
    CHECK(q.skipped() == 1);
    const auto b = q.next(2);
    std::set<std::string> completions;
    for (std::size_t r = 0; r < 2; ++r) {
        std::vector<std::int32_t> counted{bos};
        for (std::size_t t = r * 16; t < (r + 1) * 16; ++t)
            if (b.targets[t] != ignore) counted.push_back(b.targets[t]);
        CHECK(counted.back() == eos);
        completions.insert(tok.decode(counted));
    }
    CHECK(completions == std::set<std::string>{"4", "hi"});

    const auto lines = first_lines(data_dir + "/gsm8k_train.jsonl", 40);
    const auto gsm = dir.write("gsm.jsonl", joined(lines));
    qa_examples a(gsm, tok, 384, 5), same_seed(gsm, tok, 384, 5), other_seed(gsm, tok, 384, 6);
    REQUIRE(a.size() + a.skipped() == 40);
    CHECK(a.skipped() > 0);  // a few GSM8K examples need more than 385 tokens of this small vocabulary
    const auto first = batches(a, 5, 3);
    CHECK(same(first, batches(same_seed, 5, 3)));
    CHECK(!same(first, batches(other_seed, 5, 3)));
    const json c = a.cursor();
    CHECK(c.at("source") == "qa_examples");
    CHECK(c.at("items") == a.size());
    qa_examples b2(gsm, tok, 384, 77);
    b2.restore(c);
    CHECK(same(batches(a, 2 * a.size() / 3, 3), batches(b2, 2 * a.size() / 3, 3)));  // across an epoch boundary
    CHECK_THROWS_WITH(b2.restore(packed_tokens(distinct_tokens(100), 9, 512, 5).cursor()),
                      Contains("recur::qa_examples::restore") && Contains("'source' must be \"qa_examples\""));
}

TEST_CASE("QA files: malformed lines name the file and line, nothing that fits is an error", "[data]") {
    const auto tok = load_llama2c_tokenizer(data_dir + "/tok512.bin");
    const scratch_dir dir("recur_data_qa_bad");
    const std::string ok = "{\"question\": \"q\", \"answer\": \"a\"}\n";
    const std::vector<std::pair<std::string, std::string>> bad{
        {ok + "{\"question\": \"q\", \"answer\": \n", "line 2 is not valid JSON"},
        {ok + ok + "[1, 2]\n", "line 3 needs string \"question\" and \"answer\""},
        {ok + "{\"question\": \"q\"}\n", "line 2 needs"},
        {ok + "{\"question\": \"q\", \"answer\": 4}\n", "line 2 needs"},
        {"{\"prompt\": \"q\", \"answer\": \"a\"}\n", "line 1 needs"},
    };
    for (const auto& [text, message] : bad) {
        INFO(text);
        const auto path = dir.write("bad.jsonl", text);
        CHECK_THROWS_AS(qa_examples(path, tok, 64, 0), io_error);
        CHECK_THROWS_WITH(qa_examples(path, tok, 64, 0), Contains("bad.jsonl") && Contains(message));
    }
    CHECK_THROWS_AS(qa_examples(dir / "missing.jsonl", tok, 64, 0), io_error);
    const auto long_only = dir.write("long.jsonl", "{\"question\": \"How many?\", \"answer\": \"Many, many.\"}\n");
    CHECK_THROWS_WITH(qa_examples(long_only, tok, 3, 0), Contains("no example of at most seq + 1 = 4") && Contains("1 longer"));
    CHECK_THROWS_WITH(qa_examples(dir.write("empty.jsonl", "\n"), tok, 64, 0), Contains("no example"));
    CHECK_THROWS_WITH(qa_examples(long_only, tok, 0, 0), Contains("seq must be >= 1"));
}

namespace {

/// Two packed sources with disjoint ids, so a row tells where it came from: "low" ids < 100, "high" >= 100.
data_phases two_source_plan(std::uint64_t seed, std::int64_t seq) {
    data_phases plan(seed);
    plan.add_source("low", std::make_unique<packed_tokens>(documents(300, 3, 100, 1), seq, 512, 11));
    plan.add_source("high", std::make_unique<packed_tokens>(documents(300, 100, 512, 2), seq, 512, 12));
    return plan;
}

/// Rows of `b` that come from the "high" source.
int high_rows(const token_batch& b) {
    int n = 0;
    for (std::int64_t r = 0; r < b.batch; ++r) {
        const auto* row = &b.ids[static_cast<std::size_t>(r * b.seq)];
        n += std::any_of(row, row + b.seq, [](auto id) { return id >= 100; });
    }
    return n;
}

}  // namespace

TEST_CASE("phases switch at the configured step", "[data]") {
    data_phases plan = two_source_plan(1, 16);
    plan.add_phase({3, {{"low"}}});
    plan.add_phase({2, {{"high"}}});
    plan.add_phase({0, {{"low"}}});
    CHECK(plan.phases() == 3);
    const std::vector<std::size_t> want_phase{0, 0, 0, 1, 1, 2, 2, 2};
    for (std::int64_t step = 0; step < 8; ++step) {
        INFO("step " << step);
        CHECK(plan.phase_at(step) == want_phase[static_cast<std::size_t>(step)]);
        const auto b = plan.next(step, 4, 16);
        CHECK(high_rows(b) == (want_phase[static_cast<std::size_t>(step)] == 1 ? 4 : 0));
    }
    CHECK(plan.phase_at(1000000) == 2);  // the last phase is open-ended

    data_phases bounded = two_source_plan(1, 16);
    bounded.add_phase({2, {{"low"}}});
    bounded.next(0, 1, 16);
    bounded.next(0, 1, 16);  // a second micro-batch of step 0
    bounded.next(1, 1, 16);
    CHECK_THROWS_WITH(bounded.next(2, 1, 16), Contains("step 2 is past the last phase, which ends at step 2"));
    CHECK_THROWS_WITH(bounded.next(0, 1, 16), Contains("step 0 comes after step 1"));
}

TEST_CASE("a 70/30 mixture draws rows in proportion, deterministically from (seed, step)", "[data]") {
    auto run = [](std::uint64_t seed) {
        data_phases plan = two_source_plan(seed, 8);
        plan.add_phase({0, {{"low", 0.7}, {"high", 0.3}}});
        std::vector<token_batch> out;
        for (std::int64_t step = 0; step < 250; ++step) out.push_back(plan.next(step, 8, 8));
        return out;
    };
    const auto a = run(4), b = run(4), c = run(5);
    CHECK(same(a, b));
    CHECK(!same(a, c));
    int high = 0;
    for (const auto& batch : a) high += high_rows(batch);
    // 2000 rows, p = 0.3: mean 600, standard deviation 20.5; 5 sigma either side.
    CHECK(high > 500);
    CHECK(high < 700);
}

TEST_CASE("a plan's cursor restores every source and the step", "[data]") {
    auto plan_for = [](std::uint64_t seed) {
        data_phases plan = two_source_plan(seed, 8);
        plan.add_phase({5, {{"low"}}});
        plan.add_phase({0, {{"low", 1}, {"high", 1}}});
        return plan;
    };
    data_phases a = plan_for(3);
    for (std::int64_t step = 0; step < 7; ++step) a.next(step, 4, 8);
    const json c = a.cursor();
    CHECK(c.at("last_step") == 6);
    CHECK(c.at("sources").size() == 2);
    data_phases b = plan_for(99);
    b.restore(json::parse(c.dump()));
    CHECK(b.cursor() == c);
    for (std::int64_t step = 7; step < 40; ++step) CHECK(same({a.next(step, 4, 8)}, {b.next(step, 4, 8)}));
    CHECK_THROWS_WITH(b.next(3, 4, 8), Contains("step 3 comes after step 39"));

    data_phases fresh = plan_for(3);
    const json before = fresh.cursor();
    CHECK(before.at("last_step") == -1);
    auto with = [&](const char* key, json v) {
        json j = c;
        j[key] = std::move(v);
        return j;
    };
    json unknown_source = c, missing_source = c, bad_source = c;
    unknown_source["sources"]["other"] = c["sources"]["low"];
    missing_source["sources"].erase("high");
    bad_source["sources"]["high"]["position"] = -5;
    const std::vector<std::pair<json, std::string>> bad{
        {with("extra", 0), "unknown cursor key 'extra'"},
        {with("last_step", -2), "'last_step'"},
        {with("sources", json::array()), "'sources' must be an object"},
        {unknown_source, "source 'other' that this plan lacks"},
        {missing_source, "lacks the source 'high'"},
        {bad_source, "source 'high'"},
    };
    for (const auto& [cursor, message] : bad) {
        INFO(cursor.dump());
        CHECK_THROWS_WITH(fresh.restore(cursor), Contains("recur::data_phases::restore") && Contains(message));
        CHECK(fresh.cursor() == before);  // unchanged, also when a later source failed
    }
}

TEST_CASE("data_phases rejects bad plans and mismatched rows, naming them", "[data]") {
    data_phases plan = two_source_plan(0, 8);
    CHECK_THROWS_WITH(plan.add_source("low", std::make_unique<packed_tokens>(distinct_tokens(20), 8, 512, 0)),
                      Contains("'low' exists already"));
    CHECK_THROWS_WITH(plan.add_source("", std::make_unique<packed_tokens>(distinct_tokens(20), 8, 512, 0)),
                      Contains("empty source name"));
    CHECK_THROWS_WITH(plan.add_source("none", nullptr), Contains("'none' is null"));
    CHECK_THROWS_WITH(plan.add_phase({3, {{"nowhere"}}}), Contains("no source named 'nowhere'"));
    CHECK_THROWS_WITH(plan.add_phase({3, {}}), Contains("phase 0: the mixture has no source"));
    CHECK_THROWS_WITH(plan.add_phase({3, {{"low", 0.0}}}), Contains("'low' has weight 0"));
    CHECK_THROWS_WITH(plan.add_phase({-1, {{"low"}}}), Contains("steps must be >= 0"));
    CHECK_THROWS_WITH(plan.phase_at(0), Contains("no phase added"));
    plan.add_phase({0, {{"low"}}});
    CHECK_THROWS_WITH(plan.add_phase({3, {{"high"}}}), Contains("phase 1: follows phase 0, which is open-ended"));
    CHECK_THROWS_WITH(plan.next(0, 2, 16), Contains("source 'low' has rows of 8 tokens, the batch asks for 16"));
    CHECK_THROWS_WITH(plan.next(-1, 2, 8), Contains("step must be >= 0"));
    CHECK_THROWS_WITH(plan.next(0, 0, 8), Contains("batch and seq must be >= 1"));
}
