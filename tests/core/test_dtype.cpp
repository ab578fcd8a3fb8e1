// Storage dtypes: bf16 and f16 conversions against known bit patterns, rounding and special values.
// Not here: tensors holding them (test_tensor.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <recur/core/dtype.hpp>

using namespace recur;

TEST_CASE("bf16 rounds to nearest even and keeps specials", "[dtype]") {
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(f32_to_bf16(-2.0f) == 0xc000);
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    // 1 + 2^-8 is exactly half way between 1 and 1 + 2^-7: ties go to the even mantissa (1.0)
    CHECK(f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);
    // 1 + 3 * 2^-8 is half way between 1 + 2^-7 and 1 + 2^-6: ties go to 1 + 2^-6 (even)
    CHECK(f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);
    CHECK(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);  // above half: rounds up
    CHECK(std::isinf(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::infinity()))));
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(bf16_to_f32(f32_to_bf16(3.14159265f)) == Approx(3.140625f));
}

TEST_CASE("f16 conversion matches IEEE binary16 including subnormals and overflow", "[dtype]") {
    CHECK(f32_to_f16(1.0f) == 0x3c00);
    CHECK(f32_to_f16(-2.0f) == 0xc000);
    CHECK(f32_to_f16(65504.0f) == 0x7bff);                 // largest finite half
    CHECK(f32_to_f16(65520.0f) == 0x7c00);                 // rounds to infinity
    CHECK(f32_to_f16(0x1p-14f) == 0x0400);                 // smallest normal
    CHECK(f32_to_f16(0x1p-24f) == 0x0001);                 // smallest subnormal
    CHECK(f32_to_f16(0x1p-26f) == 0x0000);                 // underflows to zero
    CHECK(f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);          // tie to even
    CHECK(f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);      // tie to even (up)
    CHECK(f16_to_f32(0x3555) == Approx(0.333251953125f));
    CHECK(f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(f16_to_f32(0x8400) == -0x1p-14f);
    CHECK(std::isinf(f16_to_f32(0x7c00)));
    CHECK(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
    // every finite half survives a round trip through f32
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7c00) == 0x7c00) continue;
        REQUIRE(f32_to_f16(f16_to_f32(static_cast<std::uint16_t>(h))) == h);
    }
}

TEST_CASE("host conversion refuses values that do not fit in i32", "[dtype]") {
    const float big = 3e9f;
    std::int32_t out = 0;
    CHECK_THROWS_AS(convert_host(&out, dtype::i32, &big, dtype::f32, 1), recur::error);
}
