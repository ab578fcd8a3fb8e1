// Element types: f32/f64 compute, bf16/f16 storage, i32 indices; bit-exact host conversions.
// Not here: device-side conversion kernels (backends bounce through the host when they lack one).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string_view>

#include <recur/core/error.hpp>

namespace recur {

/// Storage type of a tensor's elements. Arithmetic happens in the backend's compute type
/// (f32, or f64 for the double-precision reference used by gradient checks).
enum class dtype : std::uint8_t { f32, f64, bf16, f16, i32 };

constexpr std::size_t dtype_size(dtype t) {
    switch (t) {
        case dtype::f64: return 8;
        case dtype::f32:
        case dtype::i32: return 4;
        case dtype::bf16:
        case dtype::f16: return 2;
    }
    return 0;
}

constexpr std::string_view dtype_name(dtype t) {
    switch (t) {
        case dtype::f32: return "f32";
        case dtype::f64: return "f64";
        case dtype::bf16: return "bf16";
        case dtype::f16: return "f16";
        case dtype::i32: return "i32";
    }
    return "?";
}

inline std::ostream& operator<<(std::ostream& os, dtype t) { return os << dtype_name(t); }

template <class T> inline constexpr dtype dtype_of = dtype::f32;
template <> inline constexpr dtype dtype_of<double> = dtype::f64;
template <> inline constexpr dtype dtype_of<std::int32_t> = dtype::i32;

/// f32 -> bf16 with round-to-nearest-even; NaN stays NaN (quiet), infinities are kept.
/// Branch-free, so that loops over it vectorise.
constexpr std::uint16_t f32_to_bf16(float x) {
    const auto bits = std::bit_cast<std::uint32_t>(x);
    const std::uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    const std::uint32_t quiet_nan = (bits >> 16) | 0x40u;
    return static_cast<std::uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

constexpr float bf16_to_f32(std::uint16_t h) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

/// x rounded to TensorFloat-32 (f32's 8 exponent bits, 10 mantissa bits) by round-to-nearest-even,
/// NaN kept: what a TF32 tensor-core GEMM reads of an f32 operand.
constexpr float f32_round_to_tf32(float x) {
    const auto bits = std::bit_cast<std::uint32_t>(x);
    if ((bits & 0x7fffffffu) >= 0x7f800000u) return x;
    return std::bit_cast<float>((bits + 0xfffu + ((bits >> 13) & 1u)) & ~0x1fffu);
}

/// f32 -> IEEE binary16 with round-to-nearest-even, subnormals, overflow to infinity, NaN kept.
constexpr std::uint16_t f32_to_f16(float x) {
    const auto bits = std::bit_cast<std::uint32_t>(x);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);   // NaN
    if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
        if (abs < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25)
        const std::uint32_t exp = abs >> 23;
        const std::uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const std::uint32_t shift = 126u - exp;  // maps to a 10-bit subnormal mantissa
        const std::uint32_t half = mant >> shift;
        const std::uint32_t rem = mant & ((1u << shift) - 1u);
        const std::uint32_t mid = 1u << (shift - 1u);
        const std::uint32_t up = (rem > mid || (rem == mid && (half & 1u))) ? 1u : 0u;
        return static_cast<std::uint16_t>(sign | (half + up));
    }
    const std::uint32_t rebiased = abs - (112u << 23);  // exponent bias 127 -> 15
    const std::uint32_t rounding = 0xfffu + ((rebiased >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | ((rebiased + rounding) >> 13));
}

constexpr float f16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    if (exp == 0x1fu) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0) return std::bit_cast<float>(sign);
        int e = -1;  // normalise the subnormal
        do {
            mant <<= 1;
            ++e;
        } while ((mant & 0x400u) == 0);
        const std::uint32_t fexp = static_cast<std::uint32_t>(127 - 15 - e);
        return std::bit_cast<float>(sign | (fexp << 23) | ((mant & 0x3ffu) << 13));
    }
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

namespace detail {

inline double load_as_double(const std::byte* p, dtype t, std::size_t i) {
    switch (t) {
        case dtype::f32: { float v; std::memcpy(&v, p + 4 * i, 4); return v; }
        case dtype::f64: { double v; std::memcpy(&v, p + 8 * i, 8); return v; }
        case dtype::i32: { std::int32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
        case dtype::bf16: { std::uint16_t v; std::memcpy(&v, p + 2 * i, 2); return bf16_to_f32(v); }
        case dtype::f16: { std::uint16_t v; std::memcpy(&v, p + 2 * i, 2); return f16_to_f32(v); }
    }
    return 0;
}

inline void store_from_double(std::byte* p, dtype t, std::size_t i, double x) {
    switch (t) {
        case dtype::f32: { const auto v = static_cast<float>(x); std::memcpy(p + 4 * i, &v, 4); return; }
        case dtype::f64: { std::memcpy(p + 8 * i, &x, 8); return; }
        case dtype::i32: {
            check(x >= -2147483648.0 && x <= 2147483647.0, "recur::convert: value ", x, " does not fit in i32");
            const auto v = static_cast<std::int32_t>(x);
            std::memcpy(p + 4 * i, &v, 4);
            return;
        }
        case dtype::bf16: { const auto v = f32_to_bf16(static_cast<float>(x)); std::memcpy(p + 2 * i, &v, 2); return; }
        case dtype::f16: { const auto v = f32_to_f16(static_cast<float>(x)); std::memcpy(p + 2 * i, &v, 2); return; }
    }
}

}  // namespace detail

/// Converts `n` elements between host buffers of any two dtypes (f32 -> bf16/f16 rounds to nearest even).
inline void convert_host(void* dst, dtype dst_type, const void* src, dtype src_type, std::size_t n) {
    if (n == 0) return;
    auto* d = static_cast<std::byte*>(dst);
    const auto* s = static_cast<const std::byte*>(src);
    if (dst_type == src_type) {
        std::memcpy(d, s, n * dtype_size(dst_type));
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        detail::store_from_double(d, dst_type, i, detail::load_as_double(s, src_type, i));
    }
}

}  // namespace recur
