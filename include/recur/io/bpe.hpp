// The core both BPE tokenizers share: a (left id, right id) hash table and the best-first merge of a
// symbol sequence in O(n log n) (a linked list of symbols, a heap of candidate merges).
// Not here: what a merge's priority is (llama2.c: the merged piece's score; Hugging Face: the
// merge's rank), pre-tokenization or vocabularies (tokenizer.hpp, hf_tokenizer.hpp).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace recur::detail {

/// The key of the ordered pair of ids (a, b).
inline std::uint64_t bpe_pair_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

/// bpe_pair_key -> a non-negative int32 (a merged id, or a merge's rank): open addressing with linear
/// probing in a power-of-two table at most half full. The lookup encode does for every candidate pair.
class bpe_pair_table {
public:
    bpe_pair_table() = default;
    /// A key given twice keeps its last value.
    explicit bpe_pair_table(const std::vector<std::pair<std::uint64_t, std::int32_t>>& entries) {
        std::size_t size = 16;
        while (size < 2 * entries.size()) size *= 2;
        shift_ = 64 - std::countr_zero(size);
        slots_.assign(size, slot{});
        for (const auto& [key, value] : entries) {
            std::size_t i = home(key);
            while (slots_[i].key != empty && slots_[i].key != key) i = (i + 1) & (size - 1);
            slots_[i] = {key, value};
        }
    }
    /// The value of (a, b), or -1.
    std::int32_t find(std::int32_t a, std::int32_t b) const {
        if (slots_.empty()) return -1;
        const std::uint64_t key = bpe_pair_key(a, b);
        for (std::size_t i = home(key);; i = (i + 1) & (slots_.size() - 1)) {
            if (slots_[i].key == key) return slots_[i].value;
            if (slots_[i].key == empty) return -1;
        }
    }

private:
    static constexpr std::uint64_t empty = ~std::uint64_t{0};  // ids are >= 0, so no key is all ones
    struct slot {
        std::uint64_t key = empty;
        std::int32_t value = -1;
    };
    std::size_t home(std::uint64_t key) const { return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    std::vector<slot> slots_;
    int shift_ = 64;
};

/// A merge the tokenizer allows: the merged id, and a priority (higher merges first).
struct bpe_merge_rule {
    std::int32_t merged = -1;  ///< -1: no merge
    std::uint32_t priority = 0;
};

/// Merges sym[start, end) in place, best first, leaving -1 where a symbol was merged into its left
/// neighbour: while some adjacent pair has a rule (`rule(left id, right id)` -> bpe_merge_rule), the
/// pair of highest priority, leftmost on ties, becomes its merged id. The symbols form a linked list
/// and candidate merges a heap; an entry is stale once either symbol changed or the two stopped being
/// neighbours, and is skipped. `scratch` is reused across calls.
struct bpe_merger {
    template <class Rule>
    void merge(std::vector<std::int32_t>& sym, std::int32_t start, std::int32_t end, const Rule& rule) {
        if (end - start < 2) return;
        if (prev_.size() < sym.size()) prev_.resize(sym.size()), next_.resize(sym.size());
        for (std::int32_t i = start; i < end; ++i) prev_[idx(i)] = i - 1, next_[idx(i)] = i + 1;
        heap_.clear();
        auto add = [&](std::int32_t left, std::int32_t right) {
            const bpe_merge_rule r = rule(sym[idx(left)], sym[idx(right)]);
            if (r.merged < 0) return false;
            heap_.push_back({(static_cast<std::uint64_t>(r.priority) << 32) | ~static_cast<std::uint32_t>(left), right,
                             sym[idx(left)], sym[idx(right)], r.merged});
            return true;
        };
        for (std::int32_t i = start; i + 1 < end; ++i) add(i, i + 1);
        std::make_heap(heap_.begin(), heap_.end());
        while (!heap_.empty()) {
            std::pop_heap(heap_.begin(), heap_.end());
            const candidate c = heap_.back();
            heap_.pop_back();
            const std::int32_t left = c.left();
            if (sym[idx(left)] != c.left_id || sym[idx(c.right)] != c.right_id || next_[idx(left)] != c.right) continue;
            sym[idx(left)] = c.merged;
            sym[idx(c.right)] = -1;
            const std::int32_t after = next_[idx(c.right)];
            next_[idx(left)] = after;
            if (after < end) prev_[idx(after)] = left;
            if (prev_[idx(left)] >= start && add(prev_[idx(left)], left)) std::push_heap(heap_.begin(), heap_.end());
            if (after < end && add(left, after)) std::push_heap(heap_.begin(), heap_.end());
        }
    }

private:
    /// A possible merge of the adjacent symbols `left` and `right` (indices into the symbol list).
    struct candidate {
        std::uint64_t priority;  // heap order: the rule's priority above the complement of the left index
        std::int32_t right, left_id, right_id, merged;
        std::int32_t left() const { return static_cast<std::int32_t>(~static_cast<std::uint32_t>(priority)); }
        bool operator<(const candidate& o) const { return priority < o.priority; }
    };
    static std::size_t idx(std::int32_t i) { return static_cast<std::size_t>(i); }

    std::vector<std::int32_t> prev_, next_;
    std::vector<candidate> heap_;
};

}  // namespace recur::detail
