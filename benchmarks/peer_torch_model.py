#!/usr/bin/python3
"""PyTorch eager peer of `recur bench --mode train|fwd`: one case per invocation, one JSON line.

The model is recur::Recurrent in PyTorch 1.13 (Debian's python3-torch), with the same computation:
embedding, P prelude Llama blocks, a truncated-normal state (std sqrt(2 / (5 d)), cut at 3 std),
r x [Linear(2d -> d) on [s ; e], R core blocks], C coda blocks, RMSNorm, an untied head,
cross-entropy. A Llama block is pre-norm attention (q, k, v, o without bias, RoPE in the half
(rotate-half) layout, causal softmax, GQA) and a SwiGLU MLP. Weights are N(0, 0.02), as recur's.

--mode train times a full step: forward with n = r - k iterations under no_grad and k recorded,
cross-entropy, backward, the optimizer step (--optimizer muon_adamw, recur's split: Muon for every
2-D matrix except the embedding and the head, AdamW for those and the norm weights) and zero_grad.
--mode fwd times an inference forward of r iterations (torch.inference_mode).
Like recur bench, the optimizer runs at lr multiplier 1e-3 (Muon lr 1e-6, AdamW lr 5e-8), so the
weights stay near their start; the learning rate does not change the cost.

--precision bf16 is the fairest bf16 setup torch 1.13 offers on CPU: forward and backward under
torch.autocast("cpu", torch.bfloat16) (matmuls and linears in bf16, f32 weights and optimizer state)
and Newton-Schulz in bf16. --ns-precision f32|bf16 sets Newton-Schulz's dtype alone, as
`recur bench --ns-precision` does (bf16 is what the reference Muon implementation uses).

--threads "1,2" times each thread count (a warm-up step, then steps until --min-seconds) and keeps
the best; a count sets both torch's OpenMP threads and OpenBLAS's (torch.set_num_threads alone leaves
Debian's pthread OpenBLAS at one thread per core). Unless OPENBLAS_CORETYPE is set, the script picks
OpenBLAS's kernels from the CPU flags (see peer_torch_common.py) and reports them as "openblas_core".

--self-check runs the peer's correctness checks (Muon's update spectrum, a falling loss) instead.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peer_torch_common, from any directory
from peer_torch_common import openblas_core, pick_openblas_core, set_threads, thread_counts  # noqa: E402

pick_openblas_core()
import torch  # noqa: E402 - after OPENBLAS_CORETYPE
import torch.nn.functional as F

NAMED = {
    # vocab, d, heads, kv heads, ffn, (P, R, C), batch, seq -- examples/recur/cmd_bench.cpp named_model()
    "S": dict(vocab_size=4096, d_model=256, ffn_dim=704, layers=(2, 2, 2), batch=8, seq=256),
    "M": dict(vocab_size=8192, d_model=512, ffn_dim=1408, layers=(2, 4, 2), batch=4, seq=256),
}
# recur::model_config defaults for keys a JSON file leaves out.
DEFAULTS = dict(vocab_size=512, d_model=64, n_heads=8, n_kv_heads=4, head_dim=0, ffn_dim=172, n_layers=2,
                max_seq_len=512, norm_eps=1e-5, rope_theta=10000.0, rope_layout="half", rope_scaling=None,
                qk_norm=False, attention_bias=False, tie_embeddings=False, block="llama", init_std=0.02)
UNSUPPORTED = dict(rope_layout="half", rope_scaling=None, qk_norm=False, attention_bias=False, tie_embeddings=False,
                   block="llama")


def load_config(name):
    """{"model": {...}, "layers": (P, R, C), "batch", "seq"} for S, M or a JSON file, as recur bench reads it."""
    cfg = dict(DEFAULTS)
    if name in NAMED:
        named = dict(NAMED[name])
        layers, batch, seq = named.pop("layers"), named.pop("batch"), named.pop("seq")
        cfg.update(named)
    else:
        try:
            with open(name) as f:
                j = json.load(f)
        except OSError:
            sys.exit(f"peer_torch_model.py: --model-config '{name}' is neither S, M nor a readable file")
        if not (isinstance(j, dict) and "model" in j and isinstance(j.get("layers"), list) and len(j["layers"]) == 3):
            sys.exit(f"peer_torch_model.py: '{name}' must hold {{\"model\": {{...}}, \"layers\": [P, R, C]}}")
        unknown = set(j["model"]) - set(DEFAULTS)
        if unknown:
            sys.exit(f"peer_torch_model.py: '{name}': unknown model key(s) {sorted(unknown)}")
        cfg.update(j["model"])
        layers, batch, seq = tuple(j["layers"]), 8, 256  # recur bench: batch and seq are not read from the file
    for key, plain in UNSUPPORTED.items():
        if cfg[key] != plain:
            sys.exit(f"peer_torch_model.py: model key '{key}' = {cfg[key]!r} is not implemented here (only {plain!r})")
    if cfg["head_dim"] <= 0:
        cfg["head_dim"] = cfg["d_model"] // cfg["n_heads"]
    return cfg, layers, batch, seq


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight, self.eps = torch.nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(torch.nn.Module):
    """Pre-norm Llama block: x + attn(norm(x)), then x + down(silu(gate(norm(x))) * up(norm(x)))."""

    def __init__(self, c, rope):
        super().__init__()
        d, self.h, self.hkv, self.hd = c["d_model"], c["n_heads"], c["n_kv_heads"], c["head_dim"]
        self.rope = rope
        self.n1, self.n2 = RMSNorm(d, c["norm_eps"]), RMSNorm(d, c["norm_eps"])
        self.q = torch.nn.Linear(d, self.h * self.hd, bias=False)
        self.k = torch.nn.Linear(d, self.hkv * self.hd, bias=False)
        self.v = torch.nn.Linear(d, self.hkv * self.hd, bias=False)
        self.o = torch.nn.Linear(self.h * self.hd, d, bias=False)
        self.gate = torch.nn.Linear(d, c["ffn_dim"], bias=False)
        self.up = torch.nn.Linear(d, c["ffn_dim"], bias=False)
        self.down = torch.nn.Linear(c["ffn_dim"], d, bias=False)

    def attn(self, x):
        b, t, _ = x.shape
        h, hkv, hd = self.h, self.hkv, self.hd
        q = self.rope(self.q(x).view(b, t, h, hd)).transpose(1, 2) * (1 / math.sqrt(hd))  # scaled before q k^T
        k = self.rope(self.k(x).view(b, t, hkv, hd)).transpose(1, 2).repeat_interleave(h // hkv, dim=1)
        v = self.v(x).view(b, t, hkv, hd).transpose(1, 2).repeat_interleave(h // hkv, dim=1)
        s = q @ k.transpose(-2, -1)
        o = torch.softmax(s.masked_fill(self.rope.mask[:t, :t], float("-inf")), dim=-1) @ v
        return self.o(o.transpose(1, 2).reshape(b, t, h * hd))

    def forward(self, x):
        x = x + self.attn(self.n1(x))
        n = self.n2(x)
        return x + self.down(F.silu(self.gate(n)) * self.up(n))


class Rope(torch.nn.Module):
    """RoPE tables (Hugging Face rotate-half layout) and the causal mask for sequences up to t."""

    def __init__(self, t, hd, theta):
        super().__init__()
        inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", torch.cos(ang).float()[None, :, None, :], persistent=False)
        self.register_buffer("sin", torch.sin(ang).float()[None, :, None, :], persistent=False)
        self.register_buffer("mask", torch.ones(t, t, dtype=torch.bool).triu(1), persistent=False)
        self.half = hd // 2

    def forward(self, x):  # x (B, T, heads, hd)
        t = x.shape[1]
        c, s = self.cos[:, :t].to(x.dtype), self.sin[:, :t].to(x.dtype)
        x1, x2 = x[..., : self.half], x[..., self.half:]
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


class Recurrent(torch.nn.Module):
    def __init__(self, c, layers, seq):
        super().__init__()
        d, (p, r, q) = c["d_model"], layers
        self.d = d
        self.rope = Rope(max(seq, c["max_seq_len"]), c["head_dim"], c["rope_theta"])
        self.embed_tokens = torch.nn.Embedding(c["vocab_size"], d)
        self.prelude = torch.nn.ModuleList([Block(c, self.rope) for _ in range(p)])
        self.adapter = torch.nn.Linear(2 * d, d, bias=False)
        self.core = torch.nn.ModuleList([Block(c, self.rope) for _ in range(r)])
        self.coda = torch.nn.ModuleList([Block(c, self.rope) for _ in range(q)])
        self.norm = RMSNorm(d, c["norm_eps"])
        self.lm_head = torch.nn.Linear(d, c["vocab_size"], bias=False)
        with torch.no_grad():
            for prm in self.parameters():
                if prm.dim() == 2:
                    prm.normal_(0.0, c["init_std"])

    def iterate(self, s, e):
        x = self.adapter(torch.cat([s, e], dim=-1))
        for blk in self.core:
            x = blk(x)
        return x

    def forward(self, ids, n, k):
        e = self.embed_tokens(ids)
        for blk in self.prelude:
            e = blk(e)
        std = math.sqrt(2 / (5 * self.d))
        s = torch.nn.init.trunc_normal_(torch.empty(e.shape), std=std, a=-3 * std, b=3 * std)
        with torch.no_grad():
            for _ in range(n):
                s = self.iterate(s, e)
        for _ in range(k):
            s = self.iterate(s, e)
        for blk in self.coda:
            s = blk(s)
        return self.lm_head(self.norm(s))


NS_COEFFS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g, steps=5, dtype=torch.float32):
    """recur::newton_schulz: X = g / (||g||_F + 1e-7) (transposed when tall), then `steps` x
    {A = X X^T; B = b A + c A A; X = a X + B X}, transposed back; computed in `dtype`, returned f32."""
    a, b, c = NS_COEFFS
    tall = g.shape[0] > g.shape[1]
    x = (g / (g.norm() + 1e-7)).to(dtype)
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    if tall:
        x = x.T
    return x.float()


class Muon:
    """recur::muon with its defaults: m = beta m + (1-beta) g; u = (1-beta) g + beta m (Nesterov);
    W *= 1 - lr wd; W -= lr sqrt(max(1, rows / cols)) newton_schulz(u)."""

    def __init__(self, params, lr=1e-3, momentum=0.95, weight_decay=1e-4, ns_steps=5, ns_dtype=torch.float32):
        self.params = list(params)
        self.lr, self.beta, self.wd, self.ns_steps, self.ns_dtype = lr, momentum, weight_decay, ns_steps, ns_dtype
        self.momentum = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        for p, m in zip(self.params, self.momentum):
            if p.grad is None:
                continue
            g = p.grad
            m.mul_(self.beta).add_(g, alpha=1 - self.beta)
            u = torch.add(g, m, alpha=self.beta / (1 - self.beta)).mul_(1 - self.beta)  # (1-beta) g + beta m
            x = newton_schulz(u, self.ns_steps, self.ns_dtype)
            p.mul_(1 - self.lr * self.wd)
            p.add_(x, alpha=-self.lr * math.sqrt(max(1.0, p.shape[0] / p.shape[1])))

    def zero_grad(self):
        for p in self.params:
            p.grad = None


class MuonAdamW:
    """recur::muon_adamw's default grouping: Muon for 2-D parameters except embed_tokens and lm_head,
    AdamW (torch.optim.AdamW, betas (0.9, 0.95), eps 1e-8, decay 1e-4) for the rest."""

    def __init__(self, model, lr_multiplier=1.0, ns_dtype=torch.float32):
        muon, adamw = [], []
        for name, p in model.named_parameters():
            table = "embed_tokens" in name or "lm_head" in name
            (muon if p.dim() == 2 and not table else adamw).append(p)
        self.muon = Muon(muon, lr=1e-3 * lr_multiplier, ns_dtype=ns_dtype)
        self.adamw = torch.optim.AdamW(adamw, lr=5e-5 * lr_multiplier, betas=(0.9, 0.95), eps=1e-8, weight_decay=1e-4)
        self.counts = (len(muon), len(adamw))

    def step(self):
        self.muon.step()
        self.adamw.step()

    def zero_grad(self):
        self.muon.zero_grad()
        self.adamw.zero_grad(set_to_none=True)


def autocast(precision):
    if precision == "bf16":
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return torch.autocast(device_type="cpu", enabled=False)


def make_step(model, ids, targets, mode, r, k, optimizer, precision, ns_precision):
    vocab = model.lm_head.out_features
    if mode == "fwd":
        def step():
            with torch.inference_mode(), autocast(precision):
                model(ids, 0, r)
        return step

    ns_dtype = torch.bfloat16 if ns_precision == "bf16" else torch.float32
    opt = MuonAdamW(model, 1e-3, ns_dtype) if optimizer == "muon_adamw" else None

    def step():
        with autocast(precision):
            logits = model(ids, r - k, k)
        loss = F.cross_entropy(logits.float().view(-1, vocab), targets.view(-1))
        loss.backward()
        if opt:
            opt.step()
            opt.zero_grad()
        else:
            model.zero_grad(set_to_none=True)
        return loss
    return step


def time_steps(step, min_seconds):
    """recur bench's loop: one warm-up step, then steps until min_seconds have passed (at least one)."""
    step()
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return steps, elapsed


