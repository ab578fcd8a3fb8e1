// gguf_logits: recur's side of the llama.cpp comparison (benchmarks/compare_llamacpp.py). Loads a
// GGUF model and its embedded tokenizer with recur, and for each prompt prints one JSON line: the
// prompt's ids (with the tokenizer's BOS template), the next-token logits after the prompt, and the
// greedy continuation of `new` tokens through the KV-cached decoder.
//
// usage: gguf_logits MODEL.gguf NEW PROMPT...
#include <algorithm>
#include <charconv>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/infer/decoder.hpp>
#include <recur/io/gguf.hpp>

namespace {

using B = recur::cpu;

std::int32_t argmax(const std::vector<float>& v) {
    return static_cast<std::int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

int run(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: gguf_logits MODEL.gguf NEW PROMPT...\n";
        return 2;
    }
    std::int64_t fresh = 0;
    const std::string_view n(argv[2]);
    if (const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), fresh); ec != std::errc() || end != n.data() + n.size() ||
                                                                                     fresh < 1 || fresh > 4096) {
        std::cerr << "gguf_logits: NEW must be an integer in [1, 4096], got '" << n << "'\n";
        return 2;
    }
    const auto model = recur::load_gguf<B>(argv[1]);
    const auto tok = recur::load_gguf_tokenizer(argv[1]);
    for (int i = 3; i < argc; ++i) {
        const std::vector<std::int32_t> ids = tok.encode(argv[i], true);
        recur::decoder<B, recur::LlamaModel<B>> dec(model, {}, 1, static_cast<std::int64_t>(ids.size()) + fresh);
        const std::vector<float> logits = dec.prefill(0, ids).to_host<float>();
        std::vector<std::int32_t> greedy{argmax(logits)};
        const std::int64_t row[] = {0};
        while (std::ssize(greedy) < fresh) {
            const std::int32_t last[] = {greedy.back()};
            greedy.push_back(argmax(dec.step(row, last).to_host<float>()));
        }
        std::cout << nlohmann::json{{"prompt", argv[i]}, {"ids", ids}, {"logits", logits}, {"greedy", greedy}}.dump() << '\n';
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "gguf_logits: " << e.what() << '\n';
        return 1;
    }
}
