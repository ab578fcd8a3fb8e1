// Hugging Face tokenizer.json files with a BPE model, encoded and decoded as the `tokenizers`
// library does: added and special tokens, normalizers (Unicode normal forms NFC, NFD, NFKC and NFKD,
// Prepend, Replace, Sequence), pre-tokenizers (Split with a regex, ByteLevel, Digits, Metaspace,
// Sequence), BPE with byte fallback, unknown tokens and ignore_merges, TemplateProcessing, and the
// decoders that undo them (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace). Regexes run on
// PCRE2 with Unicode properties, normal forms on ICU.
// Not here: other models (WordPiece, Unigram, WordLevel), other normalizers (Lowercase, StripAccents,
// BertNormalizer...), offsets, padding or truncation: a tokenizer.json that asks for one is refused with
// an error naming it.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/io/bpe.hpp>
#include <recur/io/read_text.hpp>

namespace recur {

namespace detail {

/// The length of the well-formed UTF-8 sequence at s[i], or 0 if the bytes there are not one.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const std::size_t left = s.size() - i;
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    const auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return k < left && b(k) >= lo && b(k) <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return cont(1, lo, hi) && cont(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

/// How many bytes at s[i] form the maximal prefix of a well-formed sequence (at least 1): what one
/// U+FFFD replaces (the Unicode "maximal subpart" practice of Python's and Rust's lossy decoding).
inline std::size_t utf8_maximal_subpart(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t want = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) want = 2;
    else if (c >= 0xE0 && c <= 0xEF) want = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) want = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    std::size_t n = 1;
    while (n < want && i + n < s.size()) {
        const auto d = static_cast<unsigned char>(s[i + n]);
        if (d < (n == 1 ? lo : 0x80) || d > (n == 1 ? hi : 0xBF)) break;
        ++n;
    }
    return n;
}

/// `s` with every ill-formed UTF-8 sequence replaced by U+FFFD (one per maximal subpart). Runs of
/// well-formed text are copied whole.
inline std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t run = 0;  // start of the well-formed run not yet copied
    for (std::size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
        } else if (const std::size_t n = utf8_sequence_length(s, i)) {
            i += n;
        } else {
            out.append(s.substr(run, i - run)).append("\xEF\xBF\xBD");
            run = i += utf8_maximal_subpart(s, i);
        }
    }
    return out.append(s.substr(run));
}

/// `s` with every occurrence of the non-empty `from` replaced by `to`, left to right.
inline std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    for (std::size_t hit; (hit = s.find(from, i)) != std::string_view::npos; i = hit + from.size())
        out.append(s.substr(i, hit - i)).append(to);
    return out.append(s.substr(i));
}

/// The code point of the well-formed sequence of `n` bytes at p.
inline char32_t utf8_decode(const char* p, std::size_t n) {
    const auto b = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(p[k])); };
    if (n == 1) return b(0);
    if (n == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    if (n == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

inline void utf8_append(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

/// Rust's char::is_whitespace (Unicode White_Space), which lstrip / rstrip and Strip use.
inline bool unicode_whitespace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// GPT-2's byte-level alphabet: byte b as a printable code point (printable Latin-1 bytes stand for
/// themselves, the rest map to U+0100 upwards), as UTF-8; and back (code point -> byte, -1 if none).
struct byte_level_alphabet {
    std::array<std::pair<std::array<char, 2>, std::size_t>, 256> utf8;  // byte -> (UTF-8 bytes, length): 1 or 2
    std::array<std::int16_t, 324> bytes;
    byte_level_alphabet() {
        bytes.fill(-1);
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t c = printable ? static_cast<char32_t>(b) : next++;
            std::string s;
            utf8_append(s, c);
            utf8[static_cast<std::size_t>(b)] = {{s[0], s.size() > 1 ? s[1] : '\0'}, s.size()};
            bytes[c] = static_cast<std::int16_t>(b);
        }
    }
    static const byte_level_alphabet& get() {
        static const byte_level_alphabet a;
        return a;
    }
};

/// A compiled PCRE2 pattern (UTF, Unicode properties) over valid UTF-8.
class hf_regex {
public:
    hf_regex(const std::string& pattern, bool literal, const std::string& where) {
        int code = 0;
        PCRE2_SIZE offset = 0;
        const std::uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
        code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &code, &offset,
                                  nullptr));
        if (!code_) {
            std::array<PCRE2_UCHAR, 256> msg{};
            pcre2_get_error_message(code, msg.data(), msg.size());
            fail(where, "the regex '", pattern, "' does not compile at offset ", offset, ": ",
                 reinterpret_cast<const char*>(msg.data()));
        }
        jit_ = pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE) == 0;  // else the interpreter runs it
        data_.reset(pcre2_match_data_create_from_pattern(code_.get(), nullptr));
        context_.reset(pcre2_match_context_create(nullptr));
        check(data_ && context_, where, "out of memory compiling the regex '", pattern, "'");
        // A pathological pattern (catastrophic backtracking) fails with an error instead of hanging.
        pcre2_set_match_limit(context_.get(), 100'000'000);
        pcre2_set_depth_limit(context_.get(), 1'000'000);
    }

    /// Calls f(begin, end) for each non-overlapping match in `s`, left to right (an empty match
    /// advances by one character, as Rust's regex does).
    template <class F>
    void for_each_match(std::string_view s, F&& f) const {
        std::size_t at = 0;
        while (at <= s.size()) {
            // pcre2_jit_match is pcre2_match's JIT path without its checks (the text is valid UTF-8).
            const auto subject = reinterpret_cast<PCRE2_SPTR>(s.data());
            const int rc = jit_ ? pcre2_jit_match(code_.get(), subject, s.size(), at, 0, data_.get(), context_.get())
                                : pcre2_match(code_.get(), subject, s.size(), at, PCRE2_NO_UTF_CHECK, data_.get(),
                                              context_.get());
            if (rc == PCRE2_ERROR_NOMATCH) return;
            if (rc < 0) {
                std::array<PCRE2_UCHAR, 256> msg{};
                pcre2_get_error_message(rc, msg.data(), msg.size());
                fail("recur::hf_tokenizer: a split regex failed on a text of ", s.size(), " bytes: ",
                     reinterpret_cast<const char*>(msg.data()));
            }
            const PCRE2_SIZE* v = pcre2_get_ovector_pointer(data_.get());
            const std::size_t b = v[0], e = v[1];
            if (e > b) f(b, e);
            if (e > b) {
                at = e;
            } else {
                if (b >= s.size()) return;
                at = b + std::max<std::size_t>(1, utf8_sequence_length(s, b));
            }
        }
    }

