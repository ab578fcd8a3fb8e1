#!/usr/bin/env bash
# The main job: installs the dependencies (Debian packages, gnuplot for the plots), builds the
# release preset, runs the two retrofit demos with their defaults (about 15 minutes on 2 cores) and
# writes a results folder with JSON, gnuplot data and PNG plots:
#   <out>/reasoning/               synthetic multi-step reasoning: pretrain -> retrofit -> curriculum
#   <out>/retrofit_tinystories/    stories260K retrofitted and healed on TinyStories
#
# Usage: bash scripts/demo.sh [--data-dir DIR] [--out DIR] [--quick] [--only reasoning|tinystories]
#   --data-dir  the real data (stories260K.bin, tok512.bin, TinyStories text); default ../shared/data
#   --out       results folder; default results
#   --quick     a tiny run of both (seconds; checks the pipeline, numbers meaningless)
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=../shared/data
out=results
only=all
extra=()
while (($#)); do
  case "$1" in
    --data-dir) data_dir=${2:?--data-dir needs a folder}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --quick) extra+=(--quick); shift ;;
    --only) only=${2:?--only needs reasoning or tinystories}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$only" in all|reasoning|tinystories) ;; *) echo "demo.sh: --only takes reasoning or tinystories, got '$only'" >&2; exit 2 ;; esac

if [[ $only != reasoning ]]; then
  missing=()
  for f in stories260K.bin tok512.bin tinystories_train_head_2mb.txt tinystories_valid.txt; do
    [[ -f $data_dir/$f ]] || missing+=("$data_dir/$f")
  done
  if ((${#missing[@]})); then
    cat >&2 <<EOF
demo.sh: missing data: ${missing[*]}
  stories260K.bin, tok512.bin: https://huggingface.co/karpathy/tinyllamas/tree/main/stories260K
  TinyStories text: https://huggingface.co/datasets/roneneldan/TinyStories (TinyStories-train.txt, TinyStories-valid.txt;
  tinystories_train_head_2mb.txt is the first 2 MB of stories of the train file)
  Put them in one folder and pass --data-dir, or run with --only reasoning (needs no data).
EOF
    exit 1
  fi
fi

bash scripts/deps.sh gnuplot-nox
cmake --preset release -DRECUR_BUILD_TESTS=OFF -DRECUR_BUILD_BENCHMARKS=OFF
cmake --build --preset release -j "$(nproc)" --target reasoning retrofit_tinystories

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
# Waiting OpenMP threads sleep instead of spinning: a few % slower on an idle machine, but when
# another process holds a core, spinning threads starve the working one (model S training step,
# 2 threads, one core busy: 109 tokens/s spinning, 1204 passive; benchmarks/README.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
bin=build/release/examples
plot() {  # plot FILE.tsv TITLE XLABEL YLABEL LOGX [LOGY]
  gnuplot -e "file='$1'; blocks=$(grep -c '^"' "$1"); out='${1%.tsv}.png'; heading='$2'; xlab='$3'; ylab='$4'; logx=$5; logy=${6:-0}" \
    scripts/plot_series.gnuplot
  echo "plot: ${1%.tsv}.png"
}

start=$SECONDS
if [[ $only != tinystories ]]; then
  "$bin/reasoning" --out "$out/reasoning" "${extra[@]}"
  plot "$out/reasoning/accuracy_vs_r.tsv" "Reasoning: exact match (all test difficulties) vs test recurrence" \
    "test recurrence r" "accuracy" 1
  plot "$out/reasoning/accuracy_vs_difficulty.tsv" "Reasoning: retrofitted model, accuracy per difficulty" \
    "difficulty (dependent steps)" "accuracy" 0
  plot "$out/reasoning/curves.tsv" "Reasoning: training loss vs cumulative training FLOPs" "training FLOPs" "loss" 0 1
fi
if [[ $only != reasoning ]]; then
  "$bin/retrofit_tinystories" --data-dir "$data_dir" --out "$out/retrofit_tinystories" "${extra[@]}"
  plot "$out/retrofit_tinystories/loss_vs_r.tsv" "stories260K: validation loss vs test recurrence" \
    "test recurrence r" "validation loss (nats/token)" 1
  plot "$out/retrofit_tinystories/curves.tsv" "stories260K: training loss vs training FLOPs" "training FLOPs" "loss" 2
fi
echo "demo.sh: done in $((SECONDS - start)) s after the build; results in $out/"
