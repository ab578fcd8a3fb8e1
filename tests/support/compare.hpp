// Comparisons shared by the backend tests: norm-wise relative error, and every parameter gradient
// of two copies of a model on different backends.
// Not here: finite differences (gradcheck.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include <recur/recur.hpp>

namespace recur::test {

inline double norm(const std::vector<double>& a) {
    double s = 0;
    for (double x : a) s += x * x;
    return std::sqrt(s);
}

inline double distance(const std::vector<double>& a, const std::vector<double>& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
    return std::sqrt(d);
}

/// ||a - b|| / max(||a||, ||b||), 0 when both are zero.
inline double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
    return distance(a, b) / std::max({norm(a), norm(b), 1e-30});
}

/// CHECKs that the two models list the same parameters and that each gradient of `b` is within
/// `tolerance` of `a`'s, relative to the norm of `a`'s (the reference).
template <Backend A, Backend B, class MA, class MB>
void check_same_gradients(MA& a, MB& b, double tolerance) {
    const auto pa = named_parameters<A>(a);
    const auto pb = named_parameters<B>(b);
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].name);
        REQUIRE(pa[i].name == pb[i].name);
        const auto ga = pa[i].tensor->grad().template to_host<double>();
        const auto gb = pb[i].tensor->grad().template to_host<double>();
        REQUIRE(ga.size() == gb.size());
        CHECK(distance(ga, gb) <= tolerance * norm(ga));
    }
}

}  // namespace recur::test
