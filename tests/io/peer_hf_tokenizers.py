"""The Hugging Face `tokenizers` peer of test_io_hf_tokenizer (no recur code).

usage: python3 peer_hf_tokenizers.py OUT_DIR TRAIN_TEXT LINES_FILE...
       python3 peer_hf_tokenizers.py --gguf GGUF_FILE OUT_DIR LINES_FILE...
       python3 peer_hf_tokenizers.py --spm-gguf OUT_DIR TRAIN_TEXT LINES_FILE...

Trains real tokenizer.json files with `tokenizers` itself on TRAIN_TEXT (TinyStories), in the
flavours the target models use:
  spm_byte_fallback  SentencePiece-style BPE as Llama-2 / TinyLlama ship it: Prepend + Replace
                     normalizers, no pre-tokenizer, byte fallback, <unk>, ByteFallback/Fuse/Strip decoder
  metaspace          the same model behind a Metaspace pre-tokenizer (prepend_scheme "first")
  llama3_byte_level  byte-level BPE with Llama-3's split regex, ignore_merges, <|begin_of_text|>
  gpt2_digits        byte-level BPE with GPT-2's built-in regex after individual Digits (SmolLM2)
  qwen2_nfc          byte-level BPE behind an NFC normalizer and Qwen2's split regex (single digits)
  nfkc_spm           spm_byte_fallback with an NFKC normalizer first
Then encodes every line of each LINES_FILE (raw bytes, split at b"\\n"; bytes that are not UTF-8
decoded with errors="replace") plus a torture set, and writes for each flavour OUT_DIR/<flavour>/
tokenizer.json and OUT_DIR/<flavour>/expected.jsonl: one object per line, {"ids", "decoded",
"decoded_skip"} (decode with and without skip_special_tokens). OUT_DIR/inputs.bin holds the lines:
uint32 count, then per line uint32 length and the bytes.

With --gguf, no training: `transformers` converts the tokenizer embedded in GGUF_FILE (SmolLM2-135M's)
to a tokenizer.json, as a user who loads that GGUF in transformers gets it, and two flavours are
written the same way:
  smollm2_transformers  transformers' conversion, as it is: GPT-2's ByteLevel regex and no Digits
                        pre-tokenizer, and <|im_start|> prepended as BOS by its Llama template
  smollm2_digits        the same vocabulary and merges with what the GGUF says (tokenizer.ggml.pre
                        "smollm": every digit split before GPT-2's pattern, as llama.cpp does;
                        add_bos_token false: no template)
The summary line also counts the lines on which the two differ (BOS aside).

With --spm-gguf, `sentencepiece` trains a real SentencePiece BPE model on TRAIN_TEXT with Llama-2's
settings and it is written to OUT_DIR/spm.gguf as llama.cpp's converter writes one (pieces, scores and
types; no merges). transformers converts that GGUF (flavour spm_gguf_transformers, built as above), and
OUT_DIR/sentencepiece.jsonl holds SentencePiece's own ids of every line ({"ids"}: BOS, then its pieces).
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
    "normal forms: \ufb01 ligature, \uff21\uff22\uff23 fullwidth, \u2460 circled, \u212b angstrom, e\u0301 vs \u00e9, "
    "\u1100\u1161 jamo, \u00bd half, x\u00b2, \u2126 ohm".encode(),
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


QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


def spm_flavour(texts, metaspace, nfkc=False):
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
        tok.normalizer = normalizers.Sequence(([normalizers.NFKC()] if nfkc else []) +
                                              [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1, right=0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return tok


def byte_level_flavour(texts, llama3, qwen2=False):
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    tok = Tokenizer(models.BPE(ignore_merges=llama3))
    if qwen2:  # Qwen2: NFC, then its split (single digits), then bytes
        tok.normalizer = normalizers.NFC()
    if llama3 or qwen2:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_SPLIT if qwen2 else LLAMA3_SPLIT), behavior="isolated", invert=False),
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


def gguf_flavours(gguf_path, names=("smollm2_transformers", "smollm2_digits")):
    """transformers' conversion of the tokenizer in gguf_path (the first name), and (the second, if
    any) that vocabulary with SmolLM2's own pre-tokenizer ("smollm") and no BOS template (add_bos_token
    false)."""
    import transformers
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoTokenizer

    # transformers 4.57 refuses to read a GGUF without PyTorch, although its tokenizer conversion
    # uses none (only the weights need it); the 2.x wheel is not worth installing for metadata.
    gguf_utils.is_torch_available = lambda: True
    converted = AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
    as_converted = Tokenizer.from_str(converted.backend_tokenizer.to_str())
    digits = Tokenizer.from_str(converted.backend_tokenizer.to_str())
    digits.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    digits.post_processor = None
    names = list(names)
    return dict(zip(names, [as_converted, digits])), transformers.__version__


def spm_gguf(train_texts, path):
    """A real SentencePiece BPE model trained by `sentencepiece` on train_texts with Llama-2's settings
    (byte fallback, digits split, identity normalisation, a dummy prefix, whitespace kept), written to a
    tokenizer-only GGUF at path as llama.cpp's converter writes one (tokenizer.ggml.model "llama":
    pieces, their scores and types, no merges). Returns the SentencePieceProcessor."""
    import io

    import gguf
    import sentencepiece as spm

    model = io.BytesIO()
    lines = [line for text in train_texts for line in text.split("\n") if line.strip()]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=1000,
                                   byte_fallback=True, split_digits=True, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, add_dummy_prefix=True, allow_whitespace_only_pieces=True,
                                   character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    w = gguf.GGUFWriter(path, "llama")
    for key, value in [("context_length", 64), ("embedding_length", 8), ("block_count", 1), ("feed_forward_length", 8),
                       ("attention.head_count", 1)]:
        w.add_uint32(f"llama.{key}", value)
    w.add_tokenizer_model("llama")
    kinds = [(sp.is_unknown, 2), (sp.is_control, 3), (sp.is_unused, 5), (sp.is_byte, 6)]
    w.add_token_list([sp.id_to_piece(i) for i in range(sp.get_piece_size())])
    w.add_token_scores([sp.get_score(i) for i in range(sp.get_piece_size())])
    w.add_token_types([next((t for f, t in kinds if f(i)), 1) for i in range(sp.get_piece_size())])
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sp


def read_lines(line_files):
    lines = []
    for path in line_files:
        with open(path, "rb") as f:
            lines += f.read().split(b"\n")
    return lines + TORTURE


def write_flavours(out, lines, flavours):
    """inputs.bin, and each flavour's tokenizer.json and expected.jsonl; the ids of each flavour."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "inputs.bin"), "wb") as f:
        f.write(struct.pack("<I", len(lines)))
        for line in lines:
            f.write(struct.pack("<I", len(line)) + line)
    strings = [line.decode("utf-8", errors="replace") for line in lines]
    all_ids = {}
    for name, tok in flavours.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # what recur reads, read back
        all_ids[name] = []
        with open(os.path.join(d, "expected.jsonl"), "w", encoding="utf-8") as f:
            for enc in tok.encode_batch(strings, add_special_tokens=True):
                ids = enc.ids
                all_ids[name].append(ids)
                f.write(json.dumps({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                                    "decoded_skip": tok.decode(ids, skip_special_tokens=True)}) + "\n")
    return all_ids


