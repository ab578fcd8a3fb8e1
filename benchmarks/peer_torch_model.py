#!/usr/bin/python3
"""PyTorch eager side of bench_recurrent: model "S" (vocab 4096, d 256, 8 heads, 4 kv heads, ffn 704,
(P, R, C) = (2, 2, 2), B = 8, T = 256) as a retrofitted recurrent Llama, with the same computation as
recur::Recurrent: embedding, prelude, truncated-normal state, r x [Linear(2d -> d) on [s ; e], core],
coda, RMSNorm, untied head, cross-entropy. Times a training step (forward + backward, n no-grad
iterations then k recorded) and inference forwards, at the best of 1 and 2 threads. Prints JSON.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

V, D, H, HKV, FFN, B, T = 4096, 256, 8, 4, 704, 8, 256
HD = D // H


def rope_tables(t, hd, theta=10000.0):
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


COS, SIN = rope_tables(T, HD)


def rope(x):  # x (B, T, heads, HD), Hugging Face rotate-half layout
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    c, s = COS[None, :, None, :], SIN[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight, self.eps = torch.nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q = torch.nn.Linear(D, H * HD, bias=False)
        self.k = torch.nn.Linear(D, HKV * HD, bias=False)
        self.v = torch.nn.Linear(D, HKV * HD, bias=False)
        self.o = torch.nn.Linear(H * HD, D, bias=False)
        self.gate = torch.nn.Linear(D, FFN, bias=False)
        self.up = torch.nn.Linear(D, FFN, bias=False)
        self.down = torch.nn.Linear(FFN, D, bias=False)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(1), persistent=False)

    def attn(self, x):
        b, t, _ = x.shape
        q = rope(self.q(x).view(b, t, H, HD)).transpose(1, 2)
        k = rope(self.k(x).view(b, t, HKV, HD)).transpose(1, 2).repeat_interleave(H // HKV, dim=1)
        v = self.v(x).view(b, t, HKV, HD).transpose(1, 2).repeat_interleave(H // HKV, dim=1)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(HD)
        o = torch.softmax(s.masked_fill(self.mask[:t, :t], float("-inf")), dim=-1) @ v
        return self.o(o.transpose(1, 2).reshape(b, t, H * HD))

    def forward(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.down(F.silu(self.gate(self.n2(x))) * self.up(self.n2(x)))


class Recurrent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(V, D)
        self.prelude = torch.nn.ModuleList([Block() for _ in range(2)])
        self.adapter = torch.nn.Linear(2 * D, D, bias=False)
        self.core = torch.nn.ModuleList([Block() for _ in range(2)])
        self.coda = torch.nn.ModuleList([Block() for _ in range(2)])
        self.norm = RMSNorm(D)
        self.head = torch.nn.Linear(D, V, bias=False)

    def iterate(self, s, e):
        x = self.adapter(torch.cat([s, e], dim=-1))
        for blk in self.core:
            x = blk(x)
        return x

    def forward(self, ids, n, k):
        e = self.embed(ids)
        for blk in self.prelude:
            e = blk(e)
        std = math.sqrt(2 / (5 * D))
        s = torch.nn.init.trunc_normal_(torch.empty_like(e), std=std, a=-3 * std, b=3 * std)
        with torch.no_grad():
            for _ in range(n):
                s = self.iterate(s, e)
        for _ in range(k):
            s = self.iterate(s, e)
        for blk in self.coda:
            s = blk(s)
        return self.head(self.norm(s))


def best_time(fn, min_time=4.0):
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time or n < 2:
        fn()
        n += 1
    return (time.perf_counter() - start) / n


def main():
    torch.manual_seed(0)
    model = Recurrent()
    ids = torch.randint(0, V, (B, T))
    targets = torch.randint(0, V, (B, T))

    def train(n, k):
        def step():
            loss = F.cross_entropy(model(ids, n, k).view(-1, V), targets.view(-1))
            loss.backward()
            model.zero_grad(set_to_none=False)
        return step

    def forward(r):
        def step():
            with torch.no_grad():
                model(ids, 0, r)
        return step

    cases = {"train_n0_k4": train(0, 4), "train_n4_k4": train(4, 4), "forward_r4": forward(4), "forward_r16": forward(16)}
    best = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, fn in cases.items():
            tps = B * T / best_time(fn)
            if tps > best.get(name, {}).get("tokens_per_s", 0):
                best[name] = {"tokens_per_s": tps, "threads": threads}
    json.dump({"torch": torch.__version__, "model": "S", "batch": B, "seq": T, "results": best}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
