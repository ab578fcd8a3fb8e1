#!/usr/bin/env bash
# The test command: installs dependencies, configures and builds the release preset, runs ctest.
# Set RECUR_SANITIZE=1 to also build and run the debug preset (AddressSanitizer + UBSan).
# Ends with what ran per preset (tests, passed, failed, skipped); a failure in any preset fails it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
jobs=$(nproc)

presets=(release)
if [[ "${RECUR_SANITIZE:-0}" == 1 ]]; then presets+=(debug); fi

status=0
results=()
for preset in "${presets[@]}"; do
  cmake --preset "$preset"
  cmake --build --preset "$preset" -j "$jobs"
  junit="$PWD/build/$preset/ctest-junit.xml"
  rm -f "$junit"
  ctest --preset "$preset" -j "$jobs" --output-junit "$junit" || status=1
  results+=("$preset=$junit")
done

/usr/bin/python3 scripts/test_summary.py "${results[@]}" || status=1
exit "$status"
