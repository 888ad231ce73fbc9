// Sparse storage for n-gram statistics: an open-addressing table from a 64-bit context key to a
// dense row of E target counts. Only contexts that occur get a row (never an E^n array). The rows
// for the whole memory cap are reserved once with calloc and handed out in order, so the operating
// system maps pages only as rows are used; the bucket index grows with the number of contexts
// (doubling, which is the one time inserting allocates). When the cap is reached new contexts are
// dropped (and counted) while known ones keep learning.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>

#include "expertcast/core/routing.hpp"
#include "expertcast/detail/counts.hpp"
#include "expertcast/detail/sequence_table.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

class ContextTable {
public:
    /// Row layout: [total, distinct targets, counts of the `width` targets].
    static constexpr std::size_t header = 2;

    ContextTable() = default;
    ContextTable(std::uint32_t width, std::size_t memory_limit_bytes) : width_(width) {
        const std::size_t row_bytes = (width_ + header) * sizeof(float);
        // Per row: its counts plus at most two hash buckets (key + row index) at >= 25% load.
        const std::size_t per_row = row_bytes + 2 * (sizeof(std::uint64_t) + sizeof(std::uint32_t));
        std::size_t rows = memory_limit_bytes / per_row;
        if (rows < 1) rows = 1;
        capacity_rows_ = std::bit_floor(rows);
        max_buckets_ = capacity_rows_ * 2;  // a power of two: the load never passes 50%
        rows_.reset(static_cast<float*>(
            allocate_zeroed(capacity_rows_ * (width_ + header) * sizeof(float))));
        if (!grow(std::min<std::size_t>(initial_buckets, max_buckets_))) throw std::bad_alloc();
    }

    /// Row of a context, or nullptr when it was never seen. `key` must have bit 63 set.
    const float* find(std::uint64_t key) const noexcept {
        for (std::size_t b = mix_bits(key) & (buckets_ - 1);; b = (b + 1) & (buckets_ - 1)) {
            if (keys_[b] == key) return row(row_of_[b]);
            if (keys_[b] == 0) return nullptr;
        }
    }

    /// Row of a context, created if needed; nullptr when the table is full. Allocates only when
    /// the number of contexts doubles (the bucket index grows with use; rows are reserved).
    float* find_or_insert(std::uint64_t key) noexcept {
        std::size_t b = mix_bits(key) & (buckets_ - 1);
        for (;; b = (b + 1) & (buckets_ - 1)) {
            if (keys_[b] == key) return row(row_of_[b]);
            if (keys_[b] == 0) break;
        }
        if (used_rows_ == capacity_rows_) {
            ++dropped_;
            return nullptr;
        }
        if (2 * (used_rows_ + 1) > buckets_) {  // keep the load at most 50%
            if (!grow(2 * buckets_)) {
                ++dropped_;
                return nullptr;
            }
            b = free_bucket(key);
        }
        keys_[b] = key;
        row_of_[b] = static_cast<std::uint32_t>(used_rows_);
        return row(static_cast<std::uint32_t>(used_rows_++));
    }

    /// Counts one occurrence of each target after the context whose row this is.
    void add(float* r, std::span<const ExpertId> targets) noexcept {
        float* counts = r + header;
        for (const ExpertId e : targets) r[1] += counts[e] == 0.0f ? 1.0f : 0.0f;
        add_counts(counts, r[0], targets, width_);
    }

    std::size_t rows() const noexcept { return used_rows_; }
    std::size_t capacity_rows() const noexcept { return capacity_rows_; }
    /// Context occurrences that found the table full.
    std::size_t dropped() const noexcept { return dropped_; }
    /// Bytes of the rows in use and of the bucket index.
    std::size_t bytes_used() const noexcept {
        return used_rows_ * (width_ + header) * sizeof(float) +
               buckets_ * (sizeof(std::uint64_t) + sizeof(std::uint32_t));
    }

private:
    static constexpr std::size_t initial_buckets = 1024;

    struct Free {
        void operator()(void* p) const noexcept { std::free(p); }
    };
    static void* allocate_zeroed(std::size_t bytes) {
        void* p = std::calloc(bytes, 1);
        if (p == nullptr) throw std::bad_alloc();
        return p;
    }
    float* row(std::uint32_t index) const noexcept {
        return rows_.get() + std::size_t{index} * (width_ + header);
    }
    std::size_t free_bucket(std::uint64_t key) const noexcept {
        std::size_t b = mix_bits(key) & (buckets_ - 1);
        while (keys_[b] != 0) b = (b + 1) & (buckets_ - 1);
        return b;
    }

    // Rebuilds the bucket index with `count` buckets (capped); false if memory ran out, and then
    // the old index stays.
    bool grow(std::size_t count) noexcept {
        count = std::min(count, max_buckets_);
        if (count <= buckets_) return false;
        std::unique_ptr<std::uint64_t[], Free> keys(
            static_cast<std::uint64_t*>(std::calloc(count, sizeof(std::uint64_t))));
        std::unique_ptr<std::uint32_t[], Free> row_of(
            static_cast<std::uint32_t*>(std::calloc(count, sizeof(std::uint32_t))));
        if (!keys || !row_of) return false;
        std::swap(keys, keys_);
        std::swap(row_of, row_of_);
        const std::size_t old_count = buckets_;
        buckets_ = count;
        for (std::size_t b = 0; b < old_count; ++b) {
            if (keys[b] == 0) continue;
            const std::size_t to = free_bucket(keys[b]);
            keys_[to] = keys[b];
            row_of_[to] = row_of[b];
        }
        return true;
    }

    std::uint32_t width_ = 0;
    std::size_t buckets_ = 0;
    std::size_t max_buckets_ = 0;
    std::size_t capacity_rows_ = 0;
    std::size_t used_rows_ = 0;
    std::size_t dropped_ = 0;
    std::unique_ptr<std::uint64_t[], Free> keys_;  // 0 marks an empty bucket
    std::unique_ptr<std::uint32_t[], Free> row_of_;
    std::unique_ptr<float[], Free> rows_;
};

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
