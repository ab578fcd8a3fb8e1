#!/usr/bin/env bash
# Model "S" side by side in one run: `recur bench` (cpu backend) and peer_torch_model.py (PyTorch
# eager, Debian's python3-torch, best of 1 and 2 threads) on the same shapes; prints the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/bench}
mkdir -p "$out"
cmake --preset release >/dev/null
cmake --build --preset release --target recur_cli >/dev/null
recur=./build/release/examples/recur
{
  "$recur" bench --model-config S --mode train --r 4 --k 4 --optimizer none --min-seconds 8
  "$recur" bench --model-config S --mode train --r 8 --k 4 --optimizer none --min-seconds 8
  "$recur" bench --model-config S --mode fwd --r 4 --min-seconds 8
  "$recur" bench --model-config S --mode fwd --r 16 --min-seconds 8
} > "$out/recur_model_s.jsonl"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 benchmarks/peer_torch_model.py > "$out/torch_model_s.json"
else
  echo '{"results": {}}' > "$out/torch_model_s.json"
  echo "python3-torch is not installed (apt-get install python3-torch): PyTorch column left empty" >&2
fi

/usr/bin/python3 - "$out/recur_model_s.jsonl" "$out/torch_model_s.json" <<'PY'
import json, sys
recur = [json.loads(line) for line in open(sys.argv[1])]
torch = json.load(open(sys.argv[2]))["results"]
names = ["train_n0_k4", "train_n4_k4", "forward_r4", "forward_r16"]
labels = ["train r=4 (n=0, k=4)", "train r=8 (n=4, k=4)", "forward r=4", "forward r=16"]
print(f"{'model S, B=8, T=256':24} {'recur tok/s':>12} {'torch tok/s':>12} {'recur/torch':>12}")
for label, name, r in zip(labels, names, recur):
    t = torch.get(name, {}).get("tokens_per_s")
    ratio = f"{r['tokens_per_s'] / t:11.2f}x" if t else f"{'-':>12}"
    print(f"{label:24} {r['tokens_per_s']:12.0f} {t or 0:12.0f} {ratio}")
PY