private:
    struct code_free {
        void operator()(pcre2_code* c) const { pcre2_code_free(c); }
    };
    struct data_free {
        void operator()(pcre2_match_data* d) const { pcre2_match_data_free(d); }
    };
    struct context_free {
        void operator()(pcre2_match_context* c) const { pcre2_match_context_free(c); }
    };
    std::unique_ptr<pcre2_code, code_free> code_;
    std::unique_ptr<pcre2_match_data, data_free> data_;  // per regex: a tokenizer serves one thread at a time
    std::unique_ptr<pcre2_match_context, context_free> context_;
    bool jit_ = false;
};

/// GPT-2's split pattern, what ByteLevel's use_regex applies.
inline constexpr const char* gpt2_split_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace detail

/// A Hugging Face tokenizer (tokenizer.json) with a BPE model. Thread-compatible: encode and decode
/// are const but share a word cache and regex scratch, so one tokenizer serves one thread at a time.
class hf_tokenizer {
public:
    /// Builds the tokenizer `j` describes; `where` (a file name) prefixes every error. Components
    /// recur does not implement throw recur::error naming the component and its type.
    explicit hf_tokenizer(const nlohmann::json& j, const std::string& where = "tokenizer.json");

    /// The ids of `text` (bytes that are not UTF-8 are first replaced by U+FFFD, as Python's
    /// decode("utf-8", "replace") does); with add_special_tokens, the post-processor's template
    /// (e.g. BOS) around them.
    std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = true) const;

    /// The text of `ids` through the decoder; with skip_special_tokens, special added tokens are
    /// left out. An id outside the vocabulary throws recur::error naming it.
    std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const;

    /// Ids in the model's vocabulary and the added tokens together (one more than the largest id).
    std::int64_t vocab_size() const { return static_cast<std::int64_t>(tokens_.size()); }
    /// The id of token `s` (vocabulary or added), if any.
    std::optional<std::int32_t> token_to_id(std::string_view s) const {
        const auto it = ids_.find(s);
        return it == ids_.end() ? std::nullopt : std::optional(it->second);
    }
    /// The string of id `id` (empty for an unused id).
    const std::string& id_to_token(std::int32_t id) const { return tokens_.at(checked(id)); }

    /// The ids the post-processor puts before and after a single sequence.
    const std::vector<std::int32_t>& prefix_ids() const { return prefix_; }
    const std::vector<std::int32_t>& suffix_ids() const { return suffix_; }

    /// Appends the ids of one document to `out`: with `bos`, inside the post-processor's template
    /// (its BOS, as the model was trained); with `eos`, then the end-of-sequence token. The
    /// recur::TextTokenizer interface.
    void encode_into(std::vector<std::int32_t>& out, std::string_view text, bool bos, bool eos) const {
        const auto ids = encode(text, bos);
        out.insert(out.end(), ids.begin(), ids.end());
        if (eos) out.push_back(this->eos());
    }
    /// The beginning-of-sequence id: tokenizer_config.json's bos_token where it was read, else the
    /// template's single prefix token; recur::error if neither names one.
    std::int32_t bos() const {
        if (bos_) return *bos_;
        check(prefix_.size() == 1, "recur::hf_tokenizer: no BOS token (no tokenizer_config.json bos_token, and the "
              "post-processor does not put exactly one token before a sequence)");
        return prefix_.front();
    }
    /// Whether an end-of-sequence token is known (tokenizer_config.json's eos_token).
    bool has_eos() const { return eos_.has_value(); }
    /// The end-of-sequence id (tokenizer_config.json's eos_token); recur::error if it was not given.
    std::int32_t eos() const {
        check(eos_.has_value(), "recur::hf_tokenizer: no EOS token (tokenizer.json does not name one; a "
              "tokenizer_config.json with eos_token beside it does)");
        return *eos_;
    }
    /// Sets BOS / EOS from the token strings of a tokenizer_config.json ("bos_token": "<s>" or
    /// {"content": "<s>", ...}); a string that is not a token throws recur::error naming it.
    void set_special_tokens(const nlohmann::json& config, const std::string& where) {
        const auto read = [&](const char* key) -> std::optional<std::int32_t> {
            const auto it = config.find(key);
            if (it == config.end() || it->is_null()) return std::nullopt;
            const nlohmann::json& v = it->is_object() ? it->value("content", nlohmann::json()) : *it;
            check(v.is_string(), "recur::hf_tokenizer: '", where, "': '", key, "' must be a string or {\"content\": ...}");
            const auto id = token_to_id(v.get<std::string>());
            check(id.has_value(), "recur::hf_tokenizer: '", where, "': ", key, " '", v.get<std::string>(),
                  "' is not a token of the tokenizer");
            return id;
        };
        check(config.is_object(), "recur::hf_tokenizer: '", where, "' is not a JSON object");
        if (const auto b = read("bos_token")) bos_ = b;
        if (const auto e = read("eos_token")) eos_ = e;
    }

