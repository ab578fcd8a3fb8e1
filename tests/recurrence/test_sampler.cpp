// Recurrence sampling: fixed split table, Poisson-lognormal sampler statistics and determinism,
// the exact Poisson sampler on both of its branches, and bad-input errors. Not here: the curriculum.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include <recur/recurrence/sampler.hpp>

using namespace recur;
using Catch::Contains;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

struct moments {
    double mean, variance;
};

moments poisson_moments(double lambda, std::uint64_t seed, int draws) {
    rng gen(seed);
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < draws; ++i) {
        const auto x = static_cast<double>(sample_poisson(lambda, gen));
        sum += x;
        sum_sq += x * x;
    }
    const double mean = sum / draws;
    return {mean, (sum_sq - draws * mean * mean) / (draws - 1)};
}

double poisson_pmf(double lambda, std::int64_t k) {
    const auto kd = static_cast<double>(k);
    return std::exp(-lambda + kd * std::log(lambda) - std::lgamma(kd + 1));
}

}  // namespace

TEST_CASE("fixed_split gives n = max(r_bar - s, 0), k = min(s, r_bar)", "[recurrence]") {
    struct row {
        std::int64_t r_bar, s;
        iteration_split expected;
    };
    const std::vector<row> table = {
        {32, 8, {24, 8}}, {9, 8, {1, 8}}, {8, 8, {0, 8}}, {4, 8, {0, 4}},
        {1, 1, {0, 1}},   {1, 8, {0, 1}}, {16, 1, {15, 1}},
    };
    for (const auto& r : table) {
        CAPTURE(r.r_bar, r.s);
        const auto got = fixed_split(r.r_bar, r.s);
        CHECK(got == r.expected);
        CHECK(got.n + got.k == r.r_bar);
    }
}

TEST_CASE("sample_poisson matches lambda in mean and variance on both branches", "[recurrence]") {
    const int draws = 200000;
    for (const double lambda : {0.5, 5.0, 29.0, 31.0, 100.0, 1000.0}) {
        const auto m = poisson_moments(lambda, 1234, draws);
        CAPTURE(lambda, m.mean, m.variance);
        // Five standard errors: var(mean) = lambda / N, var(sample variance) ~ (lambda + 2 lambda^2) / N.
        CHECK(std::abs(m.mean - lambda) <= 5 * std::sqrt(lambda / draws));
        CHECK(std::abs(m.variance - lambda) <= 5 * std::sqrt((lambda + 2 * lambda * lambda) / draws));
    }
}

TEST_CASE("sample_poisson follows the Poisson pmf, not an approximation (chi-square)", "[recurrence]") {
    const int draws = 200000;
    for (const double lambda : {5.0, 29.0, 31.0, 100.0}) {
        rng gen(99);
        std::vector<double> counts(static_cast<std::size_t>(4 * lambda + 40), 0.0);
        for (int i = 0; i < draws; ++i) {
            const auto x = static_cast<std::size_t>(sample_poisson(lambda, gen));
            counts[std::min(x, counts.size() - 1)] += 1;
        }
        // Pool bins left to right until each expects at least 20 draws; the last bin takes the tail.
        double chi2 = 0, observed = 0, expected = 0, seen = 0;
        int bins = 0;
        for (std::size_t k = 0; k + 1 < counts.size(); ++k) {
            observed += counts[k];
            expected += draws * poisson_pmf(lambda, static_cast<std::int64_t>(k));
            if (expected >= 20) {
                chi2 += (observed - expected) * (observed - expected) / expected;
                seen += expected;
                observed = expected = 0;
                ++bins;
            }
        }
        const double tail_observed = observed + counts.back(), tail_expected = draws - seen;
        chi2 += (tail_observed - tail_expected) * (tail_observed - tail_expected) / tail_expected;
        const double dof = bins;  // bins + 1 cells, one constraint
        CAPTURE(lambda, chi2, dof);
        CHECK(chi2 <= dof + 6 * std::sqrt(2 * dof));
    }
}

TEST_CASE("sample_poisson of a zero rate is zero", "[recurrence]") {
    rng gen(3);
    for (int i = 0; i < 100; ++i) CHECK(sample_poisson(0.0, gen) == 0);
}

TEST_CASE("poisson_lognormal_sampler mean total matches the closed form", "[recurrence]") {
    const poisson_lognormal_sampler sampler{.sigma = 0.5, .seed = 42};
    const std::int64_t s = 8;
    CHECK(sampler.analytic_mean_total(4, s) == 9.0);    // t = 0: s + 1
    CHECK(sampler.analytic_mean_total(32, s) == 33.0);  // t = 24: r_bar + 1
    CHECK(sampler.analytic_mean_total(2.5, 1) == 3.5);
    for (const double r_bar : {4.0, 32.0}) {
        const int draws = 100000;
        double total = 0;
        for (std::int64_t step = 0; step < draws; ++step) {
            const auto d = sampler(step, r_bar, s);
            total += static_cast<double>(d.n + d.k);
        }
        const double mean = total / draws, analytic = sampler.analytic_mean_total(r_bar, s);
        CAPTURE(r_bar, mean, analytic);
        CHECK(std::abs(mean - analytic) <= 0.02 * analytic);
    }
}

