// One handle for every tokenizer recur reads, chosen by the path: a Hugging Face tokenizer.json (the
// file, or a model folder holding one) or a llama2.c tokenizer file; and the TextTokenizer concept
// that both satisfy, which corpus tokenization is written against; and carrying a model's tokenizer
// into the folder a conversion writes.
// Not here: the tokenizers themselves (tokenizer.hpp, hf_tokenizer.hpp).
#pragma once

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/io/atomic_file.hpp>
#include <recur/io/gguf.hpp>
#include <recur/io/hf_tokenizer.hpp>
#include <recur/io/read_text.hpp>
#include <recur/io/tokenizer.hpp>

namespace recur {

/// A tokenizer of documents: encode_into(out, text, bos, eos) appends a document's ids (with its
/// beginning-of-sequence tokens and end-of-sequence token on request), decode gives text back, and
/// bos(), eos() and vocab_size() say what ids it uses.
template <class T>
concept TextTokenizer = requires(const T& t, std::vector<std::int32_t>& out, std::string_view s,
                                 std::span<const std::int32_t> ids) {
    t.encode_into(out, s, true, false);
    { t.decode(ids) } -> std::convertible_to<std::string>;
    { t.vocab_size() } -> std::convertible_to<std::int64_t>;
    { t.bos() } -> std::convertible_to<std::int32_t>;
    { t.eos() } -> std::convertible_to<std::int32_t>;
};

/// A llama2.c or a Hugging Face tokenizer behind one interface (a TextTokenizer).
class any_tokenizer {
public:
    explicit any_tokenizer(llama2c_tokenizer t) : t_(std::move(t)) {}
    explicit any_tokenizer(hf_tokenizer t) : t_(std::move(t)) {}

    void encode_into(std::vector<std::int32_t>& out, std::string_view text, bool bos, bool eos) const {
        std::visit([&](const auto& t) { t.encode_into(out, text, bos, eos); }, t_);
    }
    std::vector<std::int32_t> encode(std::string_view text, bool bos, bool eos) const {
        std::vector<std::int32_t> out;
        encode_into(out, text, bos, eos);
        return out;
    }
    std::string decode(std::span<const std::int32_t> ids) const {
        return std::visit([&](const auto& t) { return std::string(t.decode(ids)); }, t_);
    }
    std::int64_t vocab_size() const { return std::visit([](const auto& t) { return t.vocab_size(); }, t_); }
    std::int32_t bos() const { return std::visit([](const auto& t) { return t.bos(); }, t_); }
    std::int32_t eos() const { return std::visit([](const auto& t) { return t.eos(); }, t_); }
    /// "llama2.c" or "huggingface".
    const char* kind() const { return t_.index() == 0 ? "llama2.c" : "huggingface"; }
    /// The tokenizer itself, when it is of type T (else nullptr).
    template <class T>
    const T* get() const {
        return std::get_if<T>(&t_);
    }

private:
    std::variant<llama2c_tokenizer, hf_tokenizer> t_;
};

/// The text of `ids` as it continues `prompt`. llama2.c tokenizers decode from the prompt's last
/// token; others decode prompt + ids and drop the prompt's text, so that rules about the start of
/// a text (a leading space stripped) apply to the whole, as they would to one decode.
inline std::string decode_continuation(const llama2c_tokenizer& t, std::span<const std::int32_t> prompt,
                                       std::span<const std::int32_t> ids) {
    return t.decode(ids, prompt.empty() ? -1 : prompt.back());
}
inline std::string decode_continuation(const hf_tokenizer& t, std::span<const std::int32_t> prompt,
                                       std::span<const std::int32_t> ids) {
    std::vector<std::int32_t> all(prompt.begin(), prompt.end());
    all.insert(all.end(), ids.begin(), ids.end());
    const std::string whole = t.decode(all), before = t.decode(prompt);
    return whole.starts_with(before) ? whole.substr(before.size()) : t.decode(ids);
}
inline std::string decode_continuation(const any_tokenizer& t, std::span<const std::int32_t> prompt,
                                       std::span<const std::int32_t> ids) {
    if (const auto* l = t.get<llama2c_tokenizer>()) return decode_continuation(*l, prompt, ids);
    return decode_continuation(*t.get<hf_tokenizer>(), prompt, ids);
}

/// The ids that end a generated text: llama2.c's BOS and EOS (a story ends where the next begins);
/// a Hugging Face tokenizer's EOS where tokenizer_config.json names it, else none.
inline std::vector<std::int32_t> stop_ids(const any_tokenizer& t) {
    if (const auto* l = t.get<llama2c_tokenizer>()) return {l->bos(), l->eos()};
    if (const auto* h = t.get<hf_tokenizer>(); h->has_eos()) return {h->eos()};
    return {};
}

/// Loads the tokenizer at `path`: a folder (its tokenizer.json, with tokenizer_config.json's BOS and
/// EOS when present) or a file ending in .json is a Hugging Face tokenizer, anything else a llama2.c
/// tokenizer file. With `model_vocab_size` >= 0, every id the tokenizer can produce must be below it
/// (a llama2.c file must hold exactly that many tokens). Errors are recur::io_error naming the file.
inline any_tokenizer load_tokenizer(const std::filesystem::path& path, std::int64_t model_vocab_size = -1) {
    const bool gguf = std::filesystem::is_regular_file(path) && is_gguf_file(path);
    if (gguf || std::filesystem::is_directory(path) || path.extension() == ".json") {
        hf_tokenizer t = gguf ? load_gguf_tokenizer(path) : load_hf_tokenizer(path);
        if (model_vocab_size >= 0 && t.vocab_size() > model_vocab_size)
            io_fail("recur::load_tokenizer: '", path.string(), "' has ids up to ", t.vocab_size() - 1,
                    ", beyond the model's vocabulary of ", model_vocab_size);
        return any_tokenizer(std::move(t));
    }
    return any_tokenizer(load_llama2c_tokenizer(path.string(), model_vocab_size));
}

/// Writes the tokenizer of the model at `source` into the folder `out`, so that `out` is a model
/// folder with its tokenizer: a folder's tokenizer.json, tokenizer_config.json and
/// special_tokens_map.json (those present) are copied; a GGUF file's embedded vocabulary becomes
/// tokenizer.json and tokenizer_config.json (gguf_tokenizer_json, gguf_tokenizer_config); a llama2.c
/// file carries none. Each file is written atomically. Returns the names of the files written.
inline std::vector<std::string> carry_tokenizer(const std::filesystem::path& source, const std::filesystem::path& out) {
    namespace fs = std::filesystem;
    std::vector<std::string> written;
    const auto write = [&](const std::string& name, const std::string& text) {
        write_file_atomically(out / name, [&](std::ostream& os) { os << text; });
        written.push_back(name);
    };
    if (fs::is_regular_file(source) && is_gguf_file(source)) {
        const gguf_file f(source);
        write("tokenizer.json", gguf_tokenizer_json(f).dump(2));
        write("tokenizer_config.json", gguf_tokenizer_config(f).dump(2));
    } else if (fs::is_directory(source) && fs::weakly_canonical(source) != fs::weakly_canonical(out)) {
        for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
            if (fs::is_regular_file(source / name)) write(name, detail::read_text_file(source / name, "recur::carry_tokenizer"));
    }
    return written;
}

}  // namespace recur