private:
    /// A "Sequence" component: `parse` for each element of its `key` array; false for any other type.
    template <class Parse>
    static bool parse_sequence(const nlohmann::json& j, const std::string& type, const char* key, const std::string& at,
                               Parse&& parse);
    struct added_token {
        std::string content;
        std::int32_t id;
        bool special, single_word, lstrip, rstrip, normalized;
    };
    struct normalizer {
        enum kind { prepend, replace, normal_form } k;
        std::string a, b;                       // prepend: a; replace: pattern a -> content b
        const icu::Normalizer2* form = nullptr;  // normal_form: ICU's NFC, NFD, NFKC or NFKD instance
    };
    struct pre_tokenizer {
        enum kind { split, byte_level, digits, metaspace } k;
        std::shared_ptr<detail::hf_regex> regex;  // split, digits, byte_level with use_regex
        enum behaviour { isolated, removed, merged_with_previous, merged_with_next } behavior = isolated;
        bool add_prefix_space = false;             // byte_level
        std::string replacement;                   // metaspace
        enum scheme { always, first, never } prepend_scheme = always;
        bool metaspace_split = true;
    };
    struct decoder {
        enum kind { byte_level, replace, byte_fallback, fuse, strip, metaspace } k;
        std::string a, b;  // replace: a -> b; strip: content a; metaspace: replacement a
        std::size_t start = 0, stop = 0;
        bool prepend = true;  // metaspace: strip the first token's leading space
    };

    std::size_t checked(std::int32_t id) const {
        if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
            fail("recur::hf_tokenizer: token id ", id, " is out of range for a vocabulary of ", tokens_.size(), " ids");
        return static_cast<std::size_t>(id);
    }

    void parse_added(const nlohmann::json& j, const std::string& at);
    void parse_normalizer(const nlohmann::json& j, const std::string& at);
    void parse_pre_tokenizer(const nlohmann::json& j, const std::string& at);
    void parse_model(const nlohmann::json& j, const std::string& at);
    void parse_post_processor(const nlohmann::json& j, const std::string& at);
    void parse_decoder(const nlohmann::json& j, const std::string& at);

    /// Splits `text` at the added tokens (normalized or not, as `normalized` says) into segments:
    /// (text, -1) or ("", added id).
    void split_added(std::string owned, bool normalized, std::vector<std::pair<std::string, std::int32_t>>& out) const;
    std::string normalize(std::string s) const;
    /// Words as ranges of one text: what pre-tokenization passes from stage to stage.
    struct pieces {
        std::string text;
        std::vector<std::pair<std::size_t, std::size_t>> ranges;
        void clear() { text.clear(), ranges.clear(); }
        std::string_view view(std::pair<std::size_t, std::size_t> r) const {
            return std::string_view(text).substr(r.first, r.second - r.first);
        }
    };
    struct span_t {
        std::size_t b, e;
        bool match;
    };
    /// Runs the pre-tokenizers over `in` (one piece, the segment, on entry; the words on return).
    void pre_tokenize(pieces& in, bool first_segment) const;
    void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using string_map = std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>>;
    string_map vocab_;  // the model's vocabulary
    string_map ids_;    // vocabulary and added tokens
    std::vector<std::string> tokens_;                       // id -> string
    std::vector<added_token> added_;
    std::array<std::bitset<256>, 2> added_first_{};  // [normalized]: the first bytes of those added tokens
    std::vector<bool> special_;                             // id -> a special added token
    std::vector<normalizer> normalizers_;
    std::vector<pre_tokenizer> pre_tokenizers_;
    std::vector<decoder> decoders_;
    bool has_decoder_ = false;
    detail::bpe_pair_table merges_;           // (left, right) -> rank
    std::vector<std::int32_t> merged_of_rank_;
    std::optional<std::int32_t> unk_;
    bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
    std::array<std::int32_t, 256> byte_tokens_{};  // "<0xHH>" ids, -1 where absent
    std::array<std::int32_t, 256> single_byte_{};  // the id of each one-byte token, -1 where absent
    std::bitset<256 * 256> joinable_{};            // bit 256 x + y: a merge joins a token ending in x to one starting with y
    std::vector<std::pair<std::int16_t, std::int16_t>> edges_;  // vocabulary id -> (first byte, last byte), -1 if empty
    std::unordered_map<char32_t, std::int32_t> char_ids_;        // the tokens that are one multi-byte character

    /// Whether a merge could ever join these neighbours (the bytes either side of a boundary never
    /// change as merges proceed); unknown tokens stay together so that fuse_unk's runs stay whole.
    bool joinable(std::int32_t left, std::int32_t right) const {
        if (unk_ && left == *unk_ && right == *unk_) return true;
        const std::int16_t l = edges_[static_cast<std::size_t>(left)].second, r = edges_[static_cast<std::size_t>(right)].first;
        if (l < 0 || r < 0) return true;
        return joinable_.test(static_cast<std::size_t>(l) * 256u + static_cast<std::size_t>(r));
    }
    std::vector<std::int32_t> prefix_, suffix_;    // TemplateProcessing's single template around $A
    std::optional<std::int32_t> bos_, eos_;        // from tokenizer_config.json
    mutable std::unordered_map<std::string, std::vector<std::int32_t>, string_hash, std::equal_to<>> cache_;
    mutable pieces scratch_pieces_;
    mutable std::vector<std::int32_t> sym_;
    mutable std::vector<std::size_t> sym_at_;
    mutable std::vector<span_t> spans_, merged_;
    mutable detail::bpe_merger merger_;
    static constexpr std::size_t cache_limit = 1 << 16, cached_word_bytes = 256;
};

