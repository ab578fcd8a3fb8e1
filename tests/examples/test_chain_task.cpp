// The reasoning demo's task (examples/reasoning/chain_task.hpp): problems have the documented layout,
// their answers agree with an independent interpreter of the rendered text, every step changes the
// answer (bijections of Z_10), and the packed training rows carry exactly the answer and per-';'
// value targets. Not here: the demo's training (its --quick ctest runs that).
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "reasoning/chain_task.hpp"

using namespace reasoning;

namespace {
/// Evaluates "<s> a=4; b=a+7; ...; ?b" from its text alone (no knowledge of the generator).
int interpret(const std::string& text) {
    std::map<char, int> value;
    std::size_t at = text.find("<s> ");
    REQUIRE(at == 0);
    at = 4;
    while (text[at] != '?') {
        const auto end = text.find("; ", at);
        REQUIRE(end != std::string::npos);
        const std::string stmt = text.substr(at, end - at);  // "a=4" or "b=a+7"
        REQUIRE(stmt[1] == '=');
        if (stmt.size() == 3) {
            value[stmt[0]] = stmt[2] - '0';
        } else {
            REQUIRE(stmt.size() == 5);
            REQUIRE(value.count(stmt[2]) == 1);
            const int x = value[stmt[2]], c = stmt[4] - '0';
            value[stmt[0]] = stmt[3] == '+' ? (x + c) % 10 : stmt[3] == '-' ? (x - c + 10) % 10 : (x * c) % 10;
        }
        at = end + 2;
    }
    REQUIRE(value.count(text[at + 1]) == 1);
    return value[text[at + 1]];
}
}  // namespace

TEST_CASE("chain problems: layout, answers by an independent interpreter, distinct variables", "[examples][reasoning]") {
    recur::rng g(3);
    for (int steps = 1; steps <= 25; ++steps)
        for (int i = 0; i < 40; ++i) {
            const problem p = make_problem(g, steps);
            REQUIRE(static_cast<std::int64_t>(p.ids.size()) == problem::length(steps));
            REQUIRE(p.values.size() == static_cast<std::size_t>(steps + 1));
            CHECK(p.answer == p.values.back());
            CHECK(p.ids.back() == vocab::digit + p.answer);
            std::vector<std::int32_t> question(p.ids.begin(), p.ids.end() - 1);
            CHECK(interpret(render(question)) == p.answer);
            std::set<std::int32_t> names;
            for (int s = 0; s <= steps; ++s) names.insert(p.ids[static_cast<std::size_t>(s == 0 ? 1 : 5 + 6 * (s - 1))]);
            CHECK(names.size() == static_cast<std::size_t>(steps + 1));
        }
}

TEST_CASE("chain problems: changing the first value changes the answer (every step is a bijection)", "[examples][reasoning]") {
    recur::rng g(5);
    for (int i = 0; i < 200; ++i) {
        problem p = make_problem(g, 1 + i % 12);
        std::vector<std::int32_t> question(p.ids.begin(), p.ids.end() - 1);
        std::set<int> answers;
        for (std::int32_t v = 0; v < 10; ++v) {
            question[3] = vocab::digit + v;  // "<s> a=v;"
            answers.insert(interpret(render(question)));
        }
        CHECK(answers.size() == 10);
    }
}

TEST_CASE("chain_stream packs whole problems with answer and value targets only", "[examples][reasoning]") {
    chain_stream dense(9, 1, 6, true), sparse(9, 1, 6, false);
    const auto a = dense.next(0, 8, 96), b = sparse.next(0, 8, 96);
    CHECK(a.ids == b.ids);  // the same rows; only the targets differ
    std::int64_t answers = 0;
    for (std::int64_t row = 0; row < 8; ++row)
        for (std::int64_t t = 0; t < 96; ++t) {
            const auto i = static_cast<std::size_t>(row * 96 + t);
            const auto id = a.ids[i];
            if (t > 0 && a.ids[i - 1] == vocab::query) {  // "?v" -> the answer, which follows
                REQUIRE(t + 1 < 96);
                CHECK(a.targets[i] == a.ids[i + 1]);
                CHECK(b.targets[i] == a.ids[i + 1]);
                ++answers;
            } else if (id == vocab::semi) {
                CHECK(a.targets[i] >= vocab::digit);
                CHECK(a.targets[i] < vocab::digit + 10);
                CHECK(b.targets[i] == recur::token_batch::ignore);
            } else {
                CHECK(a.targets[i] == recur::token_batch::ignore);
                CHECK(b.targets[i] == recur::token_batch::ignore);
            }
        }
    CHECK(answers >= 8 * 2);  // 96 tokens hold at least two problems of <= 6 steps (44 tokens each)
    // Deterministic and resumable: batch j depends on (seed, j) only.
    chain_stream again(9, 1, 6, true);
    again.restore(dense.cursor());
    CHECK(again.next(1, 8, 96).ids == dense.next(1, 8, 96).ids);
    CHECK_THROWS_WITH(chain_stream(9, 1, 20, true).next(0, 2, 64), Catch::Contains("cannot hold a problem of 20 steps"));
}
