// Catch2 runner of the cuda tests, compiled by the host compiler: exits with 77 (ctest: skipped)
// when no CUDA device exists, before any test runs.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>

bool recur_test_has_cuda_device();

int main(int argc, char* argv[]) {
    if (!recur_test_has_cuda_device()) {
        std::cout << "no CUDA device: skipping\n";
        return 77;
    }
    return Catch::Session().run(argc, argv);
}
