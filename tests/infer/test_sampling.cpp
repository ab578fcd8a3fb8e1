// sample_token against its definition: greedy ties, top-k, top-p, empirical frequencies against
// softmax(logits / T), seeds, -inf logits and bad input. Not here: sampling from a model.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <recur/infer/sampling.hpp>

using namespace recur;
using Catch::Contains;

namespace {

constexpr float neg_inf = -std::numeric_limits<float>::infinity();
constexpr int draws = 20000;

/// softmax(logits / temperature) in double.
std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
    double top = logits[0];
    for (const float l : logits) top = std::max(top, static_cast<double>(l));
    std::vector<double> p;
    double sum = 0;
    for (const float l : logits) sum += p.emplace_back(std::exp((l - top) / temperature));
    for (double& x : p) x /= sum;
    return p;
}

/// How often each token comes out of `draws` calls with one generator seeded by o.seed.
std::vector<double> frequencies(const std::vector<float>& logits, const sampling_options& o) {
    rng gen(o.seed);
    std::vector<int> count(logits.size());
    for (int i = 0; i < draws; ++i) ++count[static_cast<std::size_t>(sample_token(logits, o, gen))];
    std::vector<double> f;
    for (const int c : count) f.push_back(static_cast<double>(c) / draws);
    return f;
}

/// Every frequency within 4 standard errors of its probability (zero probabilities exactly).
void check_frequencies(const std::vector<double>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("token " << i << ": frequency " << got[i] << ", probability " << want[i]);
        CHECK(std::abs(got[i] - want[i]) <= 4 * std::sqrt(want[i] * (1 - want[i]) / draws));
    }
}

}  // namespace

TEST_CASE("greedy is the argmax, the lowest index on ties", "[infer][sampling]") {
    rng gen(0);
    const sampling_options greedy;
    CHECK(sample_token(std::vector<float>{1, 3, 3, 2}, greedy, gen) == 1);
    CHECK(sample_token(std::vector<float>{-5, -2, -7}, greedy, gen) == 1);
    CHECK(sample_token(std::vector<float>{4, 4, 4}, greedy, gen) == 0);
    CHECK(sample_token(std::vector<float>{neg_inf, neg_inf, -100}, greedy, gen) == 2);
    CHECK(sample_token(std::vector<float>{0.5f}, greedy, gen) == 0);
    // Greedy leaves the generator alone.
    rng fresh(0);
    CHECK(gen.next() == fresh.next());
}

TEST_CASE("top_k = 1 is greedy at any temperature", "[infer][sampling]") {
    rng values(7), gen(8);
    for (int row = 0; row < 50; ++row) {
        std::vector<float> logits(100);
        for (float& l : logits) l = static_cast<float>(std::round(4 * values.normal()));  // many ties
        const auto want = sample_token(logits, {}, gen);
        for (const double t : {1e-3, 0.5, 1.0, 10.0, 1e6}) {
            INFO("row " << row << ", temperature " << t);
            CHECK(sample_token(logits, {t, 1, 1.0}, gen) == want);
            CHECK(sample_token(logits, {t, 1, 0.3}, gen) == want);
        }
    }
}

TEST_CASE("frequencies match softmax(logits / T)", "[infer][sampling]") {
    const std::vector<float> logits{1.0f, 0.5f, -0.3f, 2.0f, 0.0f};
    for (const double t : {0.5, 1.0, 2.0}) {
        INFO("temperature " << t);
        check_frequencies(frequencies(logits, {t, 0, 1.0, 42}), softmax(logits, t));
    }
}

TEST_CASE("top_k = 2 keeps the two most likely tokens, renormalised", "[infer][sampling]") {
    const std::vector<float> logits{1.0f, 0.5f, -0.3f, 2.0f, 0.0f};  // top two: 3 and 0
    for (const double t : {0.5, 1.0, 2.0}) {
        INFO("temperature " << t);
        const auto p = softmax(logits, t);
        const double pair = p[3] + p[0];
        check_frequencies(frequencies(logits, {t, 2, 1.0, 3}), {p[0] / pair, 0, 0, p[3] / pair, 0});
    }
    // top_k above the vocabulary size keeps everything.
    check_frequencies(frequencies(logits, {1.0, 99, 1.0, 3}), softmax(logits, 1.0));
}

