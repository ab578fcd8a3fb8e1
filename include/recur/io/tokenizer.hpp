// The llama2.c tokenizer (tok512.bin files): checked loading, llama2.c's BPE encode in O(n log n), decode.
// Not here: training vocabularies, SentencePiece .model files, corpora split into documents (text_corpus.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/io/bpe.hpp>

namespace recur {

/// A llama2.c vocabulary: piece strings with merge scores. Ids 0-2 are <unk>, BOS and EOS, ids
/// 3-258 the byte tokens "<0x00>".."<0xFF>", the rest SentencePiece-BPE pieces.
class llama2c_tokenizer {
public:
    static constexpr std::int32_t bos_id = 1;
    static constexpr std::int32_t eos_id = 2;
    /// Byte b with no token of its own encodes as id b + byte_offset.
    static constexpr std::int32_t byte_offset = 3;
    /// llama2.c starts its best-merge search at this score, so merges scoring at or below it never happen.
    static constexpr float no_merge_score = -1e10f;

    /// Builds a tokenizer from pieces and scores (one per id). Requires equal sizes, at least 259
    /// pieces, no empty piece, no NaN score and byte tokens "<0xHH>" at ids 3-258; throws recur::error
    /// naming the token otherwise. When a piece occurs twice, its lowest id is the one encode produces.
    llama2c_tokenizer(std::vector<std::string> pieces, std::vector<float> scores)
        : pieces_(std::move(pieces)), scores_(std::move(scores)) {
        const auto n = static_cast<std::int64_t>(pieces_.size());
        check(scores_.size() == pieces_.size(), "recur::llama2c_tokenizer: ", n, " pieces but ", scores_.size(),
              " scores");
        check(n >= byte_offset + 256, "recur::llama2c_tokenizer: ", n,
              " tokens, but <unk>, BOS, EOS and the 256 byte tokens need at least 259");
        check(n <= INT32_MAX, "recur::llama2c_tokenizer: ", n, " tokens do not fit int32 ids");
        byte_value_.assign(pieces_.size(), -1);
        for (std::int32_t id = 0; id < static_cast<std::int32_t>(n); ++id) {
            const std::string& p = pieces_[static_cast<std::size_t>(id)];
            check(!p.empty(), "recur::llama2c_tokenizer: token ", id, " has an empty piece");
            check(!std::isnan(scores_[static_cast<std::size_t>(id)]), "recur::llama2c_tokenizer: token ", id,
                  " has a NaN score");
            byte_value_[static_cast<std::size_t>(id)] = static_cast<std::int16_t>(parse_byte_piece(p));
            if (id >= byte_offset && id < byte_offset + 256)
                check(byte_value_[static_cast<std::size_t>(id)] == id - byte_offset, "recur::llama2c_tokenizer: token ",
                      id, " is '", p, "', expected the byte token for 0x", hex_byte(id - byte_offset));
            ids_.try_emplace(p, id);
        }
        for (int b = 0; b < 256; ++b)
            single_byte_[static_cast<std::size_t>(b)] = find(std::string(1, static_cast<char>(b)));
        build_merges();
    }

    /// Number of tokens.
    std::int64_t vocab_size() const { return static_cast<std::int64_t>(pieces_.size()); }
    /// Beginning-of-sequence id (1), put before every document.
    std::int32_t bos() const { return bos_id; }
    /// End-of-sequence id (2).
    std::int32_t eos() const { return eos_id; }
    /// The stored piece of `id` ("<0x0A>" for a byte token); throws recur::error when out of range.
    const std::string& piece(std::int32_t id) const { return pieces_[checked(id, "piece")]; }
    /// The merge score of `id`; throws recur::error when out of range.
    float score(std::int32_t id) const { return scores_[checked(id, "score")]; }
    /// The lowest id whose piece is exactly `s`, or -1.
    std::int32_t find(std::string_view s) const {
        const auto it = ids_.find(s);
        return it == ids_.end() ? -1 : it->second;
    }

    /// Encodes like llama2.c's encode(): optional BOS, then the text with a space prepended when it is
    /// non-empty; each UTF-8 code point (a byte plus up to three continuation bytes) becomes its token,
    /// or one byte token per byte when it has none; then, while some adjacent pair (BOS included)
    /// concatenates to a token scoring above no_merge_score, the highest-scoring pair, leftmost on
    /// ties, is merged; finally optional EOS. Unlike llama2.c, a NUL byte is an ordinary byte rather
    /// than the end of the text. O(n log n): a linked list of symbols and a heap of candidate merges
    /// per stretch of text that merges cannot cross (for SentencePiece vocabularies, each word).
    std::vector<std::int32_t> encode(std::string_view text, bool bos, bool eos) const {
        std::vector<std::int32_t> ids;
        encode_into(ids, text, bos, eos);
        return ids;
    }