namespace detail {

inline const nlohmann::json& hf_at(const nlohmann::json& j, const char* key, const std::string& at) {
    const auto it = j.find(key);
    if (it == j.end()) fail(at, "key '", key, "' is missing");
    return *it;
}
template <class T>
T hf_get(const nlohmann::json& j, const char* key, const std::string& at, std::optional<T> fallback = std::nullopt) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (fallback) return *fallback;
        fail(at, "key '", key, "' is missing");
    }
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        fail(at, "key '", key, "' has the wrong type (", it->type_name(), ")");
    }
}
inline std::string hf_type(const nlohmann::json& j, const std::string& at) {
    check(j.is_object(), at, "expected an object, got ", j.type_name());
    return hf_get<std::string>(j, "type", at);
}
/// A "pattern" object: {"String": s} (literal) or {"Regex": r}.
inline std::pair<std::string, bool> hf_pattern(const nlohmann::json& j, const std::string& at) {
    check(j.is_object() && j.size() == 1, at, "'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
    if (j.contains("String")) return {hf_get<std::string>(j, "String", at), true};
    if (j.contains("Regex")) return {hf_get<std::string>(j, "Regex", at), false};
    fail(at, "'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace detail

inline hf_tokenizer::hf_tokenizer(const nlohmann::json& j, const std::string& where) {
    const std::string at = "recur::hf_tokenizer: '" + where + "': ";
    check(j.is_object(), at, "expected a JSON object, got ", j.type_name());
    for (const char* k : {"truncation", "padding"})
        check(!j.contains(k) || j[k].is_null(), at, "'", k, "' is set; recur does not truncate or pad");
    parse_model(detail::hf_at(j, "model", at), at + "model: ");
    parse_added(j.value("added_tokens", nlohmann::json::array()), at + "added_tokens: ");
    parse_normalizer(j.value("normalizer", nlohmann::json()), at + "normalizer: ");
    parse_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()), at + "pre_tokenizer: ");
    parse_post_processor(j.value("post_processor", nlohmann::json()), at + "post_processor: ");
    parse_decoder(j.value("decoder", nlohmann::json()), at + "decoder: ");
}

inline void hf_tokenizer::parse_model(const nlohmann::json& m, const std::string& at) {
    const std::string type = detail::hf_type(m, at);
    check(type == "BPE", at, "type '", type, "' is not supported (recur reads BPE models)");
    const auto dropout = m.value("dropout", nlohmann::json());
    check(dropout.is_null() || (dropout.is_number() && dropout.get<double>() == 0.0), at,
          "'dropout' is set; BPE dropout is not supported");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const auto v = m.value(k, nlohmann::json());
        check(v.is_null() || (v.is_string() && v.get<std::string>().empty()), at, "'", k, "' is set (",
              v.dump(), "); recur's BPE does not support it");
    }
    const auto& vocab = detail::hf_at(m, "vocab", at);
    check(vocab.is_object(), at, "'vocab' must be an object of token -> id");
    for (const auto& [token, id] : vocab.items()) {
        check(id.is_number_integer() && id.get<std::int64_t>() >= 0 && id.get<std::int64_t>() < INT32_MAX, at,
              "'vocab' gives token '", token, "' the id ", id.dump(), ", expected an integer in [0, 2^31)");
        const auto i = static_cast<std::int32_t>(id.get<std::int64_t>());
        check(vocab_.emplace(token, i).second, at, "'vocab' holds '", token, "' twice");
        if (static_cast<std::size_t>(i) >= tokens_.size()) {
            check(static_cast<std::size_t>(i) < 16 * vocab.size() + 1024, at, "'vocab' id ", i, " is far beyond its ",
                  vocab.size(), " tokens");
            tokens_.resize(static_cast<std::size_t>(i) + 1);
        }
        check(tokens_[static_cast<std::size_t>(i)].empty(), at, "'vocab' gives the id ", i, " to two tokens");
        tokens_[static_cast<std::size_t>(i)] = token;
        if (token.size() > 1 && detail::utf8_sequence_length(token, 0) == token.size())
            char_ids_.emplace(detail::utf8_decode(token.data(), token.size()), i);
    }
    ids_ = vocab_;
    edges_.resize(tokens_.size(), {-1, -1});
    for (std::size_t i = 0; i < tokens_.size(); ++i)
        if (const std::string& t = tokens_[i]; !t.empty())
            edges_[i] = {static_cast<unsigned char>(t.front()), static_cast<unsigned char>(t.back())};
    const auto& merges = detail::hf_at(m, "merges", at);
    check(merges.is_array(), at, "'merges' must be an array");
    std::vector<std::pair<std::uint64_t, std::int32_t>> pairs;
    pairs.reserve(merges.size());
    for (std::size_t r = 0; r < merges.size(); ++r) {
        const auto& e = merges[r];
        std::string a, b;
        if (e.is_string()) {
            const std::string s = e.get<std::string>();
            const auto space = s.find(' ');
            check(space != std::string::npos && space > 0 && space + 1 < s.size() && s.find(' ', space + 1) == std::string::npos,
                  at, "merge ", r, " '", s, "' is not two tokens separated by one space");
            a = s.substr(0, space), b = s.substr(space + 1);
        } else {
            check(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(), at, "merge ", r,
                  " must be \"a b\" or [\"a\", \"b\"], got ", e.dump());
            a = e[0].get<std::string>(), b = e[1].get<std::string>();
        }
        const auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(a + b);
        check(ia != vocab_.end() && ib != vocab_.end(), at, "merge ", r, " ('", a, "', '", b,
              "') names a token that is not in the vocabulary");
        check(im != vocab_.end(), at, "merge ", r, " ('", a, "', '", b, "') makes '", a + b,
              "', which is not in the vocabulary");
        check(!a.empty() && !b.empty(), at, "merge ", r, " has an empty side");
        joinable_.set(static_cast<unsigned char>(a.back()) * 256u + static_cast<unsigned char>(b.front()));
        pairs.emplace_back(detail::bpe_pair_key(ia->second, ib->second), static_cast<std::int32_t>(r));
        merged_of_rank_.push_back(im->second);
    }
    check(merges.size() < (std::size_t{1} << 31), at, "too many merges");
    merges_ = detail::bpe_pair_table(pairs);
    if (const auto u = m.value("unk_token", nlohmann::json()); !u.is_null()) {
        check(u.is_string(), at, "'unk_token' must be a string");
        const auto it = vocab_.find(u.get<std::string>());
        check(it != vocab_.end(), at, "'unk_token' '", u.get<std::string>(), "' is not in the vocabulary");
        unk_ = it->second;
    }
    fuse_unk_ = detail::hf_get<bool>(m, "fuse_unk", at, false);
    byte_fallback_ = detail::hf_get<bool>(m, "byte_fallback", at, false);
    ignore_merges_ = detail::hf_get<bool>(m, "ignore_merges", at, false);
    static constexpr char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        const auto one = vocab_.find(std::string(1, static_cast<char>(b)));
        single_byte_[static_cast<std::size_t>(b)] = one == vocab_.end() ? -1 : one->second;
        const auto it = vocab_.find(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
        byte_tokens_[static_cast<std::size_t>(b)] = it == vocab_.end() ? -1 : it->second;
    }
}

inline void hf_tokenizer::parse_added(const nlohmann::json& list, const std::string& at) {
    check(list.is_array(), at, "expected an array");
    for (const auto& t : list) {
        check(t.is_object(), at, "each added token must be an object");
        added_token a{detail::hf_get<std::string>(t, "content", at), 0,
                      detail::hf_get<bool>(t, "special", at, false), detail::hf_get<bool>(t, "single_word", at, false),
                      detail::hf_get<bool>(t, "lstrip", at, false), detail::hf_get<bool>(t, "rstrip", at, false),
                      detail::hf_get<bool>(t, "normalized", at, false)};
        const auto id = detail::hf_get<std::int64_t>(t, "id", at);
        check(id >= 0 && id < INT32_MAX && !a.content.empty(), at, "added token '", a.content, "' has the id ", id,
              " or is empty");
        a.id = static_cast<std::int32_t>(id);
        if (static_cast<std::size_t>(id) >= tokens_.size()) {
            check(static_cast<std::size_t>(id) < tokens_.size() + 16 * list.size() + 1024, at, "added token id ", id,
                  " is far beyond the vocabulary");
            tokens_.resize(static_cast<std::size_t>(id) + 1);
        }
        const std::string& existing = tokens_[static_cast<std::size_t>(id)];
        check(existing.empty() || existing == a.content, at, "added token '", a.content, "' takes the id ", id,
              " of '", existing, "'");
        tokens_[static_cast<std::size_t>(id)] = a.content;
        ids_[a.content] = a.id;
        added_.push_back(std::move(a));
    }
    special_.assign(tokens_.size(), false);
    for (const auto& a : added_) special_[static_cast<std::size_t>(a.id)] = a.special;
    // Longest first, so that a scan tries them in leftmost-longest order.
    std::stable_sort(added_.begin(), added_.end(),
                     [](const added_token& x, const added_token& y) { return x.content.size() > y.content.size(); });
    for (const auto& a : added_) {
        check(detail::utf8_sequence_length(a.content, 0) > 0, at, "added token '", a.content, "' is not UTF-8");
        added_first_[a.normalized].set(static_cast<unsigned char>(a.content.front()));
    }
}

