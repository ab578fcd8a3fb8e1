#!/usr/bin/env bash
# Runs bench_ops (recur vs oneDNN called directly) and peer_torch_ops.py (PyTorch eager) in one go
# and prints one table with the ratios. Needs Debian's python3-torch for the PyTorch column.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/bench}
mkdir -p "$out"
cmake --preset release -DRECUR_BUILD_BENCHMARKS=ON >/dev/null
cmake --build --preset release --target bench_ops >/dev/null
./build/release/benchmarks/bench_ops --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/bench_ops.json" --benchmark_out_format=json >/dev/null
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 benchmarks/peer_torch_ops.py > "$out/torch_ops.json"
else
  echo '{}' > "$out/torch_ops.json"
  echo "python3-torch is not installed (apt-get install python3-torch): PyTorch column left empty" >&2
fi

/usr/bin/python3 - "$out/bench_ops.json" "$out/torch_ops.json" <<'PY'
import json, re, sys
bench = json.load(open(sys.argv[1]))["benchmarks"]
torch = json.load(open(sys.argv[2]))
def find(prefix, args, stat="median"):
    for b in bench:
        nums = [int(x) for x in re.findall(r":(\d+)", b["name"])]
        if b["name"].startswith(prefix + "/") and nums == list(args) and b.get("aggregate_name") == stat:
            return b
    return None
print("matmul (M, N, K)      recur GF/s  oneDNN prim  dnnl_sgemm  recur/prim  torch GF/s  recur/torch")
for i, (m, n, k) in enumerate([(2048, 256, 256), (2048, 704, 256), (2048, 256, 704)]):
    r, p, s = (find(f"BM_matmul_{x}", (m, n, k))["FLOPS"] / 1e9 for x in ("recur", "onednn_primitive", "dnnl_sgemm"))
    t = torch.get("matmul", [{}] * 3)[i].get("gflops")
    tcol = f"{t:10.1f}  {r / t:11.2f}" if t else f"{'-':>10}  {'-':>11}"
    print(f"({m}, {n}, {k}){'':5} {r:10.1f}  {p:11.1f}  {s:10.1f}  {r / p:10.2f}  {tcol}")
print()
print("attention fwd+bwd (B, H, Hkv, T, D)   recur ms   torch ms   torch/recur")
for i, shape in enumerate([(8, 8, 8, 256, 32), (8, 8, 4, 256, 32)]):
    r = find("BM_attention_fwd_bwd", shape)["real_time"]
    t = torch.get("attention_fwd_bwd", [{}] * 2)[i].get("ms")
    tcol = f"{t:9.2f}   {t / r:11.2f}" if t else f"{'-':>9}   {'-':>11}"
    print(f"{str(shape):36} {r:9.2f}  {tcol}")
print(f"\n(torch {torch.get('torch', 'not installed')}, best of 1 and 2 threads)")
PY