    /// Like encode, but appends to `out` (reusing its capacity across documents).
    void encode_into(std::vector<std::int32_t>& out, std::string_view text, bool bos, bool eos) const {
        std::vector<std::int32_t> sym;
        sym.reserve(text.size() + 2);
        if (bos) sym.push_back(bos_id);
        if (!text.empty()) {
            append_code_points(sym, " ");
            append_code_points(sym, text);
        }
        merge(sym);
        for (const std::int32_t id : sym)
            if (id >= 0) out.push_back(id);
        if (eos) out.push_back(eos_id);
    }

    /// What llama2.c prints for `id` after `prev`: the piece, without its leading space right after
    /// BOS, and the raw byte for a byte token "<0xHH>". Throws recur::error when `id` is out of range.
    std::string_view decode_piece(std::int32_t prev, std::int32_t id) const {
        const std::size_t i = checked(id, "decode");
        if (byte_value_[i] >= 0) return {&byte_chars_[static_cast<std::size_t>(byte_value_[i])], 1};
        std::string_view p = pieces_[i];
        if (prev == bos_id && p.front() == ' ') p.remove_prefix(1);
        return p;
    }

    /// The text of `ids`: decode_piece of each id after its predecessor, with BOS and EOS contributing
    /// no text (llama2.c never prints them), so decode(encode(s, true, false)) == s. `prev` is the
    /// token before ids[0] (-1: none), e.g. a prompt's last token when decoding its continuation.
    std::string decode(std::span<const std::int32_t> ids, std::int32_t prev = -1) const {
        std::string out;
        for (const std::int32_t id : ids) {
            const std::string_view p = decode_piece(prev, id);
            if (id != bos_id && id != eos_id) out.append(p);
            prev = id;
        }
        return out;
    }

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    /// A score as an integer of the same order (with -0 read as +0, as float comparison does).
    static std::uint32_t ordered(float score) {
        const auto bits = std::bit_cast<std::uint32_t>(score + 0.0f);
        return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
    }
    std::size_t checked(std::int32_t id, const char* what) const {
        if (id < 0 || id >= static_cast<std::int64_t>(pieces_.size()))
            fail("recur::llama2c_tokenizer::", what, ": token id ", id, " is out of range for a vocabulary of ",
                 pieces_.size(), " tokens");
        return static_cast<std::size_t>(id);
    }

    static char hex_digit(int v) { return "0123456789ABCDEF"[v & 15]; }
    static std::string hex_byte(int b) { return {hex_digit(b >> 4), hex_digit(b)}; }

