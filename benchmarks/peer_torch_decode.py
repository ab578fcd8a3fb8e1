#!/usr/bin/python3
"""PyTorch eager side of `recur bench --mode decode`: KV-cached greedy decoding of a retrofitted recurrent
Llama (embedding, prelude, truncated-normal state, r x [Linear(2d -> d) on [s ; e], core], coda, RMSNorm,
untied head), with one KV buffer per prelude and coda layer and per (core layer, iteration slot) under
the cache policies full, compress:N and latest, exactly as recur::kv_cache shares them. Random weights
(only speed matters). Each case prefills B rows with a P-token random prompt, then times N greedy steps
(argmax) under torch.no_grad, at the best of --threads (1 and 2). Prints JSON. A thread count sets both
torch's OpenMP threads and OpenBLAS's; unless OPENBLAS_CORETYPE is set, the script picks OpenBLAS's
kernels from the CPU flags (see peer_torch_common.py) and reports them as "openblas_core".
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peer_torch_common, from any directory
from peer_torch_common import openblas_core, pick_openblas_core, set_threads, thread_counts  # noqa: E402

pick_openblas_core()
import torch  # noqa: E402 - after OPENBLAS_CORETYPE
import torch.nn.functional as F  # noqa: E402

from peer_torch_model import RMSNorm  # noqa: E402 - the same norm as the training peer (its main is guarded)

NORM_EPS = 1e-5  # recur::model_config's norm_eps

# name -> (vocab, d, heads, kv heads, ffn, (prelude, core, coda), max_seq_len)
MODELS = {
    "S": (4096, 256, 8, 4, 704, (2, 2, 2), 512),
    "stories260K": (512, 64, 8, 4, 172, (1, 3, 1), 512),
}


def slot_of(policy, iteration):
    """The cache slot iteration i (0-based) uses: full i, compress:N i mod N, latest 0."""
    if policy == "full":
        return iteration
    if policy == "latest":
        return 0
    return iteration % int(policy.split(":")[1])


class Block(torch.nn.Module):
    """Llama block; attention reads and writes a cache (k, v), each (B, Hkv, capacity, hd)."""

    def __init__(self, d, h, hkv, ffn):
        super().__init__()
        self.h, self.hkv, self.hd = h, hkv, d // h
        self.n1, self.n2 = RMSNorm(d, NORM_EPS), RMSNorm(d, NORM_EPS)
        self.q = torch.nn.Linear(d, h * self.hd, bias=False)
        self.k = torch.nn.Linear(d, hkv * self.hd, bias=False)
        self.v = torch.nn.Linear(d, hkv * self.hd, bias=False)
        self.o = torch.nn.Linear(h * self.hd, d, bias=False)
        self.gate = torch.nn.Linear(d, ffn, bias=False)
        self.up = torch.nn.Linear(d, ffn, bias=False)
        self.down = torch.nn.Linear(ffn, d, bias=False)

    def rope(self, x, cos, sin):  # x (B, heads, T, hd), rotate-half layout; cos, sin (T, hd / 2)
        half = self.hd // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def attn(self, x, cache, pos, cos, sin):
        b, t, _ = x.shape
        g = self.h // self.hkv
        q = self.rope(self.q(x).view(b, t, self.h, self.hd).transpose(1, 2), cos, sin)
        k = self.rope(self.k(x).view(b, t, self.hkv, self.hd).transpose(1, 2), cos, sin)
        kc, vc = cache
        kc[:, :, pos:pos + t] = k
        vc[:, :, pos:pos + t] = self.v(x).view(b, t, self.hkv, self.hd).transpose(1, 2)
        keys, values = kc[:, :, : pos + t], vc[:, :, : pos + t]  # (B, Hkv, P, hd)
        q = q.reshape(b, self.hkv, g * t, self.hd)  # query heads grouped by their kv head
        s = (q @ keys.transpose(-2, -1)) / math.sqrt(self.hd)  # (B, Hkv, g T, P)
        if t > 1:
            mask = torch.ones(t, pos + t, dtype=torch.bool).triu(pos + 1)
            s = s.view(b, self.hkv, g, t, pos + t).masked_fill(mask, float("-inf")).view(b, self.hkv, g * t, pos + t)
        o = (torch.softmax(s, dim=-1) @ values).view(b, self.h, t, self.hd)
        return self.o(o.transpose(1, 2).reshape(b, t, self.h * self.hd))

    def forward(self, x, cache, pos, cos, sin):
        x = x + self.attn(self.n1(x), cache, pos, cos, sin)
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Recurrent(torch.nn.Module):
    def __init__(self, vocab, d, h, hkv, ffn, layers, max_seq_len):
        super().__init__()
        p, c, q = layers
        self.d, self.hkv, self.hd = d, hkv, d // h
        self.embed = torch.nn.Embedding(vocab, d)
        self.prelude = torch.nn.ModuleList([Block(d, h, hkv, ffn) for _ in range(p)])
        self.adapter = torch.nn.Linear(2 * d, d, bias=False)
        self.core = torch.nn.ModuleList([Block(d, h, hkv, ffn) for _ in range(c)])
        self.coda = torch.nn.ModuleList([Block(d, h, hkv, ffn) for _ in range(q)])
        self.norm = RMSNorm(d, NORM_EPS)
        self.head = torch.nn.Linear(d, vocab, bias=False)
        inv = 10000.0 ** (-torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd)
        ang = torch.arange(max_seq_len, dtype=torch.float64)[:, None] * inv[None, :]
        self.cos, self.sin = torch.cos(ang).float(), torch.sin(ang).float()

    def new_cache(self, rows, capacity, r, policy):
        """Buffers for prelude + coda layers and for the core's slots (as many as r iterations reach)."""
        def buf():
            return (torch.zeros(rows, self.hkv, capacity, self.hd), torch.zeros(rows, self.hkv, capacity, self.hd))
        slots = len({slot_of(policy, i) for i in range(r)})
        fixed = [buf() for _ in range(len(self.prelude) + len(self.coda))]
        core = [[buf() for _ in self.core] for _ in range(slots)]
        return fixed, core

    def forward(self, ids, pos, r, cache, policy):
        """ids (B, T) at positions pos .. pos + T - 1 -> logits of the last position (B, V)."""
        fixed, core = cache
        t = ids.shape[1]
        cos, sin = self.cos[pos:pos + t], self.sin[pos:pos + t]
        e = self.embed(ids)
        for blk, kv in zip(self.prelude, fixed):
            e = blk(e, kv, pos, cos, sin)
        std = math.sqrt(2 / (5 * self.d))
        s = torch.nn.init.trunc_normal_(torch.empty_like(e), std=std, a=-3 * std, b=3 * std)
        for i in range(r):
            s = self.adapter(torch.cat([s, e], dim=-1))
            for blk, kv in zip(self.core, core[slot_of(policy, i)]):
                s = blk(s, kv, pos, cos, sin)
        for blk, kv in zip(self.coda, fixed[len(self.prelude):]):
            s = blk(s, kv, pos, cos, sin)
        return self.head(self.norm(s[:, -1]))


