// The Catch2 main shared by every test binary (compiled once): a run in which some test skipped
// (support/skip.hpp) and none failed exits with skip_exit_code, which ctest reports as skipped; a
// run whose test names match no test fails (Catch2's "-w NoTests"), so a ctest entry can never pass
// by running nothing (as a TEST_CASE name holding ';' did: CMake splits it into two names).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "support/skip.hpp"

int main(int argc, char* argv[]) {
    Catch::Session session;
    if (const int bad = session.applyCommandLine(argc, argv); bad != 0) return bad;
    auto& config = session.configData();
    config.warnings = static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoTests);
    const int failed = session.run();
    if (failed == 0 && recur::test::skipped_checks() > 0) return recur::test::skip_exit_code;
    return failed;
}