    /// The byte a piece "<0xHH>" stands for, or -1.
    static int parse_byte_piece(std::string_view p) {
        if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
        auto nibble = [](char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        const int hi = nibble(p[3]), lo = nibble(p[4]);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    /// Every pair of ids whose pieces concatenate to a mergeable token, found by splitting each piece.
    void build_merges() {
        std::unordered_map<std::string_view, std::vector<std::int32_t>> all_ids;  // duplicates included
        for (std::int32_t id = 0; id < static_cast<std::int32_t>(pieces_.size()); ++id)
            all_ids[pieces_[static_cast<std::size_t>(id)]].push_back(id);
        std::vector<std::pair<std::uint64_t, std::int32_t>> pairs;
        for (const auto& [s, ids] : all_ids) {
            const std::int32_t merged = ids.front();
            if (!(scores_[static_cast<std::size_t>(merged)] > no_merge_score)) continue;
            for (std::size_t k = 1; k < s.size(); ++k)
                joinable_bytes_.set(static_cast<unsigned char>(s[k - 1]) * 256u + static_cast<unsigned char>(s[k]));
            for (std::size_t k = 1; k < s.size(); ++k) {
                const auto l = all_ids.find(s.substr(0, k)), r = all_ids.find(s.substr(k));
                if (l == all_ids.end() || r == all_ids.end()) continue;
                for (const std::int32_t a : l->second)
                    for (const std::int32_t b : r->second) pairs.emplace_back(detail::bpe_pair_key(a, b), merged);
            }
        }
        merges_ = detail::bpe_pair_table(pairs);
    }

    /// llama2.c's code-point grouping: a byte plus the continuation bytes after it, at most 4 bytes.
    void append_code_points(std::vector<std::int32_t>& sym, std::string_view text) const {
        for (std::size_t i = 0; i < text.size();) {
            std::size_t n = 1;
            while (n < 4 && i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
            const std::string_view cp = text.substr(i, n);
            if (const std::int32_t id = n == 1 ? single_byte_[static_cast<unsigned char>(cp[0])] : find(cp); id >= 0) {
                sym.push_back(id);
            } else {
                for (const char c : cp) sym.push_back(static_cast<unsigned char>(c) + byte_offset);
            }
            i += n;
        }
    }

    /// Whether a merge could ever join these neighbours: only if some mergeable piece contains the
    /// last byte of the left piece followed by the first byte of the right one (merging never changes
    /// the bytes either side of a boundary). Where it cannot, the two sides merge independently, so
    /// llama2.c's global best-first order equals best-first within each side.
    bool joinable(std::int32_t left_id, std::int32_t right_id) const {
        const auto a = static_cast<unsigned char>(pieces_[static_cast<std::size_t>(left_id)].back());
        const auto b = static_cast<unsigned char>(pieces_[static_cast<std::size_t>(right_id)].front());
        return joinable_bytes_.test(a * 256u + b);
    }

    /// Merges `sym` in place (detail::bpe_merger, a merge's priority its piece's score), leaving -1
    /// where a symbol was merged into its left neighbour. The text is cut where no merge can cross
    /// (joinable), and each run merges on its own.
    void merge(std::vector<std::int32_t>& sym) const {
        const auto n = static_cast<std::int32_t>(sym.size());
        detail::bpe_merger merger;
        const auto rule = [&](std::int32_t a, std::int32_t b) {
            const std::int32_t merged = merges_.find(a, b);
            return merged < 0 ? detail::bpe_merge_rule{}
                              : detail::bpe_merge_rule{merged, ordered(scores_[static_cast<std::size_t>(merged)])};
        };
        for (std::int32_t start = 0, end = 0; start < n; start = end) {
            for (end = start + 1; end < n && joinable(sym[static_cast<std::size_t>(end - 1)], sym[static_cast<std::size_t>(end)]);) ++end;
            merger.merge(sym, start, end, rule);
        }
    }

    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::vector<std::int16_t> byte_value_;  // the byte a "<0xHH>" piece stands for, else -1
    std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>> ids_;
    std::array<std::int32_t, 256> single_byte_{};  // find() of each one-byte string
    std::bitset<256 * 256> joinable_bytes_;        // bit 256 a + b: some mergeable piece holds bytes a, b in a row
    detail::bpe_pair_table merges_;
    std::string byte_chars_ = [] {
        std::string s(256, '\0');
        for (int b = 0; b < 256; ++b) s[static_cast<std::size_t>(b)] = static_cast<char>(b);
        return s;
    }();
};

/// Loads a llama2.c tokenizer file (int32 max_token_length, then per token: float32 score, int32
/// length, the piece's bytes), e.g. ../shared/data/tok512.bin. With `expected_vocab_size` >= 0 the
/// file must hold exactly that many tokens (the model's vocab size); otherwise tokens run to the end
/// of the file. A truncated file, a negative, empty or over-long piece, trailing bytes or a wrong
/// token count throws recur::io_error naming the file and the token.
inline llama2c_tokenizer load_llama2c_tokenizer(const std::string& path, std::int64_t expected_vocab_size = -1) {
    std::ifstream f(path, std::ios::binary);
    if (!f) io_fail("recur::load_llama2c_tokenizer: cannot open '", path, "'");
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) io_fail("recur::load_llama2c_tokenizer: '", path, "': read failed");
    const std::size_t size = bytes.size();
    std::size_t pos = 0;
    auto read_i32 = [&] {
        std::int32_t v;
        std::memcpy(&v, bytes.data() + pos, 4);
        pos += 4;
        return v;
    };
    if (size < 4)
        io_fail("recur::load_llama2c_tokenizer: '", path, "': file of ", size,
                " bytes is shorter than the 4-byte max_token_length");
    const std::int32_t max_len = read_i32();
    constexpr std::int32_t max_sane_len = 1 << 16;
    if (max_len <= 0 || max_len > max_sane_len)
        io_fail("recur::load_llama2c_tokenizer: '", path, "': max_token_length ", max_len, " is not in [1, ",
                max_sane_len, "]");
    std::vector<std::string> pieces;
    std::vector<float> scores;
    const bool fixed = expected_vocab_size >= 0;
    while (fixed ? static_cast<std::int64_t>(pieces.size()) < expected_vocab_size : pos < size) {
        const std::size_t t = pieces.size();
        const std::size_t left = size - pos;
        if (fixed && left == 0)
            io_fail("recur::load_llama2c_tokenizer: '", path, "': holds ", t, " tokens, expected ",
                    expected_vocab_size);
        if (left < 8)
            io_fail("recur::load_llama2c_tokenizer: '", path, "': token ", t,
                    " is truncated: its score and length need 8 bytes, ", left, " remain",
                    fixed ? "" : " (a cut file or trailing bytes)");
        float score;
        std::memcpy(&score, bytes.data() + pos, 4);
        pos += 4;
        const std::int32_t len = read_i32();
        if (len <= 0 || len > max_len)
            io_fail("recur::load_llama2c_tokenizer: '", path, "': token ", t, " has length ", len,
                    ", expected 1 to max_token_length ", max_len);
        if (size - pos < static_cast<std::size_t>(len))
            io_fail("recur::load_llama2c_tokenizer: '", path, "': token ", t, " is truncated: its piece needs ", len,
                    " bytes, ", size - pos, " remain");
        pieces.emplace_back(bytes.data() + pos, static_cast<std::size_t>(len));
        scores.push_back(score);
        pos += static_cast<std::size_t>(len);
    }
    if (pos != size)
        io_fail("recur::load_llama2c_tokenizer: '", path, "': ", size - pos, " trailing bytes after the expected ",
                expected_vocab_size, " tokens");
    try {
        return llama2c_tokenizer(std::move(pieces), std::move(scores));
    } catch (const error& e) {
        io_fail("recur::load_llama2c_tokenizer: '", path, "': ", e.what());
    }
}

}  // namespace recur
