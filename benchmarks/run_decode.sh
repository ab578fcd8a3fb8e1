#!/usr/bin/env bash
# KV-cached greedy decoding side by side in one run: `recur bench --mode decode` (cpu backend) and
# peer_torch_decode.py (PyTorch eager, Debian's python3-torch) for the stories260K shape and model S at
# r = 1, 4, 16 (model S at r = 16 also under compress:4 and latest); both sides take the best of 1 and
# 2 threads and of several rounds. Prints the table: tokens/s, the recur / torch ratio, ms/token, its ratio to r = 1 and the
# cost of one more iteration, (ms/token at r - ms/token at r = 1) / (r - 1), constant when linear in r.
# Usage: benchmarks/run_decode.sh [output dir] [min seconds per case (2)] [rounds (3)]
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/bench}
secs=${2:-2}
rounds=${3:-3}
stories=../shared/data/stories260K.bin
mkdir -p "$out"
cmake --preset release >/dev/null
cmake --build --preset release --target recur_cli >/dev/null
recur=./build/release/examples/recur
[ -f "$stories" ] || { echo "run_decode.sh: $stories is missing" >&2; exit 1; }
have_torch=1
/usr/bin/python3 -c "import torch" 2>/dev/null || {
  have_torch=0
  echo "python3-torch is not installed (apt-get install python3-torch): PyTorch column left empty" >&2
}

cases=("stories260K 1 full" "stories260K 4 full" "stories260K 16 full" "S 1 full" "S 4 full" "S 16 full"
       "S 16 compress:4" "S 16 latest")
: > "$out/recur_decode.jsonl"
rm -f "$out"/torch_decode.*.json
# Rounds alternate the two sides so that both see the same background load; the table keeps each
# case's best round.
for round in $(seq "$rounds"); do
  echo "round $round: $(uptime)" >&2
  for c in "${cases[@]}"; do
    read -r model r cache <<< "$c"
    if [ "$model" = stories260K ]; then src=(--model "$stories"); else src=(--model-config "$model"); fi
    for threads in 1 2; do
      OMP_NUM_THREADS=$threads "$recur" bench --mode decode "${src[@]}" --r "$r" --cache "$cache" \
        --batch 1 --prompt-tokens 16 --new-tokens 128 --min-seconds "$secs" |
        /usr/bin/python3 -c "import json, sys; j = json.load(sys.stdin); j.update(case='$model:$r:$cache', threads=$threads); print(json.dumps(j))" \
        >> "$out/recur_decode.jsonl"
    done
  done
  if [ "$have_torch" = 1 ]; then
    /usr/bin/python3 benchmarks/peer_torch_decode.py --batch 1 --prompt-tokens 16 --new-tokens 128 \
      --min-seconds "$secs" > "$out/torch_decode.$round.json"
  else
    echo '{"results": {}}' > "$out/torch_decode.$round.json"
  fi
done
echo "end: $(uptime)" >&2

/usr/bin/python3 - "$out/recur_decode.jsonl" "$out"/torch_decode.*.json <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j["tokens_per_s"] > best.get(j["case"], {}).get("tokens_per_s", 0):
        best[j["case"]] = j
torch = {}
for path in sys.argv[2:]:
    for case, t in json.load(open(path))["results"].items():
        if t["tokens_per_s"] > torch.get(case, {}).get("tokens_per_s", 0):
            torch[case] = t


def per_iteration(ms, ms1, r):  # (ms/token at r - ms/token at r = 1) / (r - 1): constant when cost is linear in r
    return f"{(ms - ms1) / (r - 1):8.2f}" if r > 1 and ms1 else f"{'-':>8}"


print(f"{'model':12} {'r':>3} {'cache':>11} {'recur tok/s':>12} {'torch tok/s':>12} {'recur/torch':>12} "
      f"{'ms/token':>9} {'/ r=1':>6} {'ms/iter':>8} {'torch ms/tok':>13} {'/ r=1':>6} {'ms/iter':>8} {'cache MiB':>10} "
      f"{'threads':>8}")
for case, j in best.items():
    model, r, cache = case.split(":", 2)
    r = int(r)
    ms, ms1 = j["ms_per_token"], best[f"{model}:1:full"]["ms_per_token"]
    t = torch.get(case, {})
    tms, tms1 = t.get("ms_per_token"), torch.get(f"{model}:1:full", {}).get("ms_per_token")
    ratio = f"{j['tokens_per_s'] / t['tokens_per_s']:11.2f}x" if tms else f"{'-':>12}"
    torch_cols = f"{tms:13.2f} {tms / tms1:6.1f} {per_iteration(tms, tms1, r)}" if tms and tms1 else \
        f"{'-':>13} {'-':>6} {'-':>8}"
    print(f"{model:12} {r:3} {cache:>11} {j['tokens_per_s']:12.1f} {t.get('tokens_per_s', 0):12.1f} {ratio} "
          f"{ms:9.2f} {ms / ms1:6.1f} {per_iteration(ms, ms1, r)} {torch_cols} {j['cache_bytes'] / 2**20:10.2f} "
          f"{j['threads']:>4}/{t.get('threads', '-')}")
PY
