# An independent PyTorch forward (float64) of the paper's recurrent checkpoint format (model_type
# "huginn_raven"), written from its description (../shared/METHOD.md section 6): the Llama-derived
# retrofits (pre-norm, rotate-half RoPE with llama3 scaling), the OLMo-2 ones (norms on the sublayer
# outputs, RMSNorm over the full q and k projections before RoPE) and Huginn-0125 (sandwich norms,
# qk_bias before an interleaved "complex-like" RoPE, embeddings scaled by embed_scale, tied head).
# The oracle for test_io_huginn.
# Not here: the state noise (the initial state is an input: each job names a safetensors file holding it),
# KV caches, sharded checkpoints.
#
# Usage: peer_huginn.py jobs.json, where jobs.json is
#   [{"dir": folder, "tokens": [ids], "state": "s0.safetensors", "r": [1, 4, 8]}, ...];
# prints, per job, {"<r>": [T x V logits], ...} as a JSON list on stdout.
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_hf_llama import inv_freq, read_safetensors, rms_norm, rotate_half  # noqa: E402


def rope_tables(cfg, head_dim, T, interleaved):
    if interleaved:  # Huginn-0125: pairs (2i, 2i + 1), theta = rope_base, no scaling
        inv = 1.0 / (cfg["rope_base"] ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    else:  # retrofits: rope_theta (else rope_base) and rope_scaling, as Hugging Face Llama
        inv = inv_freq({"rope_theta": cfg.get("rope_theta", cfg["rope_base"]), "rope_scaling": cfg.get("rope_scaling")},
                       head_dim)
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv)  # (T, D/2)
    return freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]


def apply_rope(x, cos, sin, interleaved):
    if interleaved:
        pairs = x.unflatten(-1, (-1, 2))
        a, b = pairs[..., 0], pairs[..., 1]
        return torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).flatten(-2)
    c, s = torch.cat((cos, cos), dim=-1), torch.cat((sin, sin), dim=-1)
    return x * c + rotate_half(x) * s


class Block:
    def __init__(self, w, prefix, cfg, kind):
        self.p = lambda n: w[f"{prefix}.{n}"]
        self.cfg, self.kind, self.sandwich = cfg, kind, kind == "huginn"
        self.qk_bias = cfg.get("qk_bias", True)

    def attention(self, x, cos, sin):
        cfg = self.cfg
        B, T, C = x.shape
        H = cfg["n_heads"]
        Hkv = cfg.get("num_key_value_heads", H)
        D = C // H
        q, k, v = (x @ self.p("attn.Wqkv.weight").T).split([H * D, Hkv * D, Hkv * D], dim=-1)
        if self.kind == "olmo2":
            eps = cfg.get("norm_eps", 1e-6)
            q, k = rms_norm(q, self.p("attn.q_norm.weight"), eps), rms_norm(k, self.p("attn.k_norm.weight"), eps)
        q, k, v = q.view(B, T, H, D), k.view(B, T, Hkv, D), v.view(B, T, Hkv, D)
        if self.qk_bias:
            bias = self.p("attn.qk_bias")  # (2, 1, H, D)
            q, k = q + bias[0], k + bias[1]
        q, k = apply_rope(q, cos, sin, self.sandwich), apply_rope(k, cos, sin, self.sandwich)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
        mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, dim=-1)
        return (att @ v).transpose(1, 2).reshape(B, T, H * D) @ self.p("attn.proj.weight").T

    def mlp(self, x):
        gate, up = (x @ self.p("mlp.fc.weight").T).chunk(2, dim=-1)
        return (torch.nn.functional.silu(gate) * up) @ self.p("mlp.proj.weight").T

    def __call__(self, x, cos, sin):
        eps = self.cfg.get("norm_eps", 1e-6)
        n = lambda i, y: rms_norm(y, self.p(f"norm_{i}.weight"), eps)
        if self.sandwich:  # x = n2(attn(n1 x) + x); x = n4(mlp(n3 x) + x)
            x = n(2, self.attention(n(1, x), cos, sin) + x)
            return n(4, self.mlp(n(3, x)) + x)
        if self.kind == "olmo2":  # x += n1(attn(x)); x += n2(mlp(x))
            x = x + n(1, self.attention(x, cos, sin))
            return x + n(2, self.mlp(x))
        x = x + self.attention(n(1, x), cos, sin)  # pre-norm
        return x + self.mlp(n(2, x))


def forward(job):
    folder = job["dir"]
    with open(f"{folder}/config.json") as f:
        cfg = json.load(f)
    assert cfg["model_type"] == "huginn_raven"
    w = read_safetensors(f"{folder}/model.safetensors")
    kind = ("huginn" if "transformer.core_block.0.norm_4.weight" in w else
            "olmo2" if "transformer.core_block.0.attn.q_norm.weight" in w else "llama")
    T = len(job["tokens"])
    cos, sin = rope_tables(cfg, cfg["n_embd"] // cfg["n_heads"], T, kind == "huginn")
    blocks = lambda part, n: [Block(w, f"transformer.{part}.{i}", cfg, kind) for i in range(cfg[n])]
    prelude, core, coda = (blocks("prelude", "n_layers_in_prelude"), blocks("core_block", "n_layers_in_recurrent_block"),
                           blocks("coda", "n_layers_in_coda"))
    wte = w["transformer.wte.weight"]
    head = wte if cfg.get("tie_embeddings", True) else w["lm_head.weight"]
    e = wte[torch.tensor(job["tokens"])][None] * cfg["init_values"]["embed_scale"]
    for b in prelude:
        e = b(e, cos, sin)
    s = read_safetensors(job["state"])["s0"]
    out = {}
    for step in range(1, max(job["r"]) + 1):
        s = torch.cat([s, e], dim=-1) @ w["transformer.adapter.weight"].T
        for b in core:
            s = b(s, cos, sin)
        if step in job["r"]:
            x = s
            for b in coda:
                x = b(x, cos, sin)
            out[str(step)] = (rms_norm(x, w["transformer.ln_f.weight"], cfg.get("norm_eps", 1e-6)) @ head.T)[0].tolist()
    return out


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    with torch.no_grad():
        print(json.dumps([forward(j) for j in jobs]))


if __name__ == "__main__":
    main()
