#!/usr/bin/python3
"""PyTorch side of bench_ops: the same matmul shapes and causal attention forward+backward, timed
with PyTorch eager on the CPU at its best thread count. Prints one JSON object.

Run with Debian's interpreter (/usr/bin/python3, package python3-torch); benchmarks/run_ops.sh runs
it beside bench_ops and prints the ratios. A thread count sets both torch's OpenMP threads and
OpenBLAS's; unless OPENBLAS_CORETYPE is set, the script picks OpenBLAS's kernels from the CPU flags
(see peer_torch_common.py) and reports them as "openblas_core".
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peer_torch_common, from any directory
from peer_torch_common import openblas_core, pick_openblas_core, set_threads, thread_counts  # noqa: E402

pick_openblas_core()
import torch  # noqa: E402 - after OPENBLAS_CORETYPE


def best_time(fn, min_time, repeats=5):
    fn()  # warm up
    best = float("inf")
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time / repeats:
                break
        best = min(best, elapsed / n)
    return best


def matmul(m, n, k, min_time):
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    t = best_time(lambda: torch.matmul(a, b, out=out), min_time)
    return {"m": m, "n": n, "k": k, "seconds": t, "gflops": 2 * m * n * k / t / 1e9}


def attention(b, h, hkv, t, d, min_time):
    q = torch.randn(b, h, t, d, requires_grad=True)
    k = torch.randn(b, hkv, t, d, requires_grad=True)
    v = torch.randn(b, hkv, t, d, requires_grad=True)
    grad = torch.randn(b, h, t, d)
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)

    def step():
        kk = k.repeat_interleave(h // hkv, dim=1) if hkv != h else k
        vv = v.repeat_interleave(h // hkv, dim=1) if hkv != h else v
        # torch 1.13 has no fused scaled_dot_product_attention: the eager formulation
        s = (q @ kk.transpose(-2, -1)) * d ** -0.5
        o = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1) @ vv
        o.backward(grad)
        q.grad = k.grad = v.grad = None

    return {"b": b, "h": h, "hkv": hkv, "t": t, "d": d, "ms": best_time(step, min_time) * 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=thread_counts, default="1,2", help="thread counts to try; the best is reported")
    ap.add_argument("--min-seconds", type=float, default=1.0,
                    help="time each case and thread count for about this long")
    a = ap.parse_args()
    results = {}
    for threads in a.threads:
        set_threads(threads)
        s = a.min_seconds
        results[threads] = {
            "matmul": [matmul(2048, 256, 256, s), matmul(2048, 704, 256, s), matmul(2048, 256, 704, s)],
            "attention_fwd_bwd": [attention(8, 8, 8, 256, 32, s), attention(8, 8, 4, 256, 32, s)],
        }
        for case in results[threads]["matmul"] + results[threads]["attention_fwd_bwd"]:
            case["threads"] = threads
    best = {
        "torch": torch.__version__, "openblas_core": openblas_core(),
        "matmul": [max((results[t]["matmul"][i] for t in results), key=lambda r: r["gflops"]) for i in range(3)],
        "attention_fwd_bwd": [min((results[t]["attention_fwd_bwd"][i] for t in results), key=lambda r: r["ms"])
                              for i in range(2)],
    }
    json.dump(best, sys.stdout)
    print()


if __name__ == "__main__":
    main()
