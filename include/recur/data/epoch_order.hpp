// The order in which a data source visits its items: a seeded permutation per epoch, reshuffled every
// epoch, with a JSON cursor (seed, epoch, position). Not here: what an item is (packed_tokens, qa_examples).
#pragma once

#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/core/random.hpp>
#include <recur/data/data_source.hpp>
#include <recur/recurrence/sampler.hpp>

namespace recur {

/// Uniform integer in [0, n), unbiased: draws below 2^64 mod n are rejected so that the rest split
/// evenly into n classes. requires: n >= 1.
inline std::uint64_t uniform_below(rng& gen, std::uint64_t n) {
    const std::uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
    for (;;) {
        const std::uint64_t x = gen.next();
        if (x >= reject_below) return x % n;
    }
}

/// Visits items 0..n-1 once per epoch in a shuffled order. Epoch e's order is a Fisher-Yates
/// shuffle driven by rng(seed ^ splitmix64(e)), so it depends only on (seed, e, n) and differs from
/// epoch to epoch. The cursor is the epoch and the number of items of it already visited.
class epoch_order {
public:
    /// requires: items >= 1.
    epoch_order(std::int64_t items, std::uint64_t seed) : items_(items), seed_(seed) {
        check(items >= 1, "recur::epoch_order: need at least one item, got ", items);
        shuffle();
    }

    std::int64_t items() const { return items_; }
    std::uint64_t seed() const { return seed_; }
    /// The epoch the next item belongs to (0-based), unless position() == items().
    std::int64_t epoch() const { return epoch_; }
    /// Items of the current epoch visited so far, in [0, items()].
    std::int64_t position() const { return position_; }
    /// The order of the current epoch: a permutation of 0..items()-1.
    const std::vector<std::int64_t>& order() const { return order_; }

    /// The next item; after the last item of an epoch comes the first of the next, reshuffled.
    std::int64_t next() {
        if (position_ == items_) {
            ++epoch_;
            position_ = 0;
            shuffle();
        }
        return order_[static_cast<std::size_t>(position_++)];
    }

    /// {"source": kind, "seed", "epoch", "position", "items"}; `kind` names the source type.
    nlohmann::json cursor(const std::string& kind) const {
        return {{"source", kind}, {"seed", seed_}, {"epoch", epoch_}, {"position", position_}, {"items", items_}};
    }

    /// Restores a cursor written by cursor(kind). Its "items" must equal items() (a cursor of other
    /// data); its seed replaces this order's seed. Errors are recur::error prefixed by `who` and
    /// naming the key; the order is unchanged then.
    void restore(const nlohmann::json& j, const std::string& kind, const std::string& who) {
        detail::check_cursor_keys(j, {"source", "seed", "epoch", "position", "items"}, who);
        detail::check_cursor_source(j, kind, who);
        constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
        const std::int64_t items = detail::cursor_integer(j, "items", 1, int64_max, who);
        check(items == items_, who, ": cursor key 'items' is ", items, ", but this source has ", items_,
              " (a cursor of other data or another seq)");
        const std::uint64_t seed = detail::cursor_seed(j, "seed", who);
        const std::int64_t epoch = detail::cursor_integer(j, "epoch", 0, int64_max, who);
        const std::int64_t position = detail::cursor_integer(j, "position", 0, items, who);
        seed_ = seed;
        epoch_ = epoch;
        position_ = position;
        shuffle();
    }

private:
    void shuffle() {
        order_.resize(static_cast<std::size_t>(items_));
        std::iota(order_.begin(), order_.end(), std::int64_t{0});
        rng gen(seed_ ^ detail::splitmix64(static_cast<std::uint64_t>(epoch_)));
        for (std::size_t i = order_.size() - 1; i > 0; --i)
            std::swap(order_[i], order_[static_cast<std::size_t>(uniform_below(gen, i + 1))]);
    }

    std::int64_t items_;
    std::uint64_t seed_;
    std::int64_t epoch_ = 0;
    std::int64_t position_ = 0;
    std::vector<std::int64_t> order_;
};

}  // namespace recur