template <class Parse>
bool hf_tokenizer::parse_sequence(const nlohmann::json& j, const std::string& type, const char* key, const std::string& at,
                                  Parse&& parse) {
    if (type != "Sequence") return false;
    const auto& list = detail::hf_at(j, key, at);
    check(list.is_array(), at, "'", key, "' must be an array");
    for (const auto& x : list) parse(x);
    return true;
}

inline void hf_tokenizer::parse_normalizer(const nlohmann::json& n, const std::string& at) {
    if (n.is_null()) return;
    const std::string type = detail::hf_type(n, at);
    if (parse_sequence(n, type, "normalizers", at, [&](const auto& x) { parse_normalizer(x, at); })) return;
    if (type == "Prepend") {
        normalizers_.push_back({normalizer::prepend, detail::hf_get<std::string>(n, "prepend", at), {}});
    } else if (type == "Replace") {
        const auto [pattern, literal] = detail::hf_pattern(detail::hf_at(n, "pattern", at), at);
        check(literal, at, "Replace with a regex pattern is not supported");
        check(!pattern.empty(), at, "Replace with an empty pattern");
        normalizers_.push_back({normalizer::replace, pattern, detail::hf_get<std::string>(n, "content", at)});
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        UErrorCode err = U_ZERO_ERROR;
        const icu::Normalizer2* form = type == "NFC"    ? icu::Normalizer2::getNFCInstance(err)
                                       : type == "NFD"  ? icu::Normalizer2::getNFDInstance(err)
                                       : type == "NFKC" ? icu::Normalizer2::getNFKCInstance(err)
                                                        : icu::Normalizer2::getNFKDInstance(err);
        check(U_SUCCESS(err) && form, at, "ICU has no ", type, " normalizer (", u_errorName(err), ")");
        normalizers_.push_back({normalizer::normal_form, type, {}, form});
    } else {
        fail(at, "type '", type, "' is not supported (recur implements NFC, NFD, NFKC, NFKD, Prepend, Replace and Sequence)");
    }
}

inline void hf_tokenizer::parse_pre_tokenizer(const nlohmann::json& p, const std::string& at) {
    if (p.is_null()) return;
    const std::string type = detail::hf_type(p, at);
    pre_tokenizer t{};
    if (parse_sequence(p, type, "pretokenizers", at, [&](const auto& x) { parse_pre_tokenizer(x, at); })) return;
    if (type == "Split") {
        const auto [pattern, literal] = detail::hf_pattern(detail::hf_at(p, "pattern", at), at);
        check(!detail::hf_get<bool>(p, "invert", at, false), at, "Split with invert is not supported");
        const std::string b = detail::hf_get<std::string>(p, "behavior", at);
        t.k = pre_tokenizer::split;
        if (b == "Isolated") t.behavior = pre_tokenizer::isolated;
        else if (b == "Removed") t.behavior = pre_tokenizer::removed;
        else if (b == "MergedWithPrevious") t.behavior = pre_tokenizer::merged_with_previous;
        else if (b == "MergedWithNext") t.behavior = pre_tokenizer::merged_with_next;
        else fail(at, "Split behavior '", b, "' is not supported");
        t.regex = std::make_shared<detail::hf_regex>(pattern, literal, at);
    } else if (type == "ByteLevel") {
        t.k = pre_tokenizer::byte_level;
        t.add_prefix_space = detail::hf_get<bool>(p, "add_prefix_space", at, true);
        if (detail::hf_get<bool>(p, "use_regex", at, true))
            t.regex = std::make_shared<detail::hf_regex>(detail::gpt2_split_pattern, false, at);
    } else if (type == "Digits") {
        t.k = pre_tokenizer::digits;
        t.regex = std::make_shared<detail::hf_regex>(
            detail::hf_get<bool>(p, "individual_digits", at, false) ? R"(\p{N})" : R"(\p{N}+)", false, at);
    } else if (type == "Metaspace") {
        t.k = pre_tokenizer::metaspace;
        t.replacement = detail::hf_get<std::string>(p, "replacement", at);
        check(!t.replacement.empty() && detail::utf8_sequence_length(t.replacement, 0) == t.replacement.size(), at,
              "Metaspace's replacement must be one character");
        std::string scheme = p.contains("prepend_scheme") ? detail::hf_get<std::string>(p, "prepend_scheme", at)
                             : detail::hf_get<bool>(p, "add_prefix_space", at, true) ? "always" : "never";
        if (scheme == "always") t.prepend_scheme = pre_tokenizer::always;
        else if (scheme == "first") t.prepend_scheme = pre_tokenizer::first;
        else if (scheme == "never") t.prepend_scheme = pre_tokenizer::never;
        else fail(at, "Metaspace prepend_scheme '", scheme, "' is unknown");
        t.metaspace_split = detail::hf_get<bool>(p, "split", at, true);
        t.regex = std::make_shared<detail::hf_regex>(t.replacement, true, at);
    } else {
        fail(at, "type '", type, "' is not supported (recur implements Split, ByteLevel, Digits, Metaspace and Sequence)");
    }
    pre_tokenizers_.push_back(std::move(t));
}

inline void hf_tokenizer::parse_post_processor(const nlohmann::json& p, const std::string& at) {
    if (p.is_null()) return;
    const std::string type = detail::hf_type(p, at);
    if (parse_sequence(p, type, "processors", at, [&](const auto& x) { parse_post_processor(x, at); })) return;
    if (type == "ByteLevel") {
        // Trims offsets only: no effect on ids.
    } else if (type == "TemplateProcessing") {
        const auto& single = detail::hf_at(p, "single", at);
        const auto& specials = p.value("special_tokens", nlohmann::json::object());
        check(single.is_array(), at, "'single' must be an array");
        bool seen_a = false;
        for (const auto& piece : single) {
            if (piece.contains("Sequence")) {
                check(detail::hf_get<std::string>(piece["Sequence"], "id", at) == "A" && !seen_a, at,
                      "the single template must hold sequence A once");
                seen_a = true;
            } else if (piece.contains("SpecialToken")) {
                const auto name = detail::hf_get<std::string>(piece["SpecialToken"], "id", at);
                check(specials.contains(name), at, "special token '", name, "' of the template is not in 'special_tokens'");
                for (const auto& id : detail::hf_at(specials[name], "ids", at)) {
                    check(id.is_number_integer() && id.get<std::int64_t>() >= 0 &&
                              static_cast<std::size_t>(id.get<std::int64_t>()) < tokens_.size(),
                          at, "special token '", name, "' has the id ", id.dump(), ", outside the vocabulary");
                    (seen_a ? suffix_ : prefix_).push_back(static_cast<std::int32_t>(id.get<std::int64_t>()));
                }
            } else {
                fail(at, "template piece ", piece.dump(), " is neither Sequence nor SpecialToken");
            }
        }
        check(seen_a, at, "the single template has no sequence A");
    } else {
        fail(at, "type '", type, "' is not supported (recur implements TemplateProcessing, ByteLevel and Sequence)");
    }
}

