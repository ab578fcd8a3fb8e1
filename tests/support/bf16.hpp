// bf16 checks on the cpu backend need a CPU whose oneDNN has a bf16 matmul; elsewhere they are
// skipped with a warning that says so. Not here: the checks themselves.
#pragma once

#include <catch2/catch.hpp>

#include <recur/backends/cpu.hpp>

namespace recur::test {

/// True where the cpu backend runs matmul_precision::bf16; otherwise false, after a WARN that names
/// what is skipped.
inline bool cpu_runs_bf16(const char* what) {
    if (cpu_has_bf16_matmul()) return true;
    WARN(what << " skipped: this CPU's oneDNN has no bf16 matmul");
    return false;
}

}  // namespace recur::test
