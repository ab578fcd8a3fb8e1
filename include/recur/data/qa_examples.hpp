// Question/answer data (GSM8K JSONL): one example per row, loss on the answer and EOS only, shuffled
// per epoch, resumable. Not here: packing several examples into one row, or scoring answers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/data/data_source.hpp>
#include <recur/data/epoch_order.hpp>
#include <recur/io/text_corpus.hpp>
#include <recur/io/tokenizer.hpp>

namespace recur {

/// Question/answer examples, one per row (docs/method.md section 9: "the loss covers answer tokens only").
///
/// Each non-blank line of the JSONL file is an object with string fields "question" and "answer"
/// (GSM8K), or "prompt" and "completion". Its example is
/// ```
/// BOS, encode(question + "\n"), encode(answer), EOS
/// ```
/// with the tokenizer's encode_into (llama2.c's puts a space before each text, so the answer's first
/// token carries a leading space that decode drops only right after BOS; a Hugging Face tokenizer's
/// BOS is its template's prefix, and it needs an EOS token). An example of L tokens fills
/// row positions 0..L-2: ids are its first L - 1 tokens, targets its last L - 1, with targets
/// token_batch::ignore except where the target is an answer token or the final EOS; the rest of the
/// row holds EOS ids with ignored targets (causal attention keeps it from the example). Examples with
/// more than seq + 1 tokens are skipped, not truncated, and counted by skipped(). Rows follow
/// epoch_order over the kept examples.
class qa_examples final : public data_source {
public:
    /// Reads and tokenizes `path`. A missing file throws recur::io_error; so does a line that is not
    /// JSON or lacks the string fields, naming the file and the line number. seq < 1, or no example
    /// that fits, throws recur::error.
    /// Tokenizer: a TextTokenizer (llama2c_tokenizer, hf_tokenizer, any_tokenizer).
    template <class Tokenizer>
    qa_examples(const std::string& path, const Tokenizer& tokenizer, std::int64_t seq, std::uint64_t seed)
        : seq_(seq), eos_(tokenizer.eos()), order_(load(path, tokenizer), seed) {}

    std::int64_t seq() const override { return seq_; }
    /// Examples kept (each fits a row).
    std::int64_t size() const { return static_cast<std::int64_t>(answer_start_.size()); }
    /// Examples left out because they have more than seq + 1 tokens.
    std::int64_t skipped() const { return skipped_; }
    /// The tokens of kept example i: BOS, question, answer, EOS. requires: 0 <= i < size().
    std::span<const std::int32_t> example(std::int64_t i) const {
        const std::size_t u = checked(i);
        return std::span(tokens_).subspan(offsets_[u], offsets_[u + 1] - offsets_[u]);
    }
    /// Index in example(i) of its first answer token. requires: 0 <= i < size().
    std::int64_t answer_start(std::int64_t i) const { return answer_start_[checked(i)]; }
    /// Where the epoch stands (epoch, position, seed, this epoch's example order).
    const epoch_order& order() const { return order_; }

    void next_row(std::span<std::int32_t> ids, std::span<std::int32_t> targets) override {
        check_row(ids, targets, "recur::qa_examples::next_row");
        const std::int64_t i = order_.next();
        const auto ex = example(i);
        const auto n = ex.size() - 1;  // positions the example fills
        const auto answer = static_cast<std::size_t>(answer_start_[static_cast<std::size_t>(i)]);
        std::fill(ids.begin(), ids.end(), eos_);
        std::fill(targets.begin(), targets.end(), token_batch::ignore);
        for (std::size_t t = 0; t < n; ++t) {
            ids[t] = ex[t];
            if (t + 1 >= answer) targets[t] = ex[t + 1];
        }
    }

    /// {"source": "qa_examples", "seed", "epoch", "position", "items" (kept examples)}.
    nlohmann::json cursor() const override { return order_.cursor("qa_examples"); }
    void restore(const nlohmann::json& cursor) override {
        order_.restore(cursor, "qa_examples", "recur::qa_examples::restore");
    }

private:
    std::size_t checked(std::int64_t i) const {
        check(i >= 0 && i < size(), "recur::qa_examples: example ", i, " is out of range [0, ", size(), ")");
        return static_cast<std::size_t>(i);
    }

    /// Fills tokens_, offsets_ and answer_start_; returns the number of kept examples.
    template <class Tokenizer>
    std::int64_t load(const std::string& path, const Tokenizer& tokenizer) {
        check(seq_ >= 1, "recur::qa_examples: seq must be >= 1, got ", seq_);
        offsets_.push_back(0);
        std::vector<std::int32_t> ex;
        for (const auto& qa : read_qa_pairs(path, "recur::qa_examples")) {
            ex.clear();
            tokenizer.encode_into(ex, qa.question + "\n", true, false);
            const auto answer_at = static_cast<std::int64_t>(ex.size());
            tokenizer.encode_into(ex, qa.answer, false, true);
            if (static_cast<std::int64_t>(ex.size()) > seq_ + 1) {
                ++skipped_;
                continue;
            }
            tokens_.insert(tokens_.end(), ex.begin(), ex.end());
            offsets_.push_back(tokens_.size());
            answer_start_.push_back(answer_at);
        }
        check(!answer_start_.empty(), "recur::qa_examples: '", path, "' has no example of at most seq + 1 = ", seq_ + 1,
              " tokens (", skipped_, " longer ones skipped)");
        return size();
    }

    std::int64_t seq_;
    std::int32_t eos_;                        // fills the rest of a row
    std::vector<std::int32_t> tokens_;        // every kept example, concatenated
    std::vector<std::size_t> offsets_;        // example i is tokens_[offsets_[i], offsets_[i + 1])
    std::vector<std::int64_t> answer_start_;  // per example, index of its first answer token
    std::int64_t skipped_ = 0;
    epoch_order order_;  // last: its initializer, load(), fills the members above
};

}  // namespace recur
