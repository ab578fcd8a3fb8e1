// Backend-owned memory: a caching pool per backend and the reference-counted handle tensors hold.
// Not here: tensor metadata (shape, strides, dtype) and anything that runs kernels.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <recur/core/backend.hpp>

namespace recur {

/// Counters of one backend's pool. `fresh_allocations` counts calls into the backend allocator:
/// repeating an identical computation leaves it unchanged once the pool is warm.
struct pool_stats {
    std::size_t fresh_allocations = 0;
    std::size_t bytes_reserved = 0;  ///< held from the backend (in use + cached)
    std::size_t bytes_in_use = 0;    ///< held by live tensors
    std::size_t peak_bytes_in_use = 0;
};

namespace detail {
struct block {
    void* ptr = nullptr;
    std::size_t bytes = 0;
    std::atomic<long> refs{0};
};
}  // namespace detail

/// Caching allocator: freed blocks are kept by size and handed out again, so steady-state training
/// allocates nothing from the backend. Thread-safe; one instance per backend type.
template <Backend B>
class storage_pool {
public:
    static storage_pool& instance() {
        static auto* pool = new storage_pool;  // never destroyed: tensors in other statics may outlive it
        return *pool;
    }

    /// A block of at least `bytes` (rounded up to 64), with reference count 1.
    detail::block* acquire(std::size_t bytes) {
        const std::size_t want = round_up(bytes);
        std::lock_guard lock(mutex_);
        detail::block* b = nullptr;
        // Best fit among cached blocks no more than twice the request, so big blocks are not wasted.
        if (auto it = free_.lower_bound(want); it != free_.end() && it->first <= 2 * want) {
            b = it->second;
            free_.erase(it);
        } else {
            void* p = B::allocate(want);  // may throw; nothing to undo yet
            b = new detail::block;
            b->ptr = p;
            b->bytes = want;
            ++stats_.fresh_allocations;
            stats_.bytes_reserved += want;
        }
        b->refs.store(1, std::memory_order_relaxed);
        stats_.bytes_in_use += b->bytes;
        if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
        return b;
    }

    void release(detail::block* b) noexcept {
        std::lock_guard lock(mutex_);
        stats_.bytes_in_use -= b->bytes;
        free_.emplace(b->bytes, b);
    }

    pool_stats stats() const {
        std::lock_guard lock(mutex_);
        return stats_;
    }

    /// Starts a new high-water mark measurement from the bytes in use now.
    void reset_peak() {
        std::lock_guard lock(mutex_);
        stats_.peak_bytes_in_use = stats_.bytes_in_use;
    }

    /// Returns every cached (unused) block to the backend.
    void trim() noexcept {
        std::lock_guard lock(mutex_);
        for (auto& [bytes, b] : free_) {
            B::deallocate(b->ptr, b->bytes);
            stats_.bytes_reserved -= b->bytes;
            delete b;
        }
        free_.clear();
    }

    storage_pool(const storage_pool&) = delete;
    storage_pool& operator=(const storage_pool&) = delete;

private:
    storage_pool() = default;

    static std::size_t round_up(std::size_t n) { return n == 0 ? 64 : (n + 63) / 64 * 64; }

    mutable std::mutex mutex_;
    std::multimap<std::size_t, detail::block*> free_;
    pool_stats stats_;
};

/// Reference-counted handle to a pool block; the block returns to the pool with its last handle.
template <Backend B>
class storage {
public:
    storage() = default;
    explicit storage(std::size_t bytes) : b_(storage_pool<B>::instance().acquire(bytes)) {}
    storage(const storage& o) noexcept : b_(o.b_) { retain(); }
    storage(storage&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
    storage& operator=(storage o) noexcept {
        std::swap(b_, o.b_);
        return *this;
    }
    ~storage() { drop(); }

    void* data() const { return b_ ? b_->ptr : nullptr; }
    std::size_t bytes() const { return b_ ? b_->bytes : 0; }
    long use_count() const { return b_ ? b_->refs.load(std::memory_order_relaxed) : 0; }
    explicit operator bool() const { return b_ != nullptr; }
    friend bool operator==(const storage& a, const storage& b) { return a.b_ == b.b_; }

private:
    void retain() noexcept {
        if (b_) b_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    void drop() noexcept {
        if (b_ && b_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) storage_pool<B>::instance().release(b_);
        b_ = nullptr;
    }
    detail::block* b_ = nullptr;
};

}  // namespace recur