inline void hf_tokenizer::parse_decoder(const nlohmann::json& d, const std::string& at) {
    if (d.is_null()) return;
    has_decoder_ = true;
    const std::string type = detail::hf_type(d, at);
    decoder x{};
    if (parse_sequence(d, type, "decoders", at, [&](const auto& e) { parse_decoder(e, at); })) return;
    if (type == "ByteLevel") {
        x.k = decoder::byte_level;
    } else if (type == "Replace") {
        const auto [pattern, literal] = detail::hf_pattern(detail::hf_at(d, "pattern", at), at);
        check(literal && !pattern.empty(), at, "Replace needs a non-empty string pattern");
        x.k = decoder::replace, x.a = pattern, x.b = detail::hf_get<std::string>(d, "content", at);
    } else if (type == "ByteFallback") {
        x.k = decoder::byte_fallback;
    } else if (type == "Fuse") {
        x.k = decoder::fuse;
    } else if (type == "Strip") {
        x.k = decoder::strip;
        x.a = detail::hf_get<std::string>(d, "content", at);
        check(!x.a.empty() && detail::utf8_sequence_length(x.a, 0) == x.a.size(), at, "Strip's content must be one character");
        x.start = detail::hf_get<std::size_t>(d, "start", at), x.stop = detail::hf_get<std::size_t>(d, "stop", at);
    } else if (type == "Metaspace") {
        x.k = decoder::metaspace;
        x.a = detail::hf_get<std::string>(d, "replacement", at);
        check(!x.a.empty() && detail::utf8_sequence_length(x.a, 0) == x.a.size(), at,
              "Metaspace's replacement must be one character");
        const std::string scheme = d.contains("prepend_scheme") ? detail::hf_get<std::string>(d, "prepend_scheme", at)
                                   : detail::hf_get<bool>(d, "add_prefix_space", at, true) ? "always" : "never";
        x.prepend = scheme != "never";
    } else {
        fail(at, "type '", type, "' is not supported (recur implements ByteLevel, Replace, ByteFallback, Fuse, Strip, "
                 "Metaspace and Sequence)");
    }
    decoders_.push_back(std::move(x));
}

