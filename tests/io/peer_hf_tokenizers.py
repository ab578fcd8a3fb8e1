"""The Hugging Face `tokenizers` peer of test_io_hf_tokenizer (no recur code).

usage: python3 peer_hf_tokenizers.py OUT_DIR TRAIN_TEXT LINES_FILE...

Trains real tokenizer.json files with `tokenizers` itself on TRAIN_TEXT (TinyStories), in the
flavours the target models use:
  spm_byte_fallback  SentencePiece-style BPE as Llama-2 / TinyLlama ship it: Prepend + Replace
                     normalizers, no pre-tokenizer, byte fallback, <unk>, ByteFallback/Fuse/Strip decoder
  metaspace          the same model behind a Metaspace pre-tokenizer (prepend_scheme "first")
  llama3_byte_level  byte-level BPE with Llama-3's split regex, ignore_merges, <|begin_of_text|>
  gpt2_digits        byte-level BPE with GPT-2's built-in regex after individual Digits (SmolLM2)
Then encodes every line of each LINES_FILE (raw bytes, split at b"\\n"; bytes that are not UTF-8
decoded with errors="replace") plus a torture set, and writes for each flavour OUT_DIR/<flavour>/
tokenizer.json and OUT_DIR/<flavour>/expected.jsonl: one object per line, {"ids", "decoded",
"decoded_skip"} (decode with and without skip_special_tokens). OUT_DIR/inputs.bin holds the lines:
uint32 count, then per line uint32 length and the bytes.
"""
import json
import os
import struct
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")

TORTURE = [
    b"", b" ", b"  ", b"\t", b"\n", b"\r\n", b"a\r\nb", b"   leading and trailing   ", b"tab\tseparated\tvalues",
    b"multiple     spaces", b"\t \t mixed \t whitespace", b"emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd!",
    "中文字符和日本語のテキスト".encode(), "한국어 텍스트".encode(), "combining e\u0301 a\u0300 n\u0303".encode(),
    "Ω≈ç√∫˜µ≤≥÷ ¡™£¢∞§¶•ªº".encode(), b"digits 1234567890 3.14159 1,000,000", b"123456789012345678901234567890",
    b"invalid \xff\xfe utf-8 \xc3\x28 \xa0\xa1 \xe2\x82 \xf0\x28\x8c\xbc end", b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong",
    b"<s> inside </s> text <unk>", b"<|begin_of_text|>hello<|end_of_text|>", b"a<s>b</s>c", b"<0x41> is not a byte",
    b"it's they're we've I'm you'll he'd IT'S", b"!!!??? ... ---", b"x" * 300, b"nbsp\xc2\xa0here nel\xc2\x85there",
    "zero\u200bwidth and ideographic\u3000space".encode(), b"\x00 nul and \x7f del", "▁already▁metaspace".encode(),
    b"Once upon a time, there was a little girl named Lily.",
]


def spm_vocab(tokenizer_json):
    """<unk> <s> </s>, the 256 byte tokens, then the trained pieces, as Llama-2's vocabulary is laid out."""
    model = json.loads(tokenizer_json)["model"]
    pieces = [p for p, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = 3 + b
    for p in pieces:
        if p not in vocab:
            vocab[p] = len(vocab)
    return vocab, [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]


def spm_flavour(texts, metaspace):
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    t = Tokenizer(models.BPE(unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    t.train_from_iterator(texts, trainer)
    vocab, merges = spm_vocab(t.to_str())
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    else:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1, right=0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return tok


def byte_level_flavour(texts, llama3):
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    tok = Tokenizer(models.BPE(ignore_merges=llama3))
    if llama3:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    bos = tok.token_to_id(specials[0])
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{specials[0]} $A", pair=f"{specials[0]} $A {specials[0]} $B",
                                      special_tokens=[(specials[0], bos)])])
    return tok


def main():
    out, train, line_files = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(train, encoding="utf-8") as f:
        texts = [s for s in f.read().split("<|endoftext|>") if s.strip()][:1500]
    lines = []
    for path in line_files:
        with open(path, "rb") as f:
            lines += f.read().split(b"\n")
    lines += TORTURE
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "inputs.bin"), "wb") as f:
        f.write(struct.pack("<I", len(lines)))
        for line in lines:
            f.write(struct.pack("<I", len(line)) + line)
    flavours = {
        "spm_byte_fallback": spm_flavour(texts, metaspace=False),
        "metaspace": spm_flavour(texts, metaspace=True),
        "llama3_byte_level": byte_level_flavour(texts, llama3=True),
        "gpt2_digits": byte_level_flavour(texts, llama3=False),
    }
    strings = [line.decode("utf-8", errors="replace") for line in lines]
    for name, tok in flavours.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # what recur reads, read back
        with open(os.path.join(d, "expected.jsonl"), "w", encoding="utf-8") as f:
            for enc in tok.encode_batch(strings, add_special_tokens=True):
                ids = enc.ids
                f.write(json.dumps({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                                    "decoded_skip": tok.decode(ids, skip_special_tokens=True)}) + "\n")
    print(json.dumps({"tokenizers": tokenizers.__version__, "lines": len(lines), "flavours": list(flavours)}))


if __name__ == "__main__":
    main()
