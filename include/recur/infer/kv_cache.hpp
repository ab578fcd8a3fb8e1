// The KV cache of incremental decoding: one buffer per ordinary layer, and for the recurrent core one
// per (layer, iteration slot) with three sharing policies. Not here: the attention that reads it (nn/).
#pragma once

#include <charconv>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/nn/attention.hpp>

namespace recur {

/// How the core's recurrence iterations share cache slots (docs/method.md section 11).
enum class cache_sharing {
    full,      ///< one slot per iteration: memory grows with r
    compress,  ///< N slots; iteration i uses slot i mod N
    latest,    ///< one slot holding each token's latest entry (the smallest cache; the same as compress:1)
};

/// A cache sharing policy; `full`, `compress:N` or `latest` in text.
struct cache_policy {
    cache_sharing sharing = cache_sharing::full;
    std::int64_t slots = 0;  ///< N of compress

    /// Parses "full", "compress:N" (N >= 1) or "latest"; throws recur::error naming the text otherwise.
    static cache_policy parse(std::string_view text) {
        if (text == "full") return {};
        if (text == "latest") return {cache_sharing::latest, 1};
        constexpr std::string_view prefix = "compress:";
        if (text.starts_with(prefix)) {
            const std::string_view digits = text.substr(prefix.size());
            std::int64_t n = 0;
            const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
            if (ec == std::errc() && end == digits.data() + digits.size() && n >= 1) return {cache_sharing::compress, n};
        }
        fail("recur::cache_policy: '", text, "' is not full, compress:N (N >= 1) or latest");
    }
    std::string name() const {
        switch (sharing) {
            case cache_sharing::full: return "full";
            case cache_sharing::compress: return "compress:" + std::to_string(slots);
            case cache_sharing::latest: break;
        }
        return "latest";
    }
    /// The slot iteration i (0-based) reads and writes.
    std::int64_t slot_of(std::int64_t iteration) const {
        switch (sharing) {
            case cache_sharing::full: return iteration;
            case cache_sharing::compress: return iteration % slots;
            case cache_sharing::latest: break;
        }
        return 0;
    }
};

/// Sizes of a cache: `rows` sequences of up to `capacity` positions; `fixed_layers` layers outside the
/// recurrence (prelude and coda, or every layer of an ordinary model) and `core_layers` inside it.
struct kv_cache_layout {
    std::int64_t rows = 1, capacity = 0, kv_heads = 0, head_dim = 0, fixed_layers = 0, core_layers = 0;
};

/// Keys and values of every attention layer of one model for `rows` sequences.
///
/// A token that runs fewer iterations than others (adaptive exit) leaves some core slots unwritten at
/// its position; finish() fills them with its last entry, so every later read sees each earlier
/// token's latest available entry. Slots are allocated when an iteration first reaches them.
template <Backend B>
class kv_cache {
public:
    kv_cache() = default;
    kv_cache(const kv_cache_layout& l, const cache_policy& p) : layout_(l), policy_(p) {
        check(l.rows >= 1 && l.capacity >= 1 && l.kv_heads >= 1 && l.head_dim >= 1 && l.fixed_layers >= 0 &&
                  l.core_layers >= 0,
              "recur::kv_cache: invalid layout (rows ", l.rows, ", capacity ", l.capacity, ", kv heads ", l.kv_heads,
              ", head dim ", l.head_dim, ", layers ", l.fixed_layers, " + ", l.core_layers, ")");
        check(p.sharing != cache_sharing::compress || p.slots >= 1, "recur::kv_cache: compress needs N >= 1 slots, got ",
              p.slots);
        for (std::int64_t i = 0; i < l.fixed_layers; ++i) fixed_.push_back(make_buffers());
    }

    const kv_cache_layout& layout() const { return layout_; }
    const cache_policy& policy() const { return policy_; }

