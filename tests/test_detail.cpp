// The internals every predictor relies on, checked against simple references: the sequence-slot
// map against std::unordered_map under random inserts and erases, the sparse context table's
// growth and memory cap, and exact float counts.
#include <catch2/catch.hpp>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "expertcast/detail/context_table.hpp"
#include "expertcast/detail/counts.hpp"
#include "expertcast/detail/sequence_table.hpp"

using namespace expertcast;

TEST_CASE("SequenceSlots agrees with a reference map under churn", "[detail]") {
    detail::SequenceSlots slots;
    std::unordered_map<SequenceId, std::uint32_t> reference;
    std::uint64_t state = 7;
    auto next = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return state >> 33;
    };
    for (int i = 0; i < 20000; ++i) {
        const SequenceId id = next() % 300;  // few ids: many collisions of live and freed ids
        if (next() % 3 == 0) {
            CHECK(slots.release(id) == (reference.erase(id) == 1));
        } else {
            const auto [slot, created] = slots.acquire(id);
            const auto it = reference.find(id);
            CHECK(created == (it == reference.end()));
            if (it != reference.end()) CHECK(slot == it->second);
            reference[id] = slot;
        }
        REQUIRE(slots.live() == reference.size());
    }
    // Live sequences hold distinct slots below the high-water mark.
    std::vector<int> used(slots.high_water(), 0);
    for (const auto& [id, slot] : reference) {
        CHECK(slots.find(id) == slot);
        REQUIRE(slot < slots.high_water());
        CHECK(++used[slot] == 1);
    }
    CHECK(slots.high_water() <= 300);
}

TEST_CASE("ContextTable keeps rows across index growth and drops contexts past its cap",
          "[detail]") {
    // Width 4: rows of 6 floats (24 bytes) + 24 bytes of buckets = 48 bytes per context;
    // 64 KiB allow 1365 rows, rounded down to a power of two: 1024.
    detail::ContextTable table(4, 64 * 1024);
    CHECK(table.capacity_rows() == 1024);
    const ExpertId target[1] = {2};
    for (std::uint64_t c = 0; c < 1500; ++c) {
        float* row = table.find_or_insert((std::uint64_t{1} << 63) | c);
        if (c < 1024) {
            REQUIRE(row != nullptr);
            for (std::uint64_t n = 0; n <= c % 3; ++n) table.add(row, target);
        } else {
            CHECK(row == nullptr);
        }
    }
    CHECK(table.rows() == 1024);
    CHECK(table.dropped() == 1500 - 1024);
    for (std::uint64_t c = 0; c < 1024; ++c) {  // every row survived the index rebuilds
        const float* row = table.find((std::uint64_t{1} << 63) | c);
        REQUIRE(row != nullptr);
        CHECK(row[0] == static_cast<float>(c % 3 + 1));  // total
        CHECK(row[1] == 1.0f);                           // distinct targets
        CHECK(row[detail::ContextTable::header + 2] == static_cast<float>(c % 3 + 1));
    }
    CHECK(table.find((std::uint64_t{1} << 63) | 5000) == nullptr);
    // Known contexts keep learning when the table is full.
    float* full = table.find_or_insert((std::uint64_t{1} << 63) | 7);
    REQUIRE(full != nullptr);
    table.add(full, target);
    CHECK(table.find((std::uint64_t{1} << 63) | 7)[0] == 3.0f);
}

TEST_CASE("counts halve before leaving float's exact range", "[detail]") {
    // 2^23 = 8388608. A total of 8388607 plus two more would pass it: the row is halved first.
    std::vector<float> row{8388604.0f, 0.0f, 3.0f};
    float total = 8388607.0f;
    const ExpertId targets[2] = {0, 1};
    detail::add_counts(row.data(), total, targets, row.size());
    CHECK(row[0] == 4194302.0f + 1.0f);
    CHECK(row[1] == 1.0f);
    CHECK(row[2] == 1.5f);
    CHECK(total == 4194303.5f + 2.0f);
    // Below the limit nothing is halved.
    detail::add_counts(row.data(), total, targets, row.size());
    CHECK(row[0] == 4194304.0f);
    CHECK(total == 4194307.5f);
}
