// The reasoning demo's task: chains of dependent assignments mod 10, asked for the last variable and
// answered in one token, with no intermediate step written:
//     <s> q=4; x=q+7; c=x*3; h=c-9; ?h 3
// The difficulty is the number of dependent steps after the first assignment. Every step is a
// bijection of Z_10 (+c, -c, *u with u in {3, 7, 9}), so no step can be skipped and each needs the
// previous value. Problems are pure functions of a recur::rng; the training stream packs them into
// rows. Not here: models, training or evaluation (reasoning.cpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/random.hpp>
#include <recur/data/token_batch.hpp>

namespace reasoning {

/// Token ids: digits 0-9, variables a-z, then the punctuation.
struct vocab {
    static constexpr std::int32_t digit = 0, letter = 10, eq = 36, plus = 37, minus = 38, times = 39, semi = 40,
                                  query = 41, bos = 42, pad = 43, size = 44;
};

/// One problem: its tokens (the answer last), the answer, the number of dependent steps.
struct problem {
    std::vector<std::int32_t> ids;
    std::int32_t answer = 0;
    int steps = 0;
    std::vector<std::int32_t> values;  ///< the value of each assigned variable, in order (values.back() == answer)

    /// Tokens of a problem with `steps` steps: <s> a=d; then steps x "v=u op d;", then "?v" and the answer.
    static constexpr std::int64_t length(int steps) { return 8 + 6 * static_cast<std::int64_t>(steps); }
};

/// A random problem with `steps` dependent steps (1 <= steps <= 25: every variable is a distinct letter).
problem make_problem(recur::rng& g, int steps) {
    auto below = [&](std::int32_t n) { return static_cast<std::int32_t>(g.next() % static_cast<std::uint64_t>(n)); };
    std::array<std::int32_t, 26> letters{};
    for (std::int32_t i = 0; i < 26; ++i) letters[static_cast<std::size_t>(i)] = i;
    for (std::int32_t i = 0; i <= steps; ++i) std::swap(letters[static_cast<std::size_t>(i)], letters[static_cast<std::size_t>(i + below(26 - i))]);
    problem p;
    p.steps = steps;
    p.ids.reserve(static_cast<std::size_t>(problem::length(steps)));
    std::int32_t value = below(10);
    p.ids.insert(p.ids.end(), {vocab::bos, vocab::letter + letters[0], vocab::eq, vocab::digit + value, vocab::semi});
    p.values.push_back(value);
    static constexpr std::int32_t units[] = {3, 7, 9};
    for (int s = 1; s <= steps; ++s) {
        const std::int32_t op = below(3);
        const std::int32_t c = op == 2 ? units[below(3)] : below(10);
        value = op == 0 ? (value + c) % 10 : op == 1 ? (value + 10 - c) % 10 : (value * c) % 10;
        p.ids.insert(p.ids.end(), {vocab::letter + letters[static_cast<std::size_t>(s)], vocab::eq,
                                   vocab::letter + letters[static_cast<std::size_t>(s - 1)],
                                   op == 0 ? vocab::plus : op == 1 ? vocab::minus : vocab::times, vocab::digit + c,
                                   vocab::semi});
        p.values.push_back(value);
    }
    p.ids.insert(p.ids.end(), {vocab::query, vocab::letter + letters[static_cast<std::size_t>(steps)], vocab::digit + value});
    p.answer = value;
    return p;
}

/// The problem as text ("<s> q=4; x=q+7; ?x 1").
std::string render(const std::vector<std::int32_t>& ids) {
    std::string s;
    for (const auto t : ids) {
        if (t < vocab::letter) s += static_cast<char>('0' + t);
        else if (t < vocab::eq) s += static_cast<char>('a' + t - vocab::letter);
        else if (t == vocab::bos) s += "<s> ";
        else if (t == vocab::semi) s += "; ";
        else if (t == vocab::query) s += "?";
        else if (t != vocab::pad) s += "=+-*"[t - vocab::eq];
    }
    return s;
}

/// Training rows: problems of uniformly drawn difficulty in [lo, hi] packed back to back into rows of
/// `seq` tokens (the tail padded), with a loss on each answer token only. Batch j is a function of
/// (seed, j) alone; the cursor is j. Satisfies recur::TrainingData.
class chain_stream {
public:
    chain_stream(std::uint64_t seed, int lo, int hi, bool dense) : seed_(seed), lo_(lo), hi_(hi), dense_(dense) {}

    recur::token_batch next(std::int64_t /*step*/, std::int64_t batch, std::int64_t seq) {
        recur::check(problem::length(hi_) <= seq, "reasoning::chain_stream: seq ", seq, " cannot hold a problem of ", hi_, " steps (",
                     problem::length(hi_), " tokens)");
        recur::rng g(recur::keyed::mix(seed_, static_cast<std::uint64_t>(draws_++)));
        return recur::make_batch(batch, seq, [&](std::size_t, std::span<std::int32_t> ids, std::span<std::int32_t> targets) {
            std::fill(ids.begin(), ids.end(), vocab::pad);
            std::fill(targets.begin(), targets.end(), recur::token_batch::ignore);
            for (std::size_t at = 0;;) {
                const int steps = lo_ + static_cast<int>(g.next() % static_cast<std::uint64_t>(hi_ - lo_ + 1));
                const auto length = static_cast<std::size_t>(problem::length(steps));
                if (at + length > ids.size()) break;
                const problem p = make_problem(g, steps);
                std::copy(p.ids.begin(), p.ids.end(), ids.begin() + static_cast<std::ptrdiff_t>(at));
                targets[at + length - 2] = p.ids[length - 1];  // "?v" -> the answer
                if (dense_)  // each ';' also predicts the value just assigned (never shown in the input)
                    for (int j = 0; j <= steps; ++j) targets[at + 4 + 6 * static_cast<std::size_t>(j)] = vocab::digit + p.values[static_cast<std::size_t>(j)];
                at += length;
            }
        });
    }
    nlohmann::json cursor() const { return {{"draws", draws_}}; }
    void restore(const nlohmann::json& j) { draws_ = j.at("draws").get<std::int64_t>(); }

private:
    std::uint64_t seed_;
    int lo_, hi_;
    bool dense_;
    std::int64_t draws_ = 0;
};

/// A fixed test set: `count` problems per difficulty 1..max_steps, from `seed`.
std::vector<std::vector<problem>> test_set(std::uint64_t seed, int max_steps, int count) {
    std::vector<std::vector<problem>> out(static_cast<std::size_t>(max_steps));
    for (int s = 1; s <= max_steps; ++s) {
        recur::rng g(recur::keyed::mix(seed, static_cast<std::uint64_t>(s)));
        for (int i = 0; i < count; ++i) out[static_cast<std::size_t>(s - 1)].push_back(make_problem(g, s));
    }
    return out;
}

}  // namespace reasoning
