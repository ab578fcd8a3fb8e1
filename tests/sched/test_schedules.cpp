// Schedules as tables: the r_bar curriculum (linear, 1-sqrt, constant), the backprop depth with its
// clamp to r_bar, the WSD / cosine / constant learning rate, JSON, and bad values. Not here: training.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/sched/curriculum.hpp>
#include <recur/sched/lr.hpp>
#include <recur/train/config.hpp>  // the schedules' JSON

using namespace recur;
using Catch::Contains;

namespace {

struct step_value {
    std::int64_t step, value;
};

struct step_multiplier {
    std::int64_t step;
    double value;
};

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE("steps_of_fraction does not round decimal products up", "[sched]") {
    CHECK(steps_of_fraction(0.25, 100) == 25);
    CHECK(steps_of_fraction(0.75, 100) == 75);
    CHECK(steps_of_fraction(0.07, 100) == 7);   // 7.000000000000001 in double
    CHECK(steps_of_fraction(0.14, 100) == 14);  // 14.000000000000002
    CHECK(steps_of_fraction(0.57, 100) == 57);  // 56.99999999999999
    CHECK(steps_of_fraction(0.1, 10) == 1);
    CHECK(steps_of_fraction(0.5, 3) == 2);
    CHECK(steps_of_fraction(0.001, 100) == 1);
    CHECK(steps_of_fraction(0.0, 100) == 0);
    CHECK(steps_of_fraction(1.0, 100) == 100);
}

TEST_CASE("linear curriculum: r_max 32, warmup 0.25 of 100 steps", "[sched]") {
    // W = 25; r_bar = max(1, ceil(32 * step / 25)) for step < 25, then 32.
    const recurrence_curriculum c{ramp_kind::linear, 0.25, 1, 32};
    for (const auto [step, want] : std::vector<step_value>{{0, 1},   // ceil(0) = 0, raised to start
                                                           {1, 2},   // ceil(1.28)
                                                           {2, 3},   // ceil(2.56)
                                                           {12, 16}, // ceil(15.36)
                                                           {23, 30}, // ceil(29.44)
                                                           {24, 31}, // ceil(30.72)
                                                           {25, 32}, // q = 1
                                                           {50, 32},
                                                           {99, 32}}) {
        INFO("step " << step);
        CHECK(c.at(step, 100) == want);
    }
}

TEST_CASE("linear curriculum: exact products are not rounded up", "[sched]") {
    const recurrence_curriculum four{ramp_kind::linear, 0.25, 1, 4};  // W = 4 of 16 steps: 4 * step / 4
    std::vector<std::int64_t> got;
    for (std::int64_t step = 0; step < 6; ++step) got.push_back(four.at(step, 16));
    CHECK(got == std::vector<std::int64_t>{1, 1, 2, 3, 4, 4});  // ceil(4 * 0.25) = 1, not 2
    // 25 * 7 / 25 is 7.000000000000001 in double; the exact ceil is 7.
    const recurrence_curriculum c{ramp_kind::linear, 0.25, 1, 25};
    CHECK(c.at(7, 100) == 7);
    CHECK(c.at(14, 100) == 14);
    CHECK(c.at(8, 100) == 8);
    // The start raises early values: max(6, ceil(32 * step / 25)).
    const recurrence_curriculum raised{ramp_kind::linear, 0.25, 6, 32};
    CHECK(raised.at(0, 100) == 6);
    CHECK(raised.at(4, 100) == 6);   // ceil(5.12)
    CHECK(raised.at(5, 100) == 7);   // ceil(6.4)
}

TEST_CASE("1-sqrt curriculum: r_max 32, warmup 0.75 of 100 steps", "[sched]") {
    // W = 75; r_bar = max(1, ceil(32 * (1 - sqrt(1 - step / 75)))) for step < 75, then 32.
    const recurrence_curriculum c{ramp_kind::one_minus_sqrt, 0.75, 1, 32};
    for (const auto [step, want] : std::vector<step_value>{{0, 1},    // 0
                                                           {1, 1},    // 0.2140
                                                           {5, 2},    // 1.0851
                                                           {10, 3},   // 2.2096
                                                           {20, 5},   // 4.5968
                                                           {37, 10},  // 9.2222
                                                           {38, 10},  // 9.5239
                                                           {50, 14},  // 13.5248
                                                           {60, 18},  // 17.6892
                                                           {70, 24},  // 23.7376
                                                           {74, 29},  // 28.3050
                                                           {75, 32},  // q = 1
                                                           {99, 32}}) {
        INFO("step " << step);
        CHECK(c.at(step, 100) == want);
    }
}

TEST_CASE("1-sqrt curriculum: exact values are not rounded up", "[sched]") {
    // W = 9 of 36 steps; at step 5, 1 - sqrt(1 - 5/9) = 1/3 exactly, which double arithmetic
    // computes as 9 * 0.33333333333333337 = 3.0000000000000004.
    CHECK(recurrence_curriculum{ramp_kind::one_minus_sqrt, 0.25, 1, 9}.at(5, 36) == 3);
    CHECK(recurrence_curriculum{ramp_kind::one_minus_sqrt, 0.25, 1, 27}.at(5, 36) == 9);
    // W = 4 of 16: step 3 gives 4 * (1 - sqrt(1/4)) = 2.
    CHECK(recurrence_curriculum{ramp_kind::one_minus_sqrt, 0.25, 1, 4}.at(3, 16) == 2);
}

TEST_CASE("constant curriculum and zero warmup train at r_max from step 0", "[sched]") {
    const recurrence_curriculum constant{ramp_kind::constant, 0.25, 1, 8};
    const recurrence_curriculum no_warmup{ramp_kind::linear, 0.0, 1, 8};
    for (const std::int64_t step : {0, 1, 24, 99}) {
        CHECK(constant.at(step, 100) == 8);
        CHECK(no_warmup.at(step, 100) == 8);
    }
    CHECK(recurrence_curriculum{ramp_kind::linear, 1.0, 1, 8}.at(99, 100) == 8);  // ceil(8 * 99 / 100)
    CHECK(recurrence_curriculum{ramp_kind::linear, 1.0, 1, 8}.at(87, 100) == 7);  // ceil(6.96)
}

TEST_CASE("backprop depth ramps like the curriculum and is clamped to r_bar", "[sched]") {
    // Linear from 1 to 8 over W = 25 of 100 steps: max(1, ceil(8 * step / 25)).
    const backprop_schedule s{ramp_kind::linear, 0.25, 1, 8};
    const recurrence_curriculum c{ramp_kind::linear, 0.25, 1, 32};
    for (const auto [step, want] : std::vector<step_value>{{0, 1},   // r_bar 1
                                                           {3, 1},   // ceil(0.96)
                                                           {4, 2},   // ceil(1.28)
                                                           {12, 4},  // ceil(3.84)
                                                           {24, 8},  // ceil(7.68)
                                                           {25, 8},
                                                           {99, 8}}) {
        INFO("step " << step);
        CHECK(backprop_depth_at(s, step, 100, c.at(step, 100)) == want);
    }
    // Clamping: r_bar below the ramp's s wins.
    const recurrence_curriculum small{ramp_kind::linear, 0.25, 1, 4};
    CHECK(backprop_depth_at(s, 24, 100, small.at(24, 100)) == 4);  // s 8, r_bar ceil(3.84) = 4
    CHECK(backprop_depth_at(s, 2, 100, 1) == 1);                        // s ceil(0.64) -> 1, r_bar 1
    // The default is the fixed s_max = 8, clamped.
    const backprop_schedule fixed;
    CHECK(backprop_depth_at(fixed, 0, 100, 3) == 3);
    CHECK(backprop_depth_at(fixed, 0, 100, 8) == 8);
    CHECK(backprop_depth_at(fixed, 50, 100, 20) == 8);
    // 1-sqrt from 2 to 8 over W = 75: max(2, ceil(8 * (1 - sqrt(1 - step / 75)))).
    const backprop_schedule sq{ramp_kind::one_minus_sqrt, 0.75, 2, 8};
    CHECK(backprop_depth_at(sq, 0, 100, 32) == 2);
    CHECK(backprop_depth_at(sq, 20, 100, 32) == 2);  // 1.1492
    CHECK(backprop_depth_at(sq, 50, 100, 32) == 4);  // 3.3812
    CHECK(backprop_depth_at(sq, 74, 100, 32) == 8);  // 7.0762
}

TEST_CASE("WSD learning rate: warmup 10 %, constant, cosine over the last 10 % to 0.001", "[sched]") {
    // W = 10, D = 10, decay from step 90; cos_min(p) = 0.001 + 0.999 * (1 + cos(pi p)) / 2.
    const lr_schedule lr;
    for (const auto [step, want] : std::vector<step_multiplier>{
             {0, 0.1},                   // (0 + 1) / 10
             {4, 0.5},                   // 5 / 10
             {9, 1.0},                   // 10 / 10
             {10, 1.0},
             {89, 1.0},
             {90, 0.97555272988942917},  // p = 1/10: 0.001 + 0.999 * (1 + 0.95105651629515357) / 2
             {94, 0.5005},               // p = 1/2
             {99, 0.001}}) {             // p = 1
        INFO("step " << step);
        CHECK(lr(step, 100) == Approx(want).margin(1e-12));
    }
    // Warmup and decay steps both round up, the decay giving way to the warmup: T = 3, W = 2, D = 1.
    const lr_schedule halves{lr_kind::warmup_stable_decay, 0.5, 0.5, 0.0};
    CHECK(halves(0, 3) == 0.5);
    CHECK(halves(1, 3) == 1.0);
    CHECK(halves(2, 3) == Approx(0.0).margin(1e-15));
}

TEST_CASE("cosine learning rate decays over everything after the warmup", "[sched]") {
    // W = 10; p = (step - 9) / 90.
    const lr_schedule lr{lr_kind::cosine, 0.1, 0.1, 0.001};
    for (const auto [step, want] : std::vector<step_multiplier>{
             {0, 0.1},
             {9, 1.0},
             {10, 0.99969571809603832},  // p = 1/90: 0.001 + 0.999 * (1 + 0.99939082701909573) / 2
             {54, 0.5005},               // p = 1/2
             {99, 0.001}}) {
        INFO("step " << step);
        CHECK(lr(step, 100) == Approx(want).margin(1e-12));
    }
}

TEST_CASE("constant learning rate after the warmup, warmup steps do not round up", "[sched]") {
    const lr_schedule lr{lr_kind::constant, 0.1, 0.1, 0.001};
    CHECK(lr(0, 100) == Approx(0.1));
    CHECK(lr(9, 100) == 1.0);
    CHECK(lr(50, 100) == 1.0);
    CHECK(lr(99, 100) == 1.0);
    // 0.07 * 100 is 7.000000000000001 in double; the warmup is 7 steps, not 8.
    const lr_schedule seven{lr_kind::constant, 0.07, 0.0, 0.0};
    CHECK(seven(6, 100) == 1.0);
    CHECK(seven(0, 100) == Approx(1.0 / 7));
    // No warmup: the first step trains at the full rate.
    CHECK(lr_schedule{lr_kind::constant, 0.0, 0.0, 0.0}(0, 100) == 1.0);
    CHECK(lr_schedule{lr_kind::warmup_stable_decay, 0.0, 0.0, 0.0}(99, 100) == 1.0);
}

TEST_CASE("schedules reject bad fields and arguments, naming them", "[sched]") {
    auto lr_with = [](double w, double d, double m) { return lr_schedule{lr_kind::warmup_stable_decay, w, d, m}; };
    CHECK_THROWS_WITH(lr_with(-0.1, 0.1, 0.001)(0, 10), Contains("warmup_fraction") && Contains("-0.1"));
    CHECK_THROWS_WITH(lr_with(1.5, 0.1, 0.001)(0, 10), Contains("warmup_fraction"));
    CHECK_THROWS_WITH(lr_with(not_a_number, 0.1, 0.001)(0, 10), Contains("warmup_fraction"));
    CHECK_THROWS_WITH(lr_with(0.1, 1.2, 0.001)(0, 10), Contains("decay_fraction"));
    CHECK_THROWS_WITH(lr_with(0.1, 0.1, -1)(0, 10), Contains("min_ratio"));
    CHECK_THROWS_WITH(lr_with(0.6, 0.5, 0.001)(0, 10), Contains("warmup_fraction + decay_fraction"));
    CHECK_NOTHROW(lr_schedule{lr_kind::cosine, 0.6, 0.5, 0.001}(0, 10));  // decay_fraction unused
    CHECK_THROWS_WITH(lr_schedule{}(0, 0), Contains("total_steps"));
    CHECK_THROWS_WITH(lr_schedule{}(-1, 10), Contains("step must be in [0, 10)") && Contains("-1"));
    CHECK_THROWS_WITH(lr_schedule{}(10, 10), Contains("step must be in [0, 10)"));

    CHECK_THROWS_AS((recurrence_curriculum{ramp_kind::linear, 0.25, 1, 4}.at(0, 0)), error);
    CHECK_THROWS_WITH((recurrence_curriculum{ramp_kind::linear, 1.25, 1, 4}.at(0, 10)), Contains("warmup_fraction"));
    CHECK_THROWS_WITH((recurrence_curriculum{ramp_kind::linear, 0.25, 0, 4}.at(0, 10)), Contains("start"));
    CHECK_THROWS_WITH((recurrence_curriculum{ramp_kind::linear, 0.25, 5, 4}.at(0, 10)),
                      Contains("recur::recurrence_curriculum: r_max") && Contains("got 4"));
    CHECK_THROWS_WITH((recurrence_curriculum{ramp_kind::linear, 0.25, 1, std::int64_t{1} << 31}.at(0, 10)),
                      Contains("r_max"));
    CHECK_THROWS_WITH((recurrence_curriculum{ramp_kind::linear, 0.25, 1, 4}.at(10, 10)), Contains("step"));
    CHECK_THROWS_WITH((backprop_depth_at(backprop_schedule{ramp_kind::linear, 0.25, 1, 0}, 0, 10, 4)), Contains("s_max"));
    CHECK_THROWS_WITH((backprop_depth_at(backprop_schedule{}, 0, 10, 0)), Contains("r_bar"));
    CHECK_THROWS_WITH((backprop_depth_at(backprop_schedule{}, -3, 10, 4)), Contains("step") && Contains("-3"));
}

TEST_CASE("schedule JSON round-trips and checks its keys", "[sched]") {
    const lr_schedule lr{lr_kind::cosine, 0.05, 0.2, 0.01};
    const auto lj = to_json(lr);
    CHECK(lj == nlohmann::json{{"kind", "cosine"}, {"warmup_fraction", 0.05}, {"decay_fraction", 0.2}, {"min_ratio", 0.01}});
    const auto lr2 = lr_schedule_from_json(lj);
    CHECK(lr2.kind == lr.kind);
    CHECK(lr2.warmup_fraction == lr.warmup_fraction);
    CHECK(lr2.decay_fraction == lr.decay_fraction);
    CHECK(lr2.min_ratio == lr.min_ratio);
    CHECK(lr_schedule_from_json(nlohmann::json::object()).kind == lr_kind::warmup_stable_decay);
    CHECK(to_json(lr_schedule{})["kind"] == "wsd");

    const recurrence_curriculum c{ramp_kind::one_minus_sqrt, 0.75, 2, 16};
    CHECK(to_json(c) == nlohmann::json{{"kind", "1-sqrt"}, {"warmup_fraction", 0.75}, {"start", 2}, {"r_max", 16}});
    const auto c2 = ramp_schedule_from_json<mean_recurrence>(to_json(c));
    CHECK((c2.kind == c.kind && c2.warmup_fraction == c.warmup_fraction && c2.start == c.start && c2.max == c.max));
    const backprop_schedule b{ramp_kind::linear, 0.5, 1, 8};
    CHECK(to_json(b) == nlohmann::json{{"kind", "linear"}, {"warmup_fraction", 0.5}, {"start", 1}, {"s_max", 8}});
    const auto b2 = ramp_schedule_from_json<backprop_depth>(to_json(b));
    CHECK((b2.kind == b.kind && b2.warmup_fraction == b.warmup_fraction && b2.start == b.start && b2.max == b.max));
    CHECK(ramp_schedule_from_json<backprop_depth>({{"kind", "constant"}}).kind == ramp_kind::constant);

    using J = nlohmann::json;
    CHECK_THROWS_WITH(lr_schedule_from_json(J{{"warmup", 0.1}}), Contains("unknown key 'warmup'"));
    CHECK_THROWS_WITH(lr_schedule_from_json(J{{"min_ratio", "small"}}), Contains("'min_ratio'") && Contains("wrong type"));
    CHECK_THROWS_WITH(lr_schedule_from_json(J{{"kind", "linear"}}), Contains("'kind'") && Contains("'linear'"));
    CHECK_THROWS_WITH(lr_schedule_from_json(J{{"min_ratio", 2}}), Contains("min_ratio"));
    CHECK_THROWS_WITH(lr_schedule_from_json(J::array()), Contains("expected a JSON object"));
    CHECK_THROWS_WITH(lr_schedule_from_json(J{{"foo", 1}}, "train.json"), Contains("train.json: lr_schedule: "));
    CHECK_THROWS_WITH(ramp_schedule_from_json<mean_recurrence>(J{{"kind", "sqrt"}}), Contains("'kind'") && Contains("'sqrt'"));
    CHECK_THROWS_WITH(ramp_schedule_from_json<mean_recurrence>(J{{"r_max", 2.5}}), Contains("'r_max' must be an integer"));
    CHECK_THROWS_WITH(ramp_schedule_from_json<mean_recurrence>(J{{"r_max", "8"}}), Contains("'r_max' must be an integer"));
    CHECK_THROWS_WITH(ramp_schedule_from_json<mean_recurrence>(J{{"r_max", 0}}), Contains("r_max"));
    CHECK_THROWS_WITH(ramp_schedule_from_json<mean_recurrence>(J{{"s_max", 8}}), Contains("unknown key 's_max'"));
    CHECK_THROWS_WITH(ramp_schedule_from_json<backprop_depth>(J{{"r_max", 8}}), Contains("unknown key 'r_max'"));
    CHECK_THROWS_WITH(ramp_schedule_from_json<backprop_depth>(J{{"warmup_fraction", true}}),
                      Contains("'warmup_fraction'") && Contains("wrong type"));
    CHECK_THROWS_WITH(ramp_schedule_from_json<backprop_depth>(J{{"start", -1}}), Contains("start"));
}
