// The cpu backend: 64-byte-aligned host memory, oneDNN for matrix products, xsimd for element-wise
// kernels and reductions, one OpenMP thread pool shared with oneDNN. Not here: the kernels (cpu/*.hpp).
#pragma once

#include <recur/core/host_memory.hpp>
#include <recur/recur.hpp>

#include <string_view>

namespace recur {

/// Host backend computing in f32 with vectorised, multi-threaded kernels.
///
/// Threads: every kernel (and oneDNN, built on the OpenMP runtime) uses the OpenMP pool, so
/// OMP_NUM_THREADS sizes it; kernels on small arrays stay on the calling thread.
struct cpu : host_memory {
    using scalar = float;
    static constexpr std::string_view name = "cpu";
};

static_assert(Backend<cpu>);

}  // namespace recur

#include <recur/backends/cpu/activation.hpp>
#include <recur/backends/cpu/attention.hpp>
#include <recur/backends/cpu/copy.hpp>
#include <recur/backends/cpu/core.hpp>
#include <recur/backends/cpu/cross_entropy.hpp>
#include <recur/backends/cpu/elementwise.hpp>
#include <recur/backends/cpu/embedding.hpp>
#include <recur/backends/cpu/gemm.hpp>
#include <recur/backends/cpu/optim.hpp>
#include <recur/backends/cpu/random.hpp>
#include <recur/backends/cpu/rms_norm.hpp>
#include <recur/backends/cpu/rope.hpp>