    /// Buffers of `count` ordinary layers starting at `first`.
    std::span<const kv_buffers<B>> fixed(std::int64_t first, std::int64_t count) const {
        check(first >= 0 && count >= 0 && first + count <= std::ssize(fixed_), "recur::kv_cache: layers [", first, ", ",
              first + count, ") outside the ", fixed_.size(), " ordinary layers");
        return std::span<const kv_buffers<B>>(fixed_).subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count));
    }

    /// Buffers of the core's layers for iteration `iteration` (0-based). A slot reached for the first
    /// time starts as a copy of the previous slot: each earlier token's latest entry.
    std::span<const kv_buffers<B>> core(std::int64_t iteration) {
        check(layout_.core_layers > 0, "recur::kv_cache: this cache has no recurrent core");
        check(iteration >= 0, "recur::kv_cache: negative iteration ", iteration);
        const std::int64_t slot = policy_.slot_of(iteration);
        check(slot <= std::ssize(core_), "recur::kv_cache: iteration ", iteration, " skips slots (", core_.size(),
              " allocated); iterations must run in order");
        if (slot == std::ssize(core_)) {
            std::vector<kv_buffers<B>> layers;
            for (std::int64_t l = 0; l < layout_.core_layers; ++l) {
                layers.push_back(make_buffers());
                if (!core_.empty()) {
                    Tensor<B>::copy_into(layers.back().k, core_.back()[static_cast<std::size_t>(l)].k, false);
                    Tensor<B>::copy_into(layers.back().v, core_.back()[static_cast<std::size_t>(l)].v, false);
                }
            }
            core_.push_back(std::move(layers));
        }
        return core_[static_cast<std::size_t>(slot)];
    }

    /// Records that tokens [pos[n], pos[n] + t) of rows rows[n] ran `iterations` core iterations: every
    /// allocated slot those iterations did not write gets their last entry at those positions.
    void finish(std::span<const std::int64_t> rows, std::span<const std::int64_t> pos, std::int64_t t,
                std::int64_t iterations) {
        check(rows.size() == pos.size(), "recur::kv_cache::finish: ", rows.size(), " rows and ", pos.size(), " positions");
        if (layout_.core_layers == 0 || iterations < 1) return;
        const auto last = static_cast<std::size_t>(policy_.slot_of(iterations - 1));
        check(last < core_.size(), "recur::kv_cache::finish: iteration ", iterations - 1, " never ran");
        for (auto slot = static_cast<std::size_t>(iterations); slot < core_.size(); ++slot)
            for (std::size_t l = 0; l < core_[slot].size(); ++l)
                for (std::size_t n = 0; n < rows.size(); ++n) {
                    const auto copy = [&](const Tensor<B>& dst, const Tensor<B>& src) {
                        Tensor<B>::copy_into(dst.slice(0, rows[n], 1).slice(1, pos[n], t), src.slice(0, rows[n], 1).slice(1, pos[n], t),
                                             false);
                    };
                    copy(core_[slot][l].k, core_[last][l].k);
                    copy(core_[slot][l].v, core_[last][l].v);
                }
    }

    /// Core slots allocated so far.
    std::int64_t core_slots() const { return std::ssize(core_); }
    /// Buffers allocated (keys and values of every layer and slot).
    std::int64_t buffers() const { return 2 * (std::ssize(fixed_) + core_slots() * layout_.core_layers); }
    /// Bytes allocated for keys and values.
    std::int64_t bytes() const { return buffers() * buffer_bytes(); }
    /// Bytes one position of one row takes across all allocated buffers.
    std::int64_t bytes_per_position() const {
        return buffers() * layout_.kv_heads * layout_.head_dim * static_cast<std::int64_t>(sizeof(typename B::scalar));
    }

private:
    std::int64_t buffer_bytes() const {
        return layout_.rows * layout_.capacity * layout_.kv_heads * layout_.head_dim *
               static_cast<std::int64_t>(sizeof(typename B::scalar));
    }
    kv_buffers<B> make_buffers() const {
        const Shape s{layout_.rows, layout_.capacity, layout_.kv_heads, layout_.head_dim};
        return {Tensor<B>::zeros(s), Tensor<B>::zeros(s)};
    }

    kv_cache_layout layout_;
    cache_policy policy_;
    std::vector<kv_buffers<B>> fixed_;              // one per ordinary layer
    std::vector<std::vector<kv_buffers<B>>> core_;  // [slot][core layer]
};

}  // namespace recur