TEST_CASE("top_p keeps the smallest most-likely-first set that reaches it", "[infer][sampling]") {
    const std::vector<float> logits{std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
    // 0.4 < 0.5 <= 0.4 + 0.3: exactly {0, 1}.
    check_frequencies(frequencies(logits, {1.0, 0, 0.5, 5}), {4.0 / 7, 3.0 / 7, 0, 0});
    // 0.4 + 0.3 < 0.8 <= 0.9: {0, 1, 2}.
    check_frequencies(frequencies(logits, {1.0, 0, 0.8, 5}), {4.0 / 9, 3.0 / 9, 2.0 / 9, 0});
    // Below the top probability: the top token alone.
    check_frequencies(frequencies(logits, {1.0, 0, 0.35, 5}), {1, 0, 0, 0});
    check_frequencies(frequencies(logits, {1.0, 0, 1e-9, 5}), {1, 0, 0, 0});
    // The same, listed in another order.
    const std::vector<float> shuffled{logits[2], logits[0], logits[3], logits[1]};
    check_frequencies(frequencies(shuffled, {1.0, 0, 0.5, 5}), {0, 4.0 / 7, 0, 3.0 / 7});
    // top_p applies after top_k: over (4, 3, 2) / 9, 0.75 <= 7/9 keeps {0, 1}, where the full
    // distribution (0.4 + 0.3 < 0.75) would keep {0, 1, 2}.
    check_frequencies(frequencies(logits, {1.0, 3, 0.75, 5}), {4.0 / 7, 3.0 / 7, 0, 0});
    check_frequencies(frequencies(logits, {1.0, 3, 0.8, 5}), {4.0 / 9, 3.0 / 9, 2.0 / 9, 0});
}

TEST_CASE("the same seed gives the same tokens, scratch changes nothing", "[infer][sampling]") {
    const std::vector<float> logits{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    for (const sampling_options o : {sampling_options{1.0, 0, 1.0, 11}, sampling_options{0.7, 5, 0.9, 11}}) {
        rng a(o.seed), b(o.seed), other(o.seed + 1);
        std::vector<std::pair<float, std::int32_t>> scratch;
        std::vector<std::int32_t> first, second, third;
        for (int i = 0; i < 200; ++i) {
            first.push_back(sample_token(logits, o, a));
            second.push_back(sample_token(logits, o, b, &scratch));
            third.push_back(sample_token(logits, o, other, &scratch));
        }
        CHECK(first == second);
        CHECK(first != third);
    }
}

TEST_CASE("logits of -inf are never drawn", "[infer][sampling]") {
    const std::vector<float> logits{neg_inf, 0.0f, neg_inf, 0.5f, neg_inf};
    const auto p = softmax({0.0f, 0.5f}, 1.0);
    for (const sampling_options o : {sampling_options{1.0, 0, 1.0, 9}, sampling_options{1.0, 4, 1.0, 9},
                                     sampling_options{1.0, 0, 0.999, 9}, sampling_options{1.0, 5, 0.999, 9}}) {
        INFO("top_k " << o.top_k << ", top_p " << o.top_p);
        check_frequencies(frequencies(logits, o), {0, p[0], 0, p[1], 0});
    }
    // A temperature so low that every other probability underflows to 0.
    check_frequencies(frequencies({0.0f, 1.0f, 0.5f}, {1e-300, 0, 1.0, 9}), {0, 1, 0});
}

TEST_CASE("bad options and logits throw recur::error", "[infer][sampling]") {
    rng gen(0);
    const std::vector<float> logits{1, 2, 3};
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(sample_token(logits, {-1.0}, gen), Contains("temperature"));
    CHECK_THROWS_WITH(sample_token(logits, {nan}, gen), Contains("temperature"));
    CHECK_THROWS_WITH(sample_token(logits, {inf}, gen), Contains("temperature"));
    CHECK_THROWS_WITH(sample_token(logits, {1.0, -1}, gen), Contains("top_k"));
    for (const double p : {0.0, -0.5, 1.5, nan}) CHECK_THROWS_WITH(sample_token(logits, {1.0, 0, p}, gen), Contains("top_p"));
    CHECK_THROWS_AS((sampling_options{0, 0, 2.0}.validate()), recur::error);
    CHECK_NOTHROW(sampling_options{}.validate());

    for (const double t : {0.0, 1.0}) {
        INFO("temperature " << t);
        CHECK_THROWS_WITH(sample_token({}, {t}, gen), Contains("empty"));
        CHECK_THROWS_WITH(sample_token(std::vector<float>{1, std::nanf(""), 2}, {t}, gen), Contains("logit 1"));
        CHECK_THROWS_WITH(sample_token(std::vector<float>{1, -neg_inf}, {t}, gen), Contains("logit 1"));
        CHECK_THROWS_WITH(sample_token(std::vector<float>{neg_inf, neg_inf}, {t}, gen), Contains("-inf"));
    }
}
