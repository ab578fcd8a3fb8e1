# llama.cpp's own GGUF reader and writer (PyPI's `gguf`, with numpy), the peer of test_io_gguf.
#   peer_gguf.py make OUT.gguf          a GGUF file written by gguf.GGUFWriter: a tensor of every type
#                                       recur dequantises (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1
#                                       quantised by gguf.quants; Q2_K-Q6_K, IQ4_NL, IQ4_XS as random
#                                       blocks), plus metadata of every value type
#   peer_gguf.py tiny OUT.gguf          a 1-layer Llama (d 8, vocab 16, Q8_0 and F32 tensors) with a byte-level
#                                       vocabulary: the fuzz seed tests/fuzz/corpus/gguf/tiny_llama
#   peer_gguf.py llama3 OUT.gguf        that Llama with one head of width 32 and a rope_freqs.weight tensor as
#                                       llama.cpp's converter writes it for Llama-3's RoPE scaling (factor 32,
#                                       low 1, high 4, original context 64); llama3-bad: one divisor off by 1 %
#   peer_gguf.py dump IN.gguf OUT.st    every tensor of IN dequantised by gguf.quants.dequantize, as f32
#                                       in a safetensors file (recur's shape order: GGUF's reversed)
# Not here: recur code; llama.cpp's inference (benchmarks/).
import json
import math
import struct
import sys

import gguf
import numpy as np


def make(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float32("test.f32", 0.125)
    w.add_float64("test.f64", 1e300)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "h\u00e9llo")
    w.add_array("test.array", [1, 2, 3])
    w.add_array("test.strings", ["a", "bc", ""])
    rng = np.random.default_rng(7)
    T = gguf.GGMLQuantizationType
    kinds = [("f32", T.F32), ("f16", T.F16), ("bf16", T.BF16), ("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1),
             ("q5_0", T.Q5_0), ("q5_1", T.Q5_1)]
    for name, qtype in kinds:
        data = (rng.standard_normal((3, 2, 64)) * 0.5 + 0.1).astype(np.float32)
        if qtype == T.F32:
            w.add_tensor(name, data)
        elif qtype == T.F16:
            w.add_tensor(name, data.astype(np.float16))
        else:
            q = gguf.quants.quantize(data, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    # gguf 0.17 cannot quantise to these (only dequantise): blocks of random bytes, every f16 scale set
    # to a finite value, exercise the packed quants and scales with random bits.
    halves = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ4_NL: [0],
              T.IQ4_XS: [0]}
    for qtype, at in halves.items():
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        raw = rng.integers(0, 256, (3 * 2 * 256 // block, size), dtype=np.uint8)  # (3, 2, 256) values
        for offset in at:
            raw[:, offset:offset + 2] = (rng.standard_normal(raw.shape[0]) * 0.05).astype(np.float16).view(np.uint8).reshape(-1, 2)
        raw = raw.reshape(3, 2, -1)
        w.add_tensor(qtype.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tiny(path, rope_freqs=None):
    d, ffn, vocab = 32, 32, 16
    heads = 4 if rope_freqs is None else 1  # head width 8, or 32 for RoPE scaling to act on
    kv_heads = 2 if heads == 4 else 1
    kv = kv_heads * (d // heads)
    w = gguf.GGUFWriter(path, "llama")
    for key, value in [("embedding_length", d), ("block_count", 1), ("feed_forward_length", ffn),
                       ("context_length", 64), ("attention.head_count", heads), ("attention.head_count_kv", kv_heads)]:
        w.add_uint32(f"llama.{key}", value)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "smollm")
    tokens = ["<|endoftext|>", "a", "b", "c", "\u0120", "\u0120a", "ab", "1", "2", "!", "abc", "\u0120b", "<|im_start|>",
              "d", "e", "f"]
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", [3] + [1] * 11 + [3] + [1] * 3)
    w.add_array("tokenizer.ggml.merges", ["\u0120 a", "a b", "ab c", "\u0120 b"])
    w.add_uint32("tokenizer.ggml.bos_token_id", 12)
    w.add_uint32("tokenizer.ggml.eos_token_id", 0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    rng = np.random.default_rng(3)
    shapes = {"token_embd.weight": (vocab, d), "output_norm.weight": (d,), "blk.0.attn_norm.weight": (d,),
              "blk.0.attn_q.weight": (d, d), "blk.0.attn_k.weight": (kv, d), "blk.0.attn_v.weight": (kv, d),
              "blk.0.attn_output.weight": (d, d), "blk.0.ffn_norm.weight": (d,), "blk.0.ffn_gate.weight": (ffn, d),
              "blk.0.ffn_up.weight": (ffn, d), "blk.0.ffn_down.weight": (d, ffn)}
    for name, shape in shapes.items():
        data = rng.standard_normal(shape).astype(np.float32) * 0.2
        if len(shape) == 1:
            w.add_tensor(name, data + 1)
        else:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    if rope_freqs is not None:
        w.add_tensor("rope_freqs.weight", rope_freqs(10000.0, d // heads))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama3(path, factor, perturb):
    """tiny's model with head width 32 and Llama-3 RoPE scaling as llama.cpp's converter stores it: a
    rope_freqs.weight tensor of per-frequency divisors (factor, low 1, high 4, original context 64)."""
    tiny(path, rope_freqs=lambda theta, dim: llama3_divisors(theta, dim, factor, 1.0, 4.0, 64, perturb))


def llama3_divisors(base, dim, factor, low_freq_factor, high_freq_factor, old_context_len, perturb):
    """The divisors of HF's llama3 rope_scaling, computed as convert_hf_to_gguf.py does."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            out.append(1)
        elif wavelen > low_freq_wavelen:
            out.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1 / ((1 - smooth) / factor + smooth))
    out = np.array(out, dtype=np.float32)
    if perturb:
        out[len(out) // 4] *= 1.01  # no longer any llama3 scaling
    return out


def dump(path, out):
    r = gguf.GGUFReader(path)
    header, blobs, offset = {}, [], 0
    for t in r.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype("<f4")
        shape = [int(n) for n in reversed(t.shape.tolist())]
        raw = values.reshape(-1).tobytes()
        header[t.name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    {"make": lambda: make(sys.argv[2]), "tiny": lambda: tiny(sys.argv[2]),
     "llama3": lambda: llama3(sys.argv[2], 32.0, False), "llama3-bad": lambda: llama3(sys.argv[2], 32.0, True),
     "dump": lambda: dump(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
