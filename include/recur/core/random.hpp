// A small, portable random generator (xoshiro256**) and tensor initialisers built on it, so that
// the same seed gives the same numbers on every platform and standard library.
// Not here: the recurrence sampler (recurrence/), data shuffling (data/) or the kernel drawing a keyed
// tensor (kernels/random.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include <recur/core/host_device.hpp>
#include <recur/core/tensor.hpp>

namespace recur {

/// xoshiro256** seeded through splitmix64; copyable state for exact resume.
class rng {
public:
    explicit rng(std::uint64_t seed = 0) {
        for (auto& s : s_) {
            seed += 0x9e3779b97f4a7c15ull;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            s = z ^ (z >> 31);
        }
    }
    std::uint64_t next() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    /// Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Standard normal (Box-Muller, one value per call).
    double normal() {
        const double u1 = 1.0 - uniform(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }

    /// A generator for shapes only: randn and rand_uniform return zeros without drawing. For a model
    /// whose every parameter a loader then replaces (load_hf, load_gguf, ...), so that building it
    /// costs no random draws (minutes for a 1B model).
    static rng for_loading() {
        rng g;
        g.draws_ = false;
        return g;
    }
    /// False for rng::for_loading().
    bool draws() const { return draws_; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4]{};
    bool draws_ = true;
};

/// Counter-based randomness: a value that is a pure function of a key, so any element of a large
/// tensor can be drawn alone and in any order (the recurrent state noise uses it per position). The
/// same functions run on the host and in CUDA device code (RECUR_HOST_DEVICE), so every backend draws
/// the same values for the same keys.
namespace keyed {
/// splitmix64's finaliser of h combined with v, on one 64-bit integer or, U a SIMD batch of them
/// (a backend's vectorised draw), lane by lane.
template <class U>
RECUR_HOST_DEVICE U mix_lanes(const U& h, const U& v) {
    U z = h ^ (v + U(0x9e3779b97f4a7c15ull) + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * U(0xbf58476d1ce4e5b9ull);
    z = (z ^ (z >> 27)) * U(0x94d049bb133111ebull);
    return z ^ (z >> 31);
}
/// splitmix64's finaliser of h combined with v.
RECUR_HOST_DEVICE inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) { return mix_lanes(h, v); }
/// Uniform in [0, 1) with 53 bits.
RECUR_HOST_DEVICE inline double uniform(std::uint64_t key) { return static_cast<double>(mix(key, 0) >> 11) * 0x1.0p-53; }
/// Standard normal cut at +-limit by rejection (Box-Muller on successive sub-keys).
RECUR_HOST_DEVICE inline double truncated_normal(std::uint64_t key, double limit) {
    for (std::uint64_t attempt = 0;; ++attempt) {
        const double u1 = 1.0 - uniform(mix(key, 2 * attempt)), u2 = uniform(mix(key, 2 * attempt + 1));
        const double x = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
        if (std::abs(x) <= limit) return x;
    }
}
/// The key of row (batch item i, position pos) of a keyed draw whose base key is `base`; element c
/// of the row has key mix(row_key(base, i, pos), c).
RECUR_HOST_DEVICE inline std::uint64_t row_key(std::uint64_t base, std::int64_t i, std::int64_t pos) {
    return mix(mix(base, static_cast<std::uint64_t>(i)), static_cast<std::uint64_t>(pos));
}
}  // namespace keyed

/// Tensor of independent N(mean, std^2) values.
template <Backend B>
Tensor<B> randn(const Shape& shape, rng& gen, double mean = 0.0, double std = 1.0) {
    if (!gen.draws()) return Tensor<B>::zeros(shape);
    std::vector<double> v(static_cast<std::size_t>(shape.numel()));
    for (auto& x : v) x = mean + std * gen.normal();
    return Tensor<B>::from_host(v, shape);
}

/// Tensor of independent U(lo, hi) values.
template <Backend B>
Tensor<B> rand_uniform(const Shape& shape, rng& gen, double lo = 0.0, double hi = 1.0) {
    if (!gen.draws()) return Tensor<B>::zeros(shape);
    std::vector<double> v(static_cast<std::size_t>(shape.numel()));
    for (auto& x : v) x = lo + (hi - lo) * gen.uniform();
    return Tensor<B>::from_host(v, shape);
}

}  // namespace recur