def cache_bytes(cache):
    fixed, core = cache
    return sum(k.numel() * 4 + v.numel() * 4 for k, v in fixed + [kv for slot in core for kv in slot])


def run_case(model, batch, prompt, new, r, policy, min_seconds):
    """Means over repetitions (after one warm-up) until min_seconds of decoding: (ms/token, prefill ms, bytes)."""
    vocab = model.head.out_features
    prompts = torch.randint(0, vocab, (batch, prompt))

    def once(steps=new):
        cache = model.new_cache(batch, prompt + new, r, policy)
        t0 = time.perf_counter()
        nxt = model(prompts, 0, r, cache, policy).argmax(-1)
        t1 = time.perf_counter()
        for i in range(steps):
            nxt = model(nxt[:, None], prompt + i, r, cache, policy).argmax(-1)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, cache_bytes(cache)

    once(min(new, 8))  # warm-up
    prefill = decode = 0.0
    reps = 0
    while decode < min_seconds or reps < 1:
        p, d, nbytes = once()
        prefill, decode, reps = prefill + p, decode + d, reps + 1
    return 1e3 * decode / (reps * new), 1e3 * prefill / reps, nbytes


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=thread_counts, default="1,2", help="thread counts to try; the best is reported")
    ap.add_argument("--case", action="append", default=None,
                    help="MODEL:R:POLICY, e.g. S:16:compress:4 (repeatable; default: the run_decode.sh set)")
    args = ap.parse_args()
    cases = args.case or [f"{m}:{r}:full" for m in ("stories260K", "S") for r in (1, 4, 16)] + \
        ["S:16:compress:4", "S:16:latest"]
    torch.manual_seed(0)
    models = {}
    results = {}
    with torch.no_grad():
        for case in cases:
            name, r, policy = case.split(":", 2)
            if name not in MODELS:
                sys.exit(f"peer_torch_decode.py: unknown model '{name}' (known: {', '.join(MODELS)})")
            if name not in models:
                models[name] = Recurrent(*MODELS[name]).eval()
            model, max_seq = models[name], MODELS[name][6]
            new = min(args.new_tokens, max_seq - args.prompt_tokens)
            for threads in args.threads:
                set_threads(threads)
                ms, prefill_ms, nbytes = run_case(model, args.batch, args.prompt_tokens, new, int(r), policy,
                                                  args.min_seconds)
                tps = 1e3 * args.batch / ms
                if tps > results.get(case, {}).get("tokens_per_s", 0):
                    results[case] = {"tokens_per_s": tps, "ms_per_token": ms, "prefill_ms": prefill_ms,
                                     "cache_bytes": nbytes, "threads": threads, "new_tokens": new}
    json.dump({"torch": torch.__version__, "openblas_core": openblas_core(), "batch": args.batch,
               "prompt_tokens": args.prompt_tokens, "results": results}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