def check_bf16_autocast():
    """Exits with a message unless autocast to bf16 runs a linear in bf16 on this CPU."""
    try:
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            y = torch.nn.functional.linear(torch.randn(4, 8), torch.randn(8, 8))
    except Exception as e:  # noqa: BLE001 - any failure means bf16 is unusable here
        sys.exit(f"peer_torch_model.py: --precision bf16: torch.autocast('cpu', bfloat16) fails here: {e}")
    if y.dtype != torch.bfloat16:
        sys.exit(f"peer_torch_model.py: --precision bf16: autocast left a linear in {y.dtype}")


def self_check():
    """Muon's update has singular values near 1; the loss of a tiny model falls on a fixed batch."""
    torch.manual_seed(0)
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        for shape in ((64, 256), (256, 64), (128, 128)):
            g = torch.randn(*shape)
            x = newton_schulz(g, 5, dtype)
            sv = torch.linalg.svdvals(x.double())
            out[f"ns_{str(dtype)[6:]}_{shape[0]}x{shape[1]}_sv_min_max"] = [round(sv.min().item(), 3), round(sv.max().item(), 3)]
    # One Muon step from zero momentum and W = 0 (lr 1, no decay): W = -sqrt(rows / cols) NS(u), u = (1 - beta^2) g.
    w = torch.nn.Parameter(torch.zeros(96, 32))
    w.grad = torch.randn(96, 32)
    Muon([w], lr=1.0, weight_decay=0.0).step()
    sv = torch.linalg.svdvals(-w.detach().double()) / math.sqrt(96 / 32)
    out["muon_step_96x32_sv_over_scale_min_max"] = [round(sv.min().item(), 3), round(sv.max().item(), 3)]
    cfg = dict(DEFAULTS, vocab_size=128, d_model=64, ffn_dim=176, head_dim=8)
    for precision in ("f32", "bf16"):
        torch.manual_seed(1)
        model = Recurrent(cfg, (1, 1, 1), 32)
        ids, targets = torch.randint(0, 128, (4, 32)), torch.randint(0, 128, (4, 32))
        opt = MuonAdamW(model, lr_multiplier=20.0, ns_dtype=torch.bfloat16 if precision == "bf16" else torch.float32)
        losses = []
        for _ in range(20):
            with autocast(precision):
                logits = model(ids, 2, 2)
            loss = F.cross_entropy(logits.float().view(-1, 128), targets.view(-1))
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(round(loss.item(), 3))
        out[f"loss_{precision}_20_steps"] = [losses[0], losses[9], losses[-1]]
        out["groups_muon_adamw"] = list(opt.counts)
    # A square Gaussian matrix has singular values down to ~0, which 5 steps cannot lift: only its top is checked.
    ok = all((key.endswith(("128x128_sv_min_max")) or 0.5 < v[0]) and v[1] < 1.3
             for key, v in out.items() if key.startswith(("ns_", "muon_step"))) and all(
        v[-1] < v[0] - 0.5 for key, v in out.items() if key.startswith("loss_"))
    out["ok"] = ok
    print(json.dumps(out))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-config", default="S", help="S, M, or a JSON file {\"model\": {...}, \"layers\": [P, R, C]}")
    ap.add_argument("--mode", choices=("train", "fwd"), default="train")
    ap.add_argument("--r", type=int, default=4, help="recurrence iterations")
    ap.add_argument("--k", type=int, default=-1, help="train: recorded iterations (default r; n = r - k run without grad)")
    ap.add_argument("--optimizer", choices=("muon_adamw", "none"), default="muon_adamw")
    ap.add_argument("--batch", type=int, default=0, help="batch size (default: the model's)")
    ap.add_argument("--seq", type=int, default=0, help="sequence length (default: the model's)")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="measure each thread count for at least this long")
    ap.add_argument("--threads", type=thread_counts, default="1,2", help="thread counts to try; the best is reported")
    ap.add_argument("--precision", choices=("f32", "bf16"), default="f32")
    ap.add_argument("--ns-precision", choices=("matmul", "f32", "bf16"), default="matmul",
                    help="train: Muon's Newton-Schulz in f32 or bf16; matmul: as --precision")
    ap.add_argument("--self-check", action="store_true", help="run the correctness checks instead of timing")
    a = ap.parse_args()
    if a.self_check:
        return self_check()
    k = a.r if a.k < 0 else a.k
    if a.r < 1 or not 0 <= k <= a.r:
        sys.exit(f"peer_torch_model.py: need r >= 1 and 0 <= k <= r, got r {a.r}, k {k}")
    if a.precision == "bf16":
        check_bf16_autocast()
    ns_precision = a.precision if a.ns_precision == "matmul" else a.ns_precision
    cfg, layers, batch, seq = load_config(a.model_config)
    batch, seq = a.batch or batch, a.seq or seq

    torch.manual_seed(0)
    model = Recurrent(cfg, layers, seq)
    ids = torch.randint(0, cfg["vocab_size"], (batch, seq))
    targets = torch.randint(0, cfg["vocab_size"], (batch, seq))
    best = None
    for t in a.threads:
        set_threads(t)
        step = make_step(model, ids, targets, a.mode, a.r, k, a.optimizer, a.precision, ns_precision)
        steps, elapsed = time_steps(step, a.min_seconds)
        if best is None or elapsed / steps < best[2] / best[1]:
            best = (t, steps, elapsed)
    t, steps, elapsed = best
    print(json.dumps({
        "torch": torch.__version__, "model": a.model_config, "mode": a.mode, "r": a.r,
        "k": k if a.mode == "train" else 0, "optimizer": a.optimizer if a.mode == "train" else "-",
        "precision": a.precision,
        "ns_precision": ns_precision if a.mode == "train" and a.optimizer == "muon_adamw" else "-", "batch": batch, "seq": seq, "threads": t, "steps": steps,
        "seconds_per_step": elapsed / steps, "tokens_per_s": steps * batch * seq / elapsed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parameters": sum(p.numel() for p in model.parameters()), "openblas_core": openblas_core(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
