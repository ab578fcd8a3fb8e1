#!/usr/bin/env bash
# Prepares what scripts/gpu_check.sh needs beyond the CUDA toolkit on a bare GPU machine: the two
# header-only libraries the cuda tests and gpu_check include (nlohmann-json, Catch2 2.13), copied
# from this machine's Debian packages into .gpu_deps/include (ignored by git; carry it to the device).
# Not here: the check itself (gpu_check.sh), anything compiled (the device builds from source).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh >/dev/null
rm -rf .gpu_deps
mkdir -p .gpu_deps/include
cp -r /usr/include/nlohmann /usr/include/catch2 .gpu_deps/include/
echo "gpu_deps: .gpu_deps/include holds $(du -sh .gpu_deps | cut -f1) of headers (nlohmann-json, Catch2)"
