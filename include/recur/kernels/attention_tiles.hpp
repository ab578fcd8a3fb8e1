// The causal tile plan of the attention kernels: how Tq queries and Tk keys split into tiles and which
// tiles meet, shared by every backend that tiles attention (host and device, RECUR_HOST_DEVICE) so the CPU
// tests check the very arithmetic the kernels run.
// Not here: the kernels and their tile sizes (backends/cuda/recur/backends/cuda/attention.cuh); the shape
// and contract (kernels/attention.hpp).
#pragma once

#include <cstdint>

#include <recur/core/host_device.hpp>

namespace recur {

/// The causal tile plan of one call: Tq queries in tiles of `rows`, Tk keys in tiles of `keys`, and which
/// tiles meet. Query i sees key j when j <= i + offset (offset = Tk - Tq), so the last query sees every key.
struct attention_tiles {
    std::int64_t tq = 0, tk = 0;       // queries, keys (tk >= tq)
    std::int64_t rows = 1, keys = 1;   // query rows per tile (Br), keys per tile (Bc)

    RECUR_HOST_DEVICE constexpr std::int64_t offset() const { return tk - tq; }
    RECUR_HOST_DEVICE constexpr std::int64_t query_tiles() const { return (tq + rows - 1) / rows; }
    RECUR_HOST_DEVICE constexpr std::int64_t key_tiles() const { return (tk + keys - 1) / keys; }
    /// Real queries of tile qt (only the last tile may be partial).
    RECUR_HOST_DEVICE constexpr std::int64_t rows_in(std::int64_t qt) const {
        return tq - qt * rows < rows ? tq - qt * rows : rows;
    }
    /// Real keys of tile kt.
    RECUR_HOST_DEVICE constexpr std::int64_t keys_in(std::int64_t kt) const {
        return tk - kt * keys < keys ? tk - kt * keys : keys;
    }
    /// Whether query i sees key j (both real).
    RECUR_HOST_DEVICE constexpr bool sees(std::int64_t i, std::int64_t j) const {
        return i >= 0 && i < tq && j >= 0 && j <= i + offset();
    }
    /// Keys [0, key_end(qt)) are the ones query tile qt sees: its last query sees them all.
    RECUR_HOST_DEVICE constexpr std::int64_t key_end(std::int64_t qt) const {
        return qt * rows + rows_in(qt) + offset();
    }
    /// Key tiles [0, key_tile_end(qt)) hold them; the last one is the tile's causal limit.
    RECUR_HOST_DEVICE constexpr std::int64_t key_tile_end(std::int64_t qt) const {
        return (key_end(qt) + keys - 1) / keys;
    }
    /// Query tiles [first_query_tile(kt), query_tiles()) see some key of tile kt: from the tile of the first
    /// query that sees its first key.
    RECUR_HOST_DEVICE constexpr std::int64_t first_query_tile(std::int64_t kt) const {
        const std::int64_t i = kt * keys - offset();
        return i > 0 ? i / rows : 0;
    }
    /// Whether both tiles are whole and every query of qt sees every key of kt: no masking needed.
    RECUR_HOST_DEVICE constexpr bool full(std::int64_t qt, std::int64_t kt) const {
        return (qt + 1) * rows <= tq && (kt + 1) * keys <= tk && (kt + 1) * keys - 1 <= qt * rows + offset();
    }
};

}  // namespace recur