inline void hf_tokenizer::split_added(std::string owned, bool normalized,
                                      std::vector<std::pair<std::string, std::int32_t>>& out) const {
    const std::string_view text = owned;
    std::size_t start = 0, i = 0;
    auto whitespace_before = [&](std::size_t pos) {  // start of the whitespace run ending at pos
        while (pos > start) {
            std::size_t b = pos - 1;
            while (b > start && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
            if (!detail::unicode_whitespace(detail::utf8_decode(text.data() + b, pos - b))) break;
            pos = b;
        }
        return pos;
    };
    auto whitespace_after = [&](std::size_t pos) {
        while (pos < text.size()) {
            const std::size_t n = detail::utf8_sequence_length(text, pos);
            if (!detail::unicode_whitespace(detail::utf8_decode(text.data() + pos, n))) break;
            pos += n;
        }
        return pos;
    };
    auto word_char = [&](std::size_t pos, bool before) {  // is the character before / at pos alphanumeric?
        if (before ? pos == 0 : pos >= text.size()) return false;
        std::size_t b = pos;
        if (before) {
            b = pos - 1;
            while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
        }
        const char32_t c = detail::utf8_decode(text.data() + b, detail::utf8_sequence_length(text, b));
        return (c < 0x80 && (std::isalnum(static_cast<int>(c)) || c == '_')) || c >= 0x80;
    };
    // An added token starts with a lead byte (its content is UTF-8, and so is the text), so the scan
    // can skip byte by byte to the next byte that starts one.
    const auto& first = added_first_[normalized];
    if (first.none()) {
        if (!text.empty()) out.emplace_back(std::move(owned), -1);
        return;
    }
    while (i < text.size()) {
        if (!first.test(static_cast<unsigned char>(text[i]))) {
            ++i;
            continue;
        }
        const added_token* hit = nullptr;
        for (const auto& a : added_)
            if (a.normalized == normalized && text.compare(i, a.content.size(), a.content) == 0) {
                if (a.single_word && (word_char(i, true) || word_char(i + a.content.size(), false))) continue;
                hit = &a;
                break;
            }
        if (!hit) {
            i += std::max<std::size_t>(1, detail::utf8_sequence_length(text, i));
            continue;
        }
        std::size_t b = i, e = i + hit->content.size();
        if (hit->lstrip) b = whitespace_before(b);
        if (hit->rstrip) e = whitespace_after(e);
        if (b > start) out.emplace_back(std::string(text.substr(start, b - start)), -1);
        out.emplace_back(std::string(), hit->id);
        start = i = e;
    }
    if (start == 0 && !text.empty()) out.emplace_back(std::move(owned), -1);
    else if (start < text.size()) out.emplace_back(std::string(text.substr(start)), -1);
}

inline std::string hf_tokenizer::normalize(std::string s) const {
    for (const auto& n : normalizers_) {
        if (n.k == normalizer::prepend) {
            if (!s.empty()) s.insert(0, n.a);
        } else if (n.k == normalizer::replace) {
            s = detail::replace_all(s, n.a, n.b);
        } else if (!std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
            // ASCII is in every normal form; anything else goes through ICU (the text is valid UTF-8 here).
            UErrorCode err = U_ZERO_ERROR;
            const icu::UnicodeString out = n.form->normalize(icu::UnicodeString::fromUTF8(s), err);
            check(U_SUCCESS(err), "recur::hf_tokenizer: ICU's ", n.a, " failed (", u_errorName(err), ")");
            s.clear();
            out.toUTF8String(s);
        }
    }
    return s;
}

inline void hf_tokenizer::pre_tokenize(pieces& in, bool first_segment) const {
    pieces& out = scratch_pieces_;
    for (const auto& p : pre_tokenizers_) {
        out.clear();
        const bool rewrites = p.k == pre_tokenizer::byte_level || p.k == pre_tokenizer::metaspace;
        if (!rewrites) out.text = in.text;  // Split and Digits only cut: their pieces are ranges of the same text
        for (std::size_t w = 0; w < in.ranges.size(); ++w) {
            std::string_view piece = in.view(in.ranges[w]);
            std::string prepared;  // the piece after ByteLevel's prefix space or Metaspace's replacement
            if (p.k == pre_tokenizer::byte_level && p.add_prefix_space && !piece.starts_with(' ')) {
                prepared.reserve(piece.size() + 1);
                prepared += ' ';
                prepared += piece;
                piece = prepared;
            } else if (p.k == pre_tokenizer::metaspace) {
                prepared = detail::replace_all(piece, " ", p.replacement);
                const bool prepend = p.prepend_scheme == pre_tokenizer::always ||
                                     (p.prepend_scheme == pre_tokenizer::first && first_segment && w == 0);
                if (prepend && !std::string_view(prepared).starts_with(p.replacement)) prepared.insert(0, p.replacement);
                piece = prepared;
            }
            // Where this stage's parts go: a range of the shared text, or a rewritten copy.
            const std::size_t base = rewrites ? 0 : static_cast<std::size_t>(piece.data() - in.text.data());
            auto emit = [&](std::size_t b, std::size_t e) {
                if (e <= b) return;
                if (!rewrites) {
                    out.ranges.push_back({base + b, base + e});
                } else if (p.k == pre_tokenizer::byte_level) {
                    const std::size_t start = out.text.size();
                    const auto& alphabet = detail::byte_level_alphabet::get();
                    out.text.resize(start + 2 * (e - b));  // each byte becomes one or two bytes
                    char* to = out.text.data() + start;
                    for (std::size_t i = b; i < e; ++i) {
                        const auto& [bytes, n] = alphabet.utf8[static_cast<unsigned char>(piece[i])];
                        to[0] = bytes[0], to[1] = bytes[1];
                        to += n;
                    }
                    out.text.resize(static_cast<std::size_t>(to - out.text.data()));
                    out.ranges.push_back({start, out.text.size()});
                } else {
                    out.ranges.push_back({out.text.size(), out.text.size() + (e - b)});
                    out.text.append(piece.substr(b, e - b));
                }
            };
            if (p.k == pre_tokenizer::metaspace && !p.metaspace_split) {
                emit(0, piece.size());
                continue;
            }
            const auto behavior = p.k == pre_tokenizer::metaspace ? pre_tokenizer::merged_with_next
                                  : p.k == pre_tokenizer::split  ? p.behavior
                                                                 : pre_tokenizer::isolated;
            if (!p.regex) {
                emit(0, piece.size());
                continue;
            }
            // The piece as (begin, end, is_match) spans, gaps included, folded as tokenizers'
            // SplitDelimiterBehavior does.
            spans_.clear();
            std::size_t last = 0;
            p.regex->for_each_match(piece, [&](std::size_t b, std::size_t e) {
                if (b > last) spans_.push_back({last, b, false});
                spans_.push_back({b, e, true});
                last = e;
            });
            if (last < piece.size()) spans_.push_back({last, piece.size(), false});
            switch (behavior) {
            case pre_tokenizer::isolated:
                for (const auto& x : spans_) emit(x.b, x.e);
                break;
            case pre_tokenizer::removed:
                for (const auto& x : spans_)
                    if (!x.match) emit(x.b, x.e);
                break;
            case pre_tokenizer::merged_with_previous: {
                merged_.clear();
                bool previous_match = false;
                for (const auto& x : spans_) {
                    if (x.match && !previous_match && !merged_.empty()) merged_.back().e = x.e;
                    else merged_.push_back(x);
                    previous_match = x.match;
                }
                for (const auto& x : merged_) emit(x.b, x.e);
                break;
            }
            case pre_tokenizer::merged_with_next: {
                merged_.clear();
                bool next_match = false;
                for (auto it = spans_.rbegin(); it != spans_.rend(); ++it) {
                    if (it->match && !next_match && !merged_.empty()) merged_.back().b = it->b;
                    else merged_.push_back(*it);
                    next_match = it->match;
                }
                for (auto it = merged_.rbegin(); it != merged_.rend(); ++it) emit(it->b, it->e);
                break;
            }
            }
        }
        std::swap(in, out);
    }
}

inline void hf_tokenizer::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
    auto remember = [&](std::string_view key, std::span<const std::int32_t> ids) {
        if (key.size() > cached_word_bytes) return;
        if (cache_.size() >= cache_limit) cache_.clear();
        cache_.emplace(std::string(key), std::vector<std::int32_t>(ids.begin(), ids.end()));
    };
    if (const auto it = word.size() <= cached_word_bytes ? cache_.find(word) : cache_.end(); it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
    }
    if (const auto it = ignore_merges_ ? vocab_.find(word) : vocab_.end(); it != vocab_.end()) {
        out.push_back(it->second);
        remember(word, std::span(&it->second, 1));
        return;
    }
    // The initial symbols (characters, else byte tokens, else unk) and the byte each starts at.
    std::vector<std::int32_t>& sym = sym_;
    std::vector<std::size_t>& at = sym_at_;
    sym.clear(), at.clear();
    bool last_unk = false;
    for (std::size_t i = 0; i < word.size();) {
        const auto c = static_cast<unsigned char>(word[i]);
        const std::size_t n = c < 0x80 ? 1 : std::max<std::size_t>(1, detail::utf8_sequence_length(word, i));
        std::int32_t id = n == 1 ? single_byte_[c] : -1;
        if (n > 1)
            if (const auto v = char_ids_.find(detail::utf8_decode(word.data() + i, n)); v != char_ids_.end()) id = v->second;
        if (id >= 0) {
            sym.push_back(id), at.push_back(i);
            last_unk = false;
        } else {
            bool bytes = byte_fallback_;
            for (std::size_t k = 0; bytes && k < n; ++k) bytes = byte_tokens_[static_cast<unsigned char>(word[i + k])] >= 0;
            if (bytes) {
                for (std::size_t k = 0; k < n; ++k)
                    sym.push_back(byte_tokens_[static_cast<unsigned char>(word[i + k])]), at.push_back(i + k);
                last_unk = false;
            } else if (unk_) {
                if (!(fuse_unk_ && last_unk)) sym.push_back(*unk_), at.push_back(i);
                last_unk = true;
            }
        }
        i += n;
    }
    const auto rule = [&](std::int32_t a, std::int32_t b) {
        const std::int32_t rank = merges_.find(a, b);
        return rank < 0 ? detail::bpe_merge_rule{}
                        : detail::bpe_merge_rule{merged_of_rank_[static_cast<std::size_t>(rank)], ~static_cast<std::uint32_t>(rank)};
    };
    // Merges never cross a boundary no merge rule spans (joinable), so each run between such
    // boundaries merges on its own, best first, and is cached by its text: a line without a
    // pre-tokenizer (SentencePiece style) becomes word-sized runs.
    const auto n = static_cast<std::int32_t>(sym.size());
    for (std::int32_t start = 0, end = 0; start < n; start = end) {
        for (end = start + 1; end < n && joinable(sym[static_cast<std::size_t>(end - 1)], sym[static_cast<std::size_t>(end)]);) ++end;
        const std::size_t b = at[static_cast<std::size_t>(start)], e = end < n ? at[static_cast<std::size_t>(end)] : word.size();
        const std::string_view text = word.substr(b, e - b);
        // A part of a word shares the cache only without ignore_merges, under which a whole word
        // and the same text inside a longer word may encode differently.
        const bool whole = start == 0 && end == n, cacheable = whole || !ignore_merges_;
        if (!whole && cacheable && text.size() <= cached_word_bytes)
            if (const auto it = cache_.find(text); it != cache_.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                continue;
            }
        merger_.merge(sym, start, end, rule);
        const std::size_t first = out.size();
        for (std::int32_t i = start; i < end; ++i)
            if (sym[static_cast<std::size_t>(i)] >= 0) out.push_back(sym[static_cast<std::size_t>(i)]);
        if (cacheable) remember(text, std::span(out).subspan(first));
    }
}

