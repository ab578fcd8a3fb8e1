#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (preset `fuzz`, clang 14) and runs each for a bounded
# time: `scripts/fuzz.sh --seconds N [harness...]` (CI's smoke run) or `--minutes N [harness...]`.
# Each harness starts from tests/fuzz/corpus/<h>/, tests/fuzz/regressions/<h>/ and the files of
# ../shared/data that fit its format, copied into build/fuzz/corpus/<h>/ (never into the repo).
# Prints one line per harness (name, seconds, executions, result), appends the same to
# tests/fuzz/fuzz_log.tsv, and exits non-zero when any harness found a crash, leak, timeout or
# huge allocation; the input is then in build/fuzz/findings/<h>/ (make it a regression case).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/fuzz.sh --seconds N | --minutes N [harness...]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
case "$1" in
  --seconds) seconds=$2 ;;
  --minutes) seconds=$(( $2 * 60 )) ;;
  *) usage ;;
esac
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 ]] || usage
shift 2

all=(safetensors hf llama2c tokenizer token_file recur_model optimizer_state trainer_resume run_config qa_jsonl text_corpus
  huginn hf_tokenizer gguf)
harnesses=("$@")
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=("${all[@]}")
for h in "${harnesses[@]}"; do
  [[ " ${all[*]} " == *" $h "* ]] || { echo "scripts/fuzz.sh: unknown harness '$h' (one of: ${all[*]})" >&2; exit 2; }
done

build=build/fuzz
mkdir -p build
cmake --preset fuzz > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build --preset fuzz -j "${RECUR_FUZZ_JOBS:-2}"

# The largest input each harness mutates to: room for its seeds (stories260K.bin is 1 MB).
max_len() {
  case "$1" in
    llama2c) echo 1100000 ;;
    safetensors | hf | recur_model | optimizer_state | trainer_resume | huginn | hf_tokenizer | gguf) echo 65536 ;;
    text_corpus) echo 32768 ;;
    run_config) echo 8192 ;;
    *) echo 16384 ;;
  esac
}

# Real files that fit a harness's format, with its selector byte where it has one.
shared=../shared/data
shared_seeds() {
  local h=$1 out=$2
  case "$h" in
    llama2c) [[ -f $shared/stories260K.bin ]] && cp "$shared/stories260K.bin" "$out/shared-stories260K.bin" ;;
    tokenizer) [[ -f $shared/tok512.bin ]] && cp "$shared/tok512.bin" "$out/shared-tok512.bin" ;;
    qa_jsonl) [[ -f $shared/gsm8k_test.jsonl ]] && head -n 20 "$shared/gsm8k_test.jsonl" > "$out/shared-gsm8k-head" ;;
    text_corpus)
      [[ -f $shared/tinystories_valid.txt ]] && { printf '\0'; head -c 16384 "$shared/tinystories_valid.txt"; } > "$out/shared-tinystories-head"
      [[ -f $shared/gsm8k_test.jsonl ]] && { printf '\1'; head -n 10 "$shared/gsm8k_test.jsonl"; } > "$out/shared-gsm8k-head" ;;
  esac
  return 0
}

log=tests/fuzz/fuzz_log.tsv
[[ -f $log ]] || printf 'date\tharness\tseconds\texecutions\tfindings\tresult\n' > "$log"
status=0
summary=()
for h in "${harnesses[@]}"; do
  corpus=$build/corpus/$h findings=$build/findings/$h
  mkdir -p "$corpus" "$findings"
  cp tests/fuzz/corpus/"$h"/* "$corpus"/
  if compgen -G "tests/fuzz/regressions/$h/*" > /dev/null; then cp tests/fuzz/regressions/"$h"/* "$corpus"/; fi
  shared_seeds "$h" "$corpus"
  before=$(find "$findings" -type f | wc -l)
  start=$(date +%s)
  rc=0
  "$build/tests/fuzz/fuzz_$h" "$corpus" -max_total_time="$seconds" -max_len="$(max_len "$h")" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
    > "$build/fuzz_$h.log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz_$h.log" | tail -n 1)
  found=$(( $(find "$findings" -type f | wc -l) - before ))
  if [[ $rc -eq 0 && $found -eq 0 ]]; then
    result=ok
  else
    result="FINDING (exit $rc; see $build/fuzz_$h.log and $findings/)"
    [[ $found -gt 0 ]] || found=1
    status=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$build/fuzz_$h.log" | head -n 5 >&2 || true
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$h" "$elapsed" "${execs:-0}" "$found" \
    "${result%% *}" >> "$log"
  summary+=("$(printf 'fuzz %-16s %6s s %10s executions  %s' "$h" "$elapsed" "${execs:-0}" "$result")")
done
printf '%s\n' "${summary[@]}"
exit "$status"