TEST_CASE("poisson_lognormal_sampler splits satisfy n >= 0, k = min(s, p) >= 1", "[recurrence]") {
    const poisson_lognormal_sampler sampler{.seed = 5};
    for (const double r_bar : {1.0, 2.5, 4.0, 8.0, 32.0}) {
        for (const std::int64_t s : {1, 3, 8}) {
            for (std::int64_t step = 0; step < 2000; ++step) {
                const auto d = sampler(step, r_bar, s);
                const std::int64_t p = d.n + d.k;
                CAPTURE(r_bar, s, step, d.n, d.k);
                REQUIRE(d.n >= 0);
                REQUIRE(d.k >= 1);
                REQUIRE(d.k == std::min(s, p));
                REQUIRE(d.n == std::max<std::int64_t>(p - s, 0));
            }
        }
    }
}

TEST_CASE("poisson_lognormal_sampler is a pure function of (seed, step)", "[recurrence]") {
    const poisson_lognormal_sampler a{.seed = 7}, b{.seed = 7}, other_seed{.seed = 8};
    std::vector<iteration_split> seq_a, seq_other;
    std::set<std::int64_t> totals;
    for (std::int64_t step = 0; step < 1000; ++step) {
        const auto d = a(step, 32, 8);
        CHECK(d == b(step, 32, 8));  // another instance, e.g. on another rank
        CHECK(d == a(step, 32, 8));  // the same instance again, e.g. after a resume
        seq_a.push_back(d);
        seq_other.push_back(other_seed(step, 32, 8));
        totals.insert(d.n + d.k);
    }
    CHECK(seq_a != seq_other);
    CHECK(totals.size() > 20);  // steps draw different splits

    // Pinned draws: the same on every platform and standard library (xoshiro256** + splitmix64).
    const poisson_lognormal_sampler pinned{.sigma = 0.5, .seed = 42};
    const std::vector<iteration_split> expected = {{19, 8}, {35, 8}, {5, 8}, {13, 8},
                                                   {36, 8}, {7, 8},  {10, 8}, {21, 8}};
    for (std::int64_t step = 0; step < 8; ++step) {
        CAPTURE(step);
        CHECK(pinned(step, 32, 8) == expected[static_cast<std::size_t>(step)]);
    }
}

TEST_CASE("recurrence sampling rejects bad input, naming the argument and value", "[recurrence][errors]") {
    REQUIRE_THROWS_WITH(fixed_split(0, 8), Contains("r_bar") && Contains("got 0"));
    REQUIRE_THROWS_WITH(fixed_split(8, 0), Contains("s must") && Contains("got 0"));
    REQUIRE_THROWS_AS(fixed_split(-3, 8), recur::error);

    const poisson_lognormal_sampler ok{};
    REQUIRE_THROWS_WITH(ok(0, 8, 0), Contains("s must") && Contains("got 0"));
    REQUIRE_THROWS_WITH(ok(0, 8, -2), Contains("s must") && Contains("got -2"));
    REQUIRE_THROWS_WITH(ok(0, 0.5, 8), Contains("r_bar") && Contains("got 0.5"));
    REQUIRE_THROWS_WITH(ok(0, std::nan(""), 8), Contains("r_bar") && Contains("nan"));
    REQUIRE_THROWS_WITH(ok(0, inf, 8), Contains("r_bar") && Contains("inf"));
    REQUIRE_THROWS_WITH(ok(-1, 8, 8), Contains("step") && Contains("got -1"));
    REQUIRE_THROWS_WITH(ok.analytic_mean_total(0, 8), Contains("r_bar") && Contains("got 0"));
    REQUIRE_THROWS_WITH(ok.analytic_mean_total(8, 0), Contains("s must") && Contains("got 0"));

    for (const double sigma : {0.0, -1.0, std::nan(""), inf}) {
        const poisson_lognormal_sampler bad{.sigma = sigma};
        CAPTURE(sigma);
        REQUIRE_THROWS_WITH(bad(0, 8, 8), Contains("sigma"));
        REQUIRE_THROWS_WITH(bad.analytic_mean_total(8, 8), Contains("sigma"));
    }
    REQUIRE_THROWS_WITH((poisson_lognormal_sampler{.sigma = 0.0}(0, 8, 8)), Contains("got 0"));

    rng gen(1);
    REQUIRE_THROWS_WITH(sample_poisson(-1.0, gen), Contains("lambda") && Contains("got -1"));
    REQUIRE_THROWS_WITH(sample_poisson(std::nan(""), gen), Contains("lambda") && Contains("nan"));
    REQUIRE_THROWS_WITH(sample_poisson(inf, gen), Contains("lambda") && Contains("inf"));
    REQUIRE_THROWS_WITH(sample_poisson(0x1p60, gen), Contains("lambda"));
}
