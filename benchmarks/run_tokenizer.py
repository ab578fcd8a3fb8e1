"""recur's Hugging Face tokenizer against `tokenizers` (Rust, through its Python package) on one thread,
side by side: encode throughput over a text file, per tokenizer.json flavour.

usage: python3 benchmarks/run_tokenizer.py --recur build/release/examples/recur [--text FILE] [--rounds N]
The six tokenizer.json files are the test's (tests/io/peer_hf_tokenizers.py, trained on TinyStories);
recur encodes the file with `recur tokenize` (documents split at blank lines, BOS each) and reports its
MB/s; `tokenizers` encodes the same documents with RAYON_NUM_THREADS=1, once call by call and once with
encode_batch. Rounds alternate which side runs first. Prints a markdown table (median of the rounds).
"""
import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FLAVOURS = ["spm_byte_fallback", "metaspace", "llama3_byte_level", "gpt2_digits", "qwen2_nfc", "nfkc_spm"]


def recur_rate(a, flavour, out):
    p = subprocess.run([a.recur, "tokenize", "--tokenizer", os.path.join(a.dir, flavour), "--in", a.text, "--out", out],
                       capture_output=True, text=True, check=True)
    return float(re.search(r"\(([0-9.]+) MB/s\)", p.stdout).group(1))


def peer_rates(a, flavour):
    code = f"""
import time, json
from tokenizers import Tokenizer
t = Tokenizer.from_file({os.path.join(a.dir, flavour, 'tokenizer.json')!r})
text = open({a.text!r}, encoding='utf-8').read()
docs = [d for d in text.split('\\n\\n') if d.strip()]
size = len(text.encode())
t0 = time.perf_counter()
for d in docs: t.encode(d)
t1 = time.perf_counter()
t.encode_batch(docs)
t2 = time.perf_counter()
print(json.dumps([size / (t1 - t0) / 1e6, size / (t2 - t1) / 1e6]))
"""
    env = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    p = subprocess.run([a.python, "-c", code], capture_output=True, text=True, check=True, env=env)
    return [float(x) for x in p.stdout.strip().strip("[]").split(",")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recur", required=True)
    ap.add_argument("--python", default="python3")
    ap.add_argument("--text", default=os.path.join(HERE, "..", "..", "shared", "data", "tinystories_valid.txt"))
    ap.add_argument("--train", default=os.path.join(HERE, "..", "..", "shared", "data", "tinystories_train_head_2mb.txt"))
    ap.add_argument("--dir", default="build/bench_tokenizer")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.dir, FLAVOURS[-1], "tokenizer.json")):
        subprocess.run([a.python, os.path.join(HERE, "..", "tests", "io", "peer_hf_tokenizers.py"), a.dir, a.train, a.text],
                       check=True, stdout=subprocess.DEVNULL)
    version = subprocess.run([a.python, "-c", "import tokenizers; print(tokenizers.__version__)"], capture_output=True,
                             text=True, check=True).stdout.strip()
    print(f"## run_tokenizer.py, {datetime.datetime.now():%Y-%m-%d %H:%M}, load {os.getloadavg()[0]:.2f}, "
          f"tokenizers {version}, {os.path.basename(a.text)} ({os.path.getsize(a.text) / 1e6:.2f} MB)\n")
    print("| tokenizer.json | recur MB/s | tokenizers MB/s (encode) | tokenizers MB/s (encode_batch, 1 thread) | recur / best |")
    print("|---|---:|---:|---:|---:|")
    out = os.path.join(a.dir, "tokens.bin")
    for flavour in FLAVOURS:
        ours, single, batch = [], [], []
        for r in range(a.rounds):
            if r % 2 == 0:
                ours.append(recur_rate(a, flavour, out))
                s, b = peer_rates(a, flavour)
            else:
                s, b = peer_rates(a, flavour)
                ours.append(recur_rate(a, flavour, out))
            single.append(s), batch.append(b)
        m, s, b = statistics.median(ours), statistics.median(single), statistics.median(batch)
        print(f"| {flavour} | {m:.1f} | {s:.1f} | {b:.1f} | {m / max(s, b):.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
