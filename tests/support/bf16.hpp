// bf16 checks on the cpu backend need a CPU whose oneDNN has a bf16 matmul; elsewhere they are
// skipped, and ctest reports the test as skipped (support/skip.hpp). Not here: the checks themselves.
#pragma once

#include <catch2/catch.hpp>

#include <recur/backends/cpu.hpp>

#include "skip.hpp"

namespace recur::test {

/// True where the cpu backend runs matmul_precision::bf16; otherwise false, with the test marked
/// skipped naming what did not run.
inline bool cpu_runs_bf16(const char* what) {
    return require_capability(cpu_has_bf16_matmul(), std::string("a oneDNN bf16 matmul (") + what + " not run)");
}

}  // namespace recur::test