inline std::vector<std::int32_t> hf_tokenizer::encode(std::string_view raw, bool add_special_tokens) const {
    std::string text = detail::valid_utf8(raw);
    std::vector<std::int32_t> ids;
    if (add_special_tokens) ids = prefix_;
    std::vector<std::pair<std::string, std::int32_t>> raw_segments, segments;
    split_added(std::move(text), false, raw_segments);
    bool first = true;
    for (auto& [s, id] : raw_segments) {
        if (id >= 0) {
            segments.emplace_back(std::string(), id);
            continue;
        }
        split_added(normalize(std::move(s)), true, segments);
    }
    pieces words;
    for (auto& [s, id] : segments) {
        if (id >= 0) {
            ids.push_back(id);
        } else if (!s.empty()) {
            words.clear();
            words.text = std::move(s);
            words.ranges.push_back({0, words.text.size()});
            pre_tokenize(words, first);
            for (const auto& r : words.ranges) encode_word(words.view(r), ids);
        }
        first = false;
    }
    if (add_special_tokens) ids.insert(ids.end(), suffix_.begin(), suffix_.end());
    return ids;
}

inline std::string hf_tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const std::int32_t id : ids) {
        const std::size_t i = checked(id);
        check(!tokens_[i].empty(), "recur::hf_tokenizer::decode: token id ", id, " is unused in this vocabulary");
        if (skip_special_tokens && special_[i]) continue;
        tokens.push_back(tokens_[i]);
    }
    if (!has_decoder_) {
        std::string out;
        for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
        return out;
    }
    for (const auto& d : decoders_) {
        switch (d.k) {
        case decoder::byte_level: {
            std::string bytes;
            const auto& alphabet = detail::byte_level_alphabet::get();
            for (const auto& t : tokens) {
                std::string mapped;
                bool all = true;
                for (std::size_t i = 0; i < t.size() && all;) {
                    const std::size_t n = std::max<std::size_t>(1, detail::utf8_sequence_length(t, i));
                    const char32_t c = detail::utf8_decode(t.data() + i, n);
                    all = c < alphabet.bytes.size() && alphabet.bytes[c] >= 0;
                    if (all) mapped += static_cast<char>(alphabet.bytes[c]);
                    i += n;
                }
                bytes += all ? mapped : t;
            }
            tokens.assign(1, detail::valid_utf8(bytes));
            break;
        }
        case decoder::replace:
            for (auto& t : tokens) t = detail::replace_all(t, d.a, d.b);
            break;
        case decoder::byte_fallback: {
            std::vector<std::string> out;
            std::string pending;  // bytes of consecutive byte tokens
            std::size_t pending_tokens = 0;
            auto flush = [&] {
                if (pending_tokens == 0) return;
                const std::string valid = detail::valid_utf8(pending);
                if (valid == pending) out.push_back(pending);
                else
                    for (std::size_t k = 0; k < pending_tokens; ++k) out.emplace_back("\xEF\xBF\xBD");
                pending.clear(), pending_tokens = 0;
            };
            for (auto& t : tokens) {
                int value = -1;
                if (t.size() == 6 && t.starts_with("<0x") && t[5] == '>') {
                    try {
                        std::size_t used = 0;
                        value = std::stoi(t.substr(3, 2), &used, 16);
                        if (used != 2) value = -1;
                    } catch (const std::exception&) {
                        value = -1;
                    }
                }
                if (value >= 0) {
                    pending += static_cast<char>(value);
                    ++pending_tokens;
                } else {
                    flush();
                    out.push_back(std::move(t));
                }
            }
            flush();
            tokens = std::move(out);
            break;
        }
        case decoder::fuse: {
            std::string all;
            for (const auto& t : tokens) all += t;
            tokens.assign(1, std::move(all));
            break;
        }
        case decoder::strip:
            for (auto& t : tokens) {
                std::size_t b = 0, e = t.size();
                for (std::size_t k = 0; k < d.start && t.compare(b, d.a.size(), d.a) == 0 && b < e; ++k) b += d.a.size();
                for (std::size_t k = 0; k < d.stop && e >= b + d.a.size() && t.compare(e - d.a.size(), d.a.size(), d.a) == 0; ++k)
                    e -= d.a.size();
                t = t.substr(b, e - b);
            }
            break;
        case decoder::metaspace:
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                std::string out;
                const std::string& t = tokens[i];
                for (std::size_t k = 0; k < t.size();) {
                    if (t.compare(k, d.a.size(), d.a) == 0) out += ' ', k += d.a.size();
                    else out += t[k++];
                }
                if (i == 0 && d.prepend && out.starts_with(' ')) out.erase(0, 1);
                tokens[i] = std::move(out);
            }
            break;
        }
    }
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
}

/// Reads a tokenizer.json (or the tokenizer.json of a model folder), and BOS / EOS from the
/// tokenizer_config.json beside it when there is one; errors (recur::io_error) name the file.
inline hf_tokenizer load_hf_tokenizer(const std::filesystem::path& path) {
    const auto file = std::filesystem::is_directory(path) ? path / "tokenizer.json" : path;
    const auto config = file.parent_path() / "tokenizer_config.json";
    try {
        hf_tokenizer t(detail::read_json_file(file, "recur::load_hf_tokenizer"), file.string());
        if (std::filesystem::exists(config))
            t.set_special_tokens(detail::read_json_file(config, "recur::load_hf_tokenizer"), config.string());
        return t;
    } catch (const io_error&) {
        throw;
    } catch (const error& e) {
        io_fail(e.what());
    }
}

}  // namespace recur
