#!/usr/bin/env bash
# The main job: installs dependencies, builds the release preset and runs the main example.
# (A placeholder example until the retrofit demos land.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake --preset release -DRECUR_BUILD_TESTS=OFF -DRECUR_BUILD_BENCHMARKS=OFF
cmake --build --preset release -j "$(nproc)" --target hello_recur
./build/release/examples/hello_recur "$@"
