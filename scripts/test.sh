#!/usr/bin/env bash
# The test command: installs dependencies, configures and builds the release preset, runs ctest.
# Set RECUR_SANITIZE=1 to also build and run the debug preset (AddressSanitizer + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
jobs=$(nproc)

cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

if [[ "${RECUR_SANITIZE:-0}" == 1 ]]; then
  cmake --preset debug
  cmake --build --preset debug -j "$jobs"
  ctest --preset debug -j "$jobs"
fi