def main():
    if sys.argv[1] == "--gguf":
        gguf_path, out, line_files = sys.argv[2], sys.argv[3], sys.argv[4:]
        flavours, version = gguf_flavours(gguf_path)
        ids = write_flavours(out, read_lines(line_files), flavours)
        bos = flavours["smollm2_transformers"].token_to_id("<|im_start|>")
        differ = sum(a[1:] != b if a[:1] == [bos] else a != b
                     for a, b in zip(ids["smollm2_transformers"], ids["smollm2_digits"]))
        print(json.dumps({"tokenizers": tokenizers.__version__, "transformers": version, "lines": len(ids["smollm2_digits"]),
                          "flavours": list(flavours), "lines_differing": differ}))
        return
    if sys.argv[1] == "--spm-gguf":
        out, train, line_files = sys.argv[2], sys.argv[3], sys.argv[4:]
        with open(train, encoding="utf-8") as f:
            texts = [s for s in f.read().split("<|endoftext|>") if s.strip()][:1500]
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "spm.gguf")
        sp = spm_gguf(texts, path)
        flavours, version = gguf_flavours(path, ["spm_gguf_transformers"])
        lines = read_lines(line_files)
        ids = write_flavours(out, lines, flavours)["spm_gguf_transformers"]
        # SentencePiece itself, the tokenizer Llama-2 was trained with: BOS, then its pieces.
        with open(os.path.join(out, "sentencepiece.jsonl"), "w", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps({"ids": [sp.bos_id()] + sp.encode(line.decode("utf-8", errors="replace"))}) + "\n")
        differ = sum(a != [sp.bos_id()] + sp.encode(line.decode("utf-8", errors="replace")) for a, line in zip(ids, lines))
        import sentencepiece

        print(json.dumps({"tokenizers": tokenizers.__version__, "transformers": version,
                          "sentencepiece": sentencepiece.__version__, "lines": len(lines), "vocab": sp.get_piece_size(),
                          "lines_differing_from_sentencepiece": differ}))
        return
    out, train, line_files = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(train, encoding="utf-8") as f:
        texts = [s for s in f.read().split("<|endoftext|>") if s.strip()][:1500]
    flavours = {
        "spm_byte_fallback": spm_flavour(texts, metaspace=False),
        "metaspace": spm_flavour(texts, metaspace=True),
        "llama3_byte_level": byte_level_flavour(texts, llama3=True),
        "gpt2_digits": byte_level_flavour(texts, llama3=False),
        "qwen2_nfc": byte_level_flavour(texts, llama3=False, qwen2=True),
        "nfkc_spm": spm_flavour(texts, metaspace=False, nfkc=True),
    }
    lines = read_lines(line_files)
    write_flavours(out, lines, flavours)
    print(json.dumps({"tokenizers": tokenizers.__version__, "lines": len(lines), "flavours": list(flavours)}))


if __name__ == "__main__":
    main()
