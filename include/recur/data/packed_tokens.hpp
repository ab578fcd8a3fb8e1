// Pretraining-style data: a stream of BOS-led documents packed into non-overlapping windows of seq + 1
// tokens with EOS between documents, shuffled per epoch, resumable. Not here: masking (qa_examples.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/data/data_source.hpp>
#include <recur/data/epoch_order.hpp>
#include <recur/io/token_file.hpp>
#include <recur/io/tokenizer.hpp>

namespace recur {

/// Documents packed into fixed windows (docs/method.md section 9: "documents are packed into fixed windows separated
/// by EOS").
///
/// The input is a token stream in which every document starts with BOS (1), as `recur tokenize` and
/// tokenize_corpus write it. With eos_between_documents, EOS (2) is inserted before every BOS that
/// starts a later document, unless an EOS already precedes it (streams tokenized with EOS). The packed
/// stream is then cut into windows of seq + 1 tokens that share no token: window w is tokens
/// [w (seq + 1), (w + 1)(seq + 1)); the last tokens that do not fill a window are left out. A row is
/// a window's first seq tokens as ids and its last seq as targets, so every target is the next token
/// and none is ignored. Each epoch visits every window once, in the order of epoch_order.
class packed_tokens final : public data_source {
public:
    /// Packs `tokens` into windows of seq + 1. Throws recur::error when seq < 1, when an id is
    /// negative or not below vocab_size (naming its position in `tokens` and the id), when EOS does
    /// not fit the vocabulary, or when the packed stream has fewer than seq + 1 tokens.
    packed_tokens(std::span<const std::int32_t> tokens, std::int64_t seq, std::int64_t vocab_size,
                  std::uint64_t seed, bool eos_between_documents = true)
        : seq_(seq), stream_(pack(tokens, seq, vocab_size, eos_between_documents)),
          order_(static_cast<std::int64_t>(stream_.size()) / (seq + 1), seed) {}

    /// Reads an llm.c token file (read_token_file, which throws recur::io_error naming the file, the
    /// position and the id of an id not below vocab_size) and packs it as the constructor does.
    static packed_tokens from_file(const std::string& path, std::int64_t seq, std::int64_t vocab_size,
                                   std::uint64_t seed, bool eos_between_documents = true) {
        check(vocab_size >= 1, "recur::packed_tokens: vocab_size must be >= 1, got ", vocab_size);
        return packed_tokens(read_token_file(path, vocab_size), seq, vocab_size, seed, eos_between_documents);
    }

    std::int64_t seq() const override { return seq_; }
    /// Windows per epoch.
    std::int64_t windows() const { return order_.items(); }
    /// The packed stream the windows are cut from (EOS inserted).
    const std::vector<std::int32_t>& stream() const { return stream_; }
    /// Where the epoch stands (epoch, position, seed, this epoch's window order).
    const epoch_order& order() const { return order_; }

    void next_row(std::span<std::int32_t> ids, std::span<std::int32_t> targets) override {
        check_row(ids, targets, "recur::packed_tokens::next_row");
        const auto start = stream_.begin() + order_.next() * (seq_ + 1);
        std::copy(start, start + seq_, ids.begin());
        std::copy(start + 1, start + seq_ + 1, targets.begin());
    }

    /// {"source": "packed_tokens", "seed", "epoch", "position", "items" (windows per epoch)}.
    nlohmann::json cursor() const override { return order_.cursor("packed_tokens"); }
    void restore(const nlohmann::json& cursor) override {
        order_.restore(cursor, "packed_tokens", "recur::packed_tokens::restore");
    }

private:
    static std::vector<std::int32_t> pack(std::span<const std::int32_t> tokens, std::int64_t seq,
                                          std::int64_t vocab_size, bool eos_between_documents) {
        constexpr std::int32_t bos = llama2c_tokenizer::bos_id, eos = llama2c_tokenizer::eos_id;
        check(seq >= 1, "recur::packed_tokens: seq must be >= 1, got ", seq);
        check(!eos_between_documents || vocab_size > eos, "recur::packed_tokens: vocab_size ", vocab_size,
              " has no room for EOS (id ", eos, ") between documents");
        std::vector<std::int32_t> out;
        out.reserve(tokens.size() + tokens.size() / 64);
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            const std::int32_t id = tokens[i];
            check(id >= 0 && id < vocab_size, "recur::packed_tokens: id ", id, " at position ", i,
                  " is not in the vocabulary [0, ", vocab_size, ")");
            if (eos_between_documents && id == bos && i > 0 && tokens[i - 1] != eos) out.push_back(eos);
            out.push_back(id);
        }
        check(static_cast<std::int64_t>(out.size()) >= seq + 1, "recur::packed_tokens: ", out.size(),
              " tokens (after packing) do not fill one window of seq + 1 = ", seq + 1, " tokens");
        return out;
    }

    std::int64_t seq_;
    std::vector<std::int32_t> stream_;
    epoch_order order_;
};

}  // namespace recur
