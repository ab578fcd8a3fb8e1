# An independent PyTorch LlamaForCausalLM and Olmo2ForCausalLM forward (float64) over a Hugging Face folder, with its
# own safetensors parser. OLMo-2, from its architecture description: RMSNorm over the full q and k projections
# before RoPE, no norms on the sublayer inputs, post_attention_layernorm and post_feedforward_layernorm on the
# attention and MLP outputs before each residual add.
# Not here: transformers (not needed), sharded checkpoints, KV caches. The oracle for test_io_hf.
#
# Usage: peer_hf_llama.py jobs.json, where jobs.json is [{"dir": folder, "tokens": [ids]}, ...];
# prints [[T x V logits], ...] as JSON on stdout.
import json
import math
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = blob[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        raw = np.frombuffer(data[begin:end], dtype=np.uint8)
        if e["dtype"] == "F32":
            a = raw.view("<f4")
        elif e["dtype"] == "F16":
            a = raw.view("<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            a = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: dtype {e['dtype']}")
        out[name] = torch.from_numpy(a.astype(np.float64).reshape(e["shape"]))
    return out


def inv_freq(cfg, head_dim):
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    scaling = cfg.get("rope_scaling")
    if not scaling or scaling.get("rope_type", scaling.get("type")) == "default":
        return inv
    assert scaling.get("rope_type", scaling.get("type")) == "llama3"
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(folder, tokens):
    with open(f"{folder}/config.json") as f:
        cfg = json.load(f)
    w = read_safetensors(f"{folder}/model.safetensors")
    H = cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or cfg["hidden_size"] // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    T = len(tokens)

    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq(cfg, D))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]  # (1, T, 1, D)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    x = w["model.embed_tokens.weight"][torch.tensor(tokens)][None]  # (1, T, C)
    olmo2 = cfg.get("model_type") == "olmo2"
    for layer in range(cfg["num_hidden_layers"]):
        p = lambda n: w[f"model.layers.{layer}.{n}"]
        h = x if olmo2 else rms_norm(x, p("input_layernorm.weight"), eps)
        q, k = h @ p("self_attn.q_proj.weight").T, h @ p("self_attn.k_proj.weight").T
        if olmo2:
            q, k = rms_norm(q, p("self_attn.q_norm.weight"), eps), rms_norm(k, p("self_attn.k_norm.weight"), eps)
        q, k = q.view(1, T, H, D), k.view(1, T, Hkv, D)
        v = (h @ p("self_attn.v_proj.weight").T).view(1, T, Hkv, D)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (1, heads, T, D)
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(1, T, H * D)
        o = o @ p("self_attn.o_proj.weight").T
        if olmo2:
            x = x + rms_norm(o, p("post_attention_layernorm.weight"), eps)
            h = x
        else:
            x = x + o
            h = rms_norm(x, p("post_attention_layernorm.weight"), eps)
        gate = h @ p("mlp.gate_proj.weight").T
        up = h @ p("mlp.up_proj.weight").T
        m = (torch.nn.functional.silu(gate) * up) @ p("mlp.down_proj.weight").T
        x = x + (rms_norm(m, p("post_feedforward_layernorm.weight"), eps) if olmo2 else m)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return (x @ head.T)[0].tolist()


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    with torch.no_grad():
        print(json.dumps([forward(j["dir"], j["tokens"]) for j in jobs]))


if __name__ == "__main__":
    main()
