// Tests that need something outside the project (a peer such as PyTorch, a file of ../shared/data, a
// CPU feature): in CI (CI=true) a missing peer or file fails the test naming it; elsewhere the test is
// skipped, and ctest reports it as skipped (the binary exits with skip_exit_code), never as a pass.
// Not here: finding the peers themselves (each test says what it needs).
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace recur::test {

/// The exit status a test binary returns when a test skipped and none failed; ctest's
/// SKIP_RETURN_CODE (tests/CMakeLists.txt) turns it into "Skipped".
inline constexpr int skip_exit_code = 4;

/// True when the environment says this is a CI run (CI=true), where nothing may be skipped.
inline bool in_ci() {
    const char* v = std::getenv("CI");
    return v != nullptr && std::string_view(v) == "true";
}

/// How many checks skipped in this process (catch_main.cpp turns a non-zero count into skip_exit_code).
inline int& skipped_checks() {
    static int count = 0;
    return count;
}

/// Marks the running test skipped, with the reason in its output. The caller returns from the test.
inline void skip(const std::string& why) {
    ++skipped_checks();
    WARN("SKIPPED: " << why);
}

/// True when `available`. Otherwise: in CI the test fails naming `what` is missing; elsewhere it is
/// skipped. Use as `if (!test::require_peer(found, "PyTorch (...)")) return;`.
inline bool require_peer(bool available, const std::string& what) {
    if (available) return true;
    if (in_ci()) FAIL("missing peer or data (CI=true needs it): " << what);
    skip(what + " is missing");
    return false;
}

/// require_peer for a file: true when `path` exists.
inline bool require_file(const std::filesystem::path& path) {
    return require_peer(std::filesystem::exists(path), "file '" + path.string() + "'");
}

/// A capability of this machine (e.g. a bf16 matmul) rather than a peer: skipped where it is absent,
/// in CI too, and reported as skipped.
inline bool require_capability(bool available, const std::string& what) {
    if (!available) skip("this machine lacks " + what);
    return available;
}

}  // namespace recur::test
