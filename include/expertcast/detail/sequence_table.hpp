// Per-sequence context keyed by the engine's SequenceId: an open-addressing map from id to a dense
// slot, and fixed-size records per slot in one growing block. Slots are recycled by end_sequence,
// so memory follows the number of live sequences, not the number ever seen. Lookups and release
// never allocate; acquiring a slot allocates only when more sequences are live than ever before.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "expertcast/core/routing.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

/// splitmix64's finaliser: engines' sequence ids are often consecutive integers.
inline std::uint64_t mix_bits(std::uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

class SequenceSlots {
public:
    static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();

    SequenceSlots() { rehash(16); }

    /// The slot of a live sequence, or npos.
    std::uint32_t find(SequenceId id) const noexcept {
        for (std::size_t i = home(id);; i = (i + 1) & mask_) {
            if (slots_[i] == npos) return npos;
            if (keys_[i] == id) return slots_[i];
        }
    }

    /// The slot of `id`, creating it if needed; `.second` is true when it was created.
    std::pair<std::uint32_t, bool> acquire(SequenceId id) {
        if (const std::uint32_t found = find(id); found != npos) return {found, false};
        if ((live_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
        std::uint32_t slot;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
        } else {
            slot = high_water_++;
            free_.reserve(high_water_);  // so that release() never allocates
        }
        insert(id, slot);
        ++live_;
        return {slot, true};
    }

    /// Forgets `id`; its slot is reused by a later acquire. Returns false if it was not live.
    bool release(SequenceId id) noexcept {
        std::size_t i = home(id);
        for (;; i = (i + 1) & mask_) {
            if (slots_[i] == npos) return false;
            if (keys_[i] == id) break;
        }
        free_.push_back(slots_[i]);  // capacity reserved in acquire
        // Backward-shift deletion keeps linear probing free of tombstones.
        for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
            if (slots_[j] == npos) break;
            const std::size_t h = home(keys_[j]);
            // Move entry j into the hole at i when its home does not lie in (i, j].
            const bool movable = (i <= j) ? (h <= i || h > j) : (h <= i && h > j);
            if (movable) {
                keys_[i] = keys_[j];
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = npos;
        --live_;
        return true;
    }

    std::size_t live() const noexcept { return live_; }
    /// Calls f(slot) for every live sequence, in no particular order.
    template <class F>
    void for_each_slot(F&& f) const {
        for (const std::uint32_t slot : slots_)
            if (slot != npos) f(slot);
    }
    /// Number of slot indices ever handed out: records must exist for [0, high_water()).
    std::uint32_t high_water() const noexcept { return high_water_; }

private:
    std::size_t home(SequenceId id) const noexcept { return mix_bits(id) & mask_; }

    void insert(SequenceId id, std::uint32_t slot) noexcept {
        std::size_t i = home(id);
        while (slots_[i] != npos) i = (i + 1) & mask_;
        keys_[i] = id;
        slots_[i] = slot;
    }

    void rehash(std::size_t capacity) {
        std::vector<SequenceId> old_keys = std::move(keys_);
        std::vector<std::uint32_t> old_slots = std::move(slots_);
        keys_.assign(capacity, 0);
        slots_.assign(capacity, npos);
        mask_ = capacity - 1;
        for (std::size_t i = 0; i < old_slots.size(); ++i)
            if (old_slots[i] != npos) insert(old_keys[i], old_slots[i]);
    }

    std::vector<SequenceId> keys_;
    std::vector<std::uint32_t> slots_;  // npos marks an empty bucket
    std::vector<std::uint32_t> free_;
    std::size_t mask_ = 0;
    std::size_t live_ = 0;
    std::uint32_t high_water_ = 0;
};

/// SequenceSlots plus a fixed-size record of T per slot, reset to `initial` when a slot is
/// (re)assigned to a new sequence.
template <class T>
class SequenceStore {
public:
    SequenceStore() = default;
    SequenceStore(std::size_t record_size, T initial)
        : record_size_(record_size), initial_(initial) {}

    /// Slots of the batch's tokens into `token_slots` (resized: allocates only when the batch is
    /// larger, or more sequences are live, than ever before).
    void resolve(std::span<const SequenceId> sequences, std::vector<std::uint32_t>& token_slots) {
        token_slots.resize(sequences.size());
        for (std::size_t t = 0; t < sequences.size(); ++t) {
            // Prefill puts many tokens of one sequence side by side: look each run up once.
            if (t > 0 && sequences[t] == sequences[t - 1]) {
                token_slots[t] = token_slots[t - 1];
                continue;
            }
            const auto [slot, created] = slots_.acquire(sequences[t]);
            const std::size_t needed = static_cast<std::size_t>(slots_.high_water()) * record_size_;
            if (records_.size() < needed) {
                records_.reserve(std::max(needed, 2 * records_.size()));
                records_.resize(needed, initial_);
            }
            if (created) std::fill_n(record(slot), record_size_, initial_);
            token_slots[t] = slot;
        }
    }

    T* record(std::uint32_t slot) noexcept { return records_.data() + slot * record_size_; }
    const T* record(std::uint32_t slot) const noexcept {
        return records_.data() + slot * record_size_;
    }
    /// The slot of a live sequence, or SequenceSlots::npos.
    std::uint32_t find(SequenceId id) const noexcept { return slots_.find(id); }
    /// Calls f(record) for every live sequence's record.
    template <class F>
    void for_each_live(F&& f) {
        slots_.for_each_slot([&](std::uint32_t slot) { f(record(slot)); });
    }
    /// Frees the sequence's slot; false when the sequence was not live.
    bool release(SequenceId id) noexcept { return slots_.release(id); }
    std::size_t live() const noexcept { return slots_.live(); }
    bool contains(SequenceId id) const noexcept { return slots_.find(id) != SequenceSlots::npos; }

private:
    SequenceSlots slots_;
    std::vector<T> records_;
    std::size_t record_size_ = 0;
    T initial_{};
};

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
