#!/usr/bin/env bash
# The cuda backend proven on a GPU, in one command that ends within 8 minutes on an H100 / H200 with
# only the CUDA toolkit (and the headers scripts/gpu_deps.sh puts in .gpu_deps, carried along):
#   1. builds the cuda tests and the gpu_check program with nvcc for this GPU (the project's CMake
#      needs oneDNN, PCRE2 and ICU, which a bare GPU machine lacks, so this calls nvcc directly);
#   2. runs the cuda op table (every kernel against the reference, gradients included) and the model
#      tests (training and decoding against the reference);
#   3. runs benchmarks/gpu/check.cu: the cuBLAS bf16 peak, models S and M trained 20 steps against
#      the cpu losses in benchmarks/gpu/expected.json, the 1B-class training step (tokens/s, MFU) and
#      decode tokens/s at r = 1, 4, 16.
# Writes OUT/gpu_results.json (OUT: $OUT on the device machine, else build/gpu) with every result,
# and the logs beside it. Exit status 0 only when every test passed and the losses agree.
# Usage: bash scripts/gpu_check.sh [--quick]   (--quick: smaller shapes, for trying the script)
set -uo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
out=${OUT:-build/gpu}
mkdir -p "$out" build/gpu-bin
bin=build/gpu-bin
start=$(date +%s)
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
deps=.gpu_deps/include
[[ -d $deps ]] || deps=/usr/include  # a developer machine with the Debian packages
arch=${RECUR_CUDA_ARCH:-native}

flags=(-std=c++20 -O3 -arch="$arch" -Iinclude -Ibackends/cuda -Ibackends/reference -Itests -Ibenchmarks -I"$deps"
       -Xcompiler=-Wall,-Wextra)
build() {  # name, sources...
  local name=$1
  shift
  "$nvcc" "${flags[@]}" "$@" -lcublas -o "$bin/$name" >"$out/build_$name.log" 2>&1 \
    && echo "built $name" || { echo "FAILED to build $name (see build_$name.log)"; tail -20 "$out/build_$name.log"; return 1; }
}
echo "gpu_check: $("$nvcc" --version | tail -1); $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -1)"
build test_cuda tests/cuda/test_cuda.cu tests/catch_main.cpp &
build test_cuda_model tests/cuda/test_cuda_model.cu tests/catch_main.cpp &
build gpu_check benchmarks/gpu/check.cu &
built=0
for job in $(jobs -p); do wait "$job" && built=$((built + 1)); done
echo "gpu_check: built $built of 3 in $(($(date +%s) - start)) s"

status=0
tests_json="{"
for t in test_cuda test_cuda_model; do
  if [[ -x $bin/$t ]]; then
    "$bin/$t" -r junit -o "$out/$t.xml" >"$out/$t.log" 2>&1
    rc=$?
    # Catch2's exit status: 0 all passed, 4 (the shared runner's skip code) some skipped, else failures.
    echo "gpu_check: $t exit $rc"
    [[ $rc == 0 ]] || status=1
    tests_json+="\"$t\": {\"exit\": $rc, \"junit\": \"$t.xml\"},"
  else
    status=1
    tests_json+="\"$t\": {\"exit\": null, \"error\": \"not built\"},"
  fi
done
tests_json="${tests_json%,}}"
echo "gpu_check: tests done at $(($(date +%s) - start)) s"

if [[ -x $bin/gpu_check ]]; then
  q=()
  [[ $quick == --quick ]] && q=(--quick)
  "$bin/gpu_check" benchmarks/gpu/expected.json "$out/workloads.json" "${q[@]}" 2>&1 | tee "$out/gpu_check.log"
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
else
  status=1
fi
python3 - "$out" "$tests_json" "$status" "$(($(date +%s) - start))" <<'PY'
import json, os, sys
out, tests, status, seconds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
result = {"ok": status == 0, "seconds": seconds, "tests": tests}
for name, t in tests.items():  # counts from the junit reports
    path = os.path.join(out, t.get("junit", ""))
    if os.path.isfile(path):
        import xml.etree.ElementTree as ET
        suite = ET.parse(path).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        t.update({k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")})
w = os.path.join(out, "workloads.json")
if os.path.isfile(w):
    result["workloads"] = json.load(open(w))
json.dump(result, open(os.path.join(out, "gpu_results.json"), "w"), indent=1)
print(json.dumps(result)[:4000])
PY
echo "gpu_check: $([[ $status == 0 ]] && echo passed || echo FAILED) in $(($(date +%s) - start)) s"
exit $status
