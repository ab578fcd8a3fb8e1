// Writes the seed corpora of tests/fuzz/corpus/<harness>/ with recur's own writers (valid files,
// each prefixed by the harness's selector byte where it has one): `fuzz_make_corpus OUT_DIR`.
// Not here: seeds from ../shared/data (scripts/fuzz.sh copies those into its work corpus), or the
// tokenizer.json seeds of corpus/hf_tokenizer/ (made by Hugging Face's tokenizers, through the
// flavours of tests/io/peer_hf_tokenizers.py, on 300 TinyStories stories) and corpus/gguf/ (made by
// llama.cpp's gguf package: tests/io/peer_gguf.py make / tiny).
#include <cstdio>

#include <recur/io/hf.hpp>
#include <recur/io/huginn.hpp>
#include <recur/io/recur_model.hpp>
#include <recur/io/token_file.hpp>
#include <recur/optim/adamw.hpp>

#include "fixtures.hpp"
#include "fuzz_support.hpp"

namespace {

using recur::fuzz::B;
namespace fs = std::filesystem;

fs::path out_root;

void seed(const std::string& harness, const std::string& name, const std::string& bytes, int selector = -1) {
    const std::string body = selector < 0 ? bytes : std::string(1, static_cast<char>(selector)) + bytes;
    recur::fuzz::write_file(out_root / harness / name, body);
}

/// A llama2.c checkpoint of a 1-layer model (dim 8, hidden 8, 2 heads, 1 kv head, vocab 16, seq 4).
std::string llama2c_bytes(bool tied) {
    const std::int32_t dim = 8, hidden = 8, layers = 1, heads = 2, kv = 1, vocab = 16, seq = 4, hd = dim / heads;
    const std::int32_t header[7] = {dim, hidden, layers, heads, kv, tied ? vocab : -vocab, seq};
    std::int64_t floats = vocab * dim + layers * (2 * dim + 2 * dim * heads * hd + 2 * kv * hd * dim + 3 * hidden * dim) +
                          dim + seq * hd + (tied ? 0 : vocab * dim);
    std::string out(reinterpret_cast<const char*>(header), sizeof header);
    for (std::int64_t i = 0; i < floats; ++i) {
        const float v = 0.01f * static_cast<float>(i % 17) - 0.05f;
        out.append(reinterpret_cast<const char*>(&v), 4);
    }
    return out;
}

std::string token_file_bytes(int version) {
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 40; ++i) ids.push_back(i % 10 == 0 ? 1 : 3 + (i * 7) % (version == 2 ? 500 : 13));
    const auto path = recur::fuzz::scratch() / "tokens.bin";
    recur::write_token_file(path.string(), ids, version);
    return recur::fuzz::read_file(path);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_make_corpus OUT_DIR\n");
        return 2;
    }
    out_root = argv[1];
    const auto tmp = recur::fuzz::scratch();
    const auto cfg = recur::fuzz::tiny_config();

    // safetensors: a file of every dtype with metadata, an empty one, and an index over one shard.
    {
        recur::named_tensors<B> t{{"a", recur::Tensor<B>::from_host(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3})},
                                  {"empty", recur::Tensor<B>::from_host(std::vector<float>{}, {0, 4})},
                                  {"s", recur::Tensor<B>::from_host(std::vector<float>{7}, {1})}};
        for (const auto type : {recur::dtype::f32, recur::dtype::bf16, recur::dtype::f16, recur::dtype::f64}) {
            recur::save_safetensors<B>(tmp / "t.safetensors", t, type, {{"format", "pt"}});
            seed("safetensors", std::string("file-") + std::string(recur::safetensors_dtype_name(type)),
                 recur::fuzz::read_file(tmp / "t.safetensors"), 0);
        }
        recur::save_safetensors<B>(tmp / "e.safetensors", recur::named_tensors<B>{});
        seed("safetensors", "file-no-tensors", recur::fuzz::read_file(tmp / "e.safetensors"), 0);
        seed("safetensors", "index",
             R"({"metadata": {"total_size": 32}, "weight_map": {"a": "shard-1.safetensors", "b": "shard-1.safetensors"}})",
             1);
    }
    // hf: config.json alone, config.json beside weights, weights beside config.json.
    {
        recur::save_hf<B>(tmp / "hf", recur::LlamaModel<B>(cfg, 1), recur::dtype::bf16);
        const auto config = recur::fuzz::read_file(tmp / "hf" / "config.json");
        seed("hf", "config", config, 0);
        seed("hf", "config-with-weights", config, 1);
        seed("hf", "weights", recur::fuzz::read_file(tmp / "hf" / "model.safetensors"), 2);
    }
    seed("llama2c", "tied", llama2c_bytes(true));
    seed("llama2c", "untied", llama2c_bytes(false));
    seed("tokenizer", "tok264", recur::fuzz::tokenizer_bytes());
    seed("token_file", "v1", token_file_bytes(1));
    seed("token_file", "v2", token_file_bytes(2));
    // recur_model: config.json and model.safetensors of a 1 + 1 + 1 recurrent model.
    {
        recur::Recurrent<B> m(cfg, 1, 1, 1, recur::recurrence_options{}, 1);
        recur::save_recurrent<B>(tmp / "recur", m, recur::dtype::bf16);
        seed("recur_model", "config", recur::fuzz::read_file(tmp / "recur" / "config.json"), 0);
        seed("recur_model", "weights", recur::fuzz::read_file(tmp / "recur" / "model.safetensors"), 1);
        recur::save_huginn<B>(tmp / "huginn", m, recur::dtype::bf16);
        seed("huginn", "config", recur::fuzz::read_file(tmp / "huginn" / "config.json"), 0);
        seed("huginn", "weights", recur::fuzz::read_file(tmp / "huginn" / "model.safetensors"), 1);
        recur::adamw<B> a(recur::named_parameters<B>(m));
        a.save_state(tmp / "adamw.safetensors");
        seed("optimizer_state", "adamw", recur::fuzz::read_file(tmp / "adamw.safetensors"), 0);
        recur::muon_adamw<B> mu(recur::named_parameters<B>(m));
        mu.save_state(tmp / "muon.safetensors");
        seed("optimizer_state", "muon_adamw", recur::fuzz::read_file(tmp / "muon.safetensors"), 1);
    }
    // trainer_resume: each file of a checkpoint after one step, under its selector.
    {
        const auto dir = recur::fuzz::write_tiny_checkpoint(tmp / "run");
        seed("trainer_resume", "trainer_state", recur::fuzz::read_file(dir / "trainer_state.json"), 0);
        seed("trainer_resume", "model", recur::fuzz::read_file(dir / "model.safetensors"), 2);
        seed("trainer_resume", "optimizer", recur::fuzz::read_file(dir / "optimizer.safetensors"), 3);
        seed("trainer_resume", "latest", "step-00000001\n", 4);
    }
    // run_config: the shapes of run file the header of train/run_config.hpp describes.
    seed("run_config", "fresh", R"({"model": {"config": {"vocab_size": 264, "d_model": 8, "n_heads": 2, "n_kv_heads": 1,
  "ffn_dim": 8, "n_layers": 3, "max_seq_len": 16}, "layers": [1, 1, 1], "recurrence": {"mean_r": 2}, "seed": 3},
 "data": {"seed": 1, "sources": {"t": {"tokens": "tokens.bin"}}, "phases": [{"steps": 2, "mix": {"t": 1}}, {"mix": {"t": 1}}]},
 "optimizer": {"kind": "muon_adamw", "muon": {"lr": 0.02, "ns_steps": 5, "scale": "spectral", "ns_precision": "f32"},
  "adamw": {"lr": 0.001, "beta1": 0.9}, "rules": [{"pattern": "embed.*", "group": "adamw"}]},
 "train": {"steps": 10, "batch": 2, "seq": 8, "lr_schedule": {"warmup_fraction": 0.1}, "curriculum": {"r_max": 2},
  "backprop": {"s_max": 2}, "split": "fixed", "checkpoint_every": 5, "out_dir": "out"}})");
    seed("run_config", "continue", R"({"model": {"from": "recur-model"},
 "data": {"sources": {"s": {"text": "story.txt", "tokenizer": "tokenizer.bin"}, "q": {"qa": "qa.jsonl", "tokenizer": "tokenizer.bin"}},
  "phases": [{"steps": 1, "mix": {"s": 1}}, {"mix": {"s": 0.3, "q": 0.7}}]},
 "optimizer": {"kind": "adamw", "adamw": {"lr": 0.001, "eps": 1e-8, "weight_decay": 0.1}},
 "train": {"steps": 4, "batch": 1, "seq": 16}})");
    seed("run_config", "retrofit", R"({"model": {"from": "hf-model", "surgery": {"prelude": [0], "core": [1], "coda": [2]},
  "recurrence": {"state_init": "zeros", "injection": "additive"}},
 "data": {"sources": {"t": {"tokens": "tokens.bin"}}, "phases": [{"mix": {"t": 1}}]},
 "train": {"steps": 3, "batch": 1, "seq": 4}})");
    seed("qa_jsonl", "gsm8k", "{\"question\": \"What is 2 + 3?\", \"answer\": \"2 + 3 = 5\\n#### 5\"}\n\n"
                              "{\"prompt\": \"Once upon\", \"completion\": \" a time\"}\n");
    seed("text_corpus", "endoftext", "Once upon a time.\n<|endoftext|>\nThe cat sat in the hat.\n\n<|endoftext|>\n", 0);
    seed("text_corpus", "paragraphs", "First story, one line.\n\n  Second story\nover two lines.  \n\n\n", 0);
    seed("text_corpus", "jsonl", "{\"text\": \"Once upon a time\"}\n{\"question\": \"2+2?\", \"answer\": \"4\"}\n\n", 1);
    std::printf("fuzz_make_corpus: seeds written under %s\n", out_root.string().c_str());
    return 0;
}
