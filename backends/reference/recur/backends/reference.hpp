// The reference backend: plain loops over host memory, the oracle every other backend is tested
// against. basic_reference<double> runs the finite-difference gradient checks.
// Not here: anything fast; no threads, no SIMD, no libraries.
#pragma once

#include <string_view>

#include <recur/core/host_memory.hpp>
#include <recur/recur.hpp>

namespace recur {

/// Host backend computing in T with obviously-correct loops.
template <class T>
struct basic_reference : host_memory {
    using scalar = T;
    static constexpr std::string_view name = sizeof(T) == 8 ? "reference64" : "reference";
};

/// f32 reference backend.
using reference = basic_reference<float>;
/// f64 reference backend, for gradient checks by finite differences.
using reference64 = basic_reference<double>;

static_assert(Backend<reference> && Backend<reference64>);

}  // namespace recur

#include <recur/backends/reference/activation.hpp>
#include <recur/backends/reference/attention.hpp>
#include <recur/backends/reference/copy.hpp>
#include <recur/backends/reference/cross_entropy.hpp>
#include <recur/backends/reference/elementwise.hpp>
#include <recur/backends/reference/embedding.hpp>
#include <recur/backends/reference/gemm.hpp>
#include <recur/backends/reference/optim.hpp>
#include <recur/backends/reference/random.hpp>
#include <recur/backends/reference/rms_norm.hpp>
#include <recur/backends/reference/rope.hpp>
