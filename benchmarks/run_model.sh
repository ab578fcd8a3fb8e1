#!/usr/bin/env bash
# recur against PyTorch on whole models, in one go (issue 8): the oneDNN matmul peak (bench_ops),
# recur bench and peer_torch_model.py side by side on models S and M at f32 and bf16, recur's time
# per step against n + k, and a d x r scaling family (benchmarks/configs/). Markdown tables go to
# stdout (and OUT/tables.md), JSON lines to OUT; benchmarks/run_model.py does the work.
#
# usage: benchmarks/run_model.sh [OUT] [--quick] [run_model.py options, e.g. --sections bd]
#   OUT        default build/bench
#   --quick    a tiny subset with single steps (a smoke test, a few minutes)
# env: RECUR_BUILD_DIR  a configured build directory to build recur_cli and bench_ops in (default:
#                       build/release, configured with the release preset)
#      RECUR_NO_BUILD=1 use the binaries already in RECUR_BUILD_DIR as they are
# A full run takes about 25 minutes on an idle 2-core machine; run it on an idle one.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/bench
if [[ $# -gt 0 && $1 != --* ]]; then
  out=$1
  shift
fi
build=${RECUR_BUILD_DIR:-build/release}
if [[ ${RECUR_NO_BUILD:-0} != 1 ]]; then
  if [[ -z ${RECUR_BUILD_DIR:-} ]]; then
    cmake --preset release -DRECUR_BUILD_BENCHMARKS=ON >/dev/null
  fi
  cmake --build "$build" --target recur_cli bench_ops >/dev/null
fi
mkdir -p "$out"
exec /usr/bin/python3 benchmarks/run_model.py --out "$out" --recur "$build/examples/recur" \
  --bench-ops "$build/benchmarks/bench_ops" "$@"
