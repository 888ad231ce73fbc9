// The prefetch planner and its budget on small cases worked out by hand from the planner's rules:
// victims are free slots first (slot order), then resident experts from least to most likely
// needed (ties: lower slot); candidates are non-resident experts with p > 0, most likely first
// (ties: smaller id); the i-th candidate goes to the i-th victim while the victim is free or less
// likely than the candidate, at most budget.loads times, plus one more when p > 1 - partial.
#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "expertcast/prefetch/planner.hpp"
#include "support/counting_allocator.hpp"

using namespace expertcast;

namespace {

// "load@slot(free)" or "load@slot(over evicted)", actions separated by spaces.
std::string describe(std::span<const PrefetchAction> actions) {
    std::string s;
    for (const PrefetchAction& a : actions) {
        if (!s.empty()) s += ' ';
        if (a.evict == not_recorded)
            s += fmt::format("{}@{}(free)", a.load, a.slot);
        else
            s += fmt::format("{}@{}(over {})", a.load, a.slot, a.evict);
    }
    return s;
}

constexpr ExpertId free_slot = not_recorded;

}  // namespace

TEST_CASE("planner: free slots are filled by the likeliest candidates in order", "[prefetch]") {
    // E = 4, three free slots, room for three loads.
    PrefetchPlanner planner(4, 3);
    const std::vector<float> needed{0.1f, 0.7f, 0.4f, 0.2f};
    const std::vector<ExpertId> slots{free_slot, free_slot, free_slot};
    // Victims: slots 0, 1, 2 (all free). Candidates by decreasing p: 1 (0.7), 2 (0.4), 3 (0.2),
    // 0 (0.1). Candidate i takes victim i; after three loads the budget (3, partial 0) is spent
    // and 0.1 > 1 - 0 is false, so expert 0 is not loaded.
    const auto actions = planner.plan(needed, slots, PrefetchBudget::slots(3));
    CHECK(describe(actions) == "1@0(free) 2@1(free) 3@2(free)");
    REQUIRE(actions.size() == 3);
    CHECK(actions[0].probability == 0.7f);
    CHECK(actions[1].probability == 0.4f);
    CHECK(actions[2].probability == 0.2f);
}

TEST_CASE("planner: free slots go first, then the least likely resident is evicted", "[prefetch]") {
    // E = 5; slot 0 holds expert 2, slot 1 is free, slot 2 holds expert 0.
    PrefetchPlanner planner(5, 3);
    const std::vector<float> needed{0.5f, 0.6f, 0.1f, 0.8f, 0.05f};
    const std::vector<ExpertId> slots{2, free_slot, 0};
    // Victims: the free slot 1 first, then residents by increasing p: expert 2 (0.1, slot 0),
    // expert 0 (0.5, slot 2). Candidates (not resident, p > 0): 3 (0.8), 1 (0.6), 4 (0.05).
    //   3 -> victim 0 = free slot 1;
    //   1 -> victim 1 = expert 2 in slot 0 (0.1 < 0.6: evicted);
    //   4 -> victim 2 = expert 0 (0.5 >= 0.05): stop, not worth the swap.
    const auto actions = planner.plan(needed, slots, PrefetchBudget::slots(3));
    CHECK(describe(actions) == "3@1(free) 1@0(over 2)");
    REQUIRE(actions.size() == 2);
    CHECK(actions[0].probability == 0.8f);
    CHECK(actions[1].probability == 0.6f);
}

TEST_CASE("planner: a resident at least as likely as the candidate is never evicted",
          "[prefetch]") {
    PrefetchPlanner planner(4, 2);
    const std::vector<ExpertId> slots{0, 1};
    SECTION("more likely resident") {
        // Victims: expert 1 (0.3, slot 1), expert 0 (0.6). Best candidate: 2 (0.2) < 0.3.
        const std::vector<float> needed{0.6f, 0.3f, 0.2f, 0.1f};
        CHECK(planner.plan(needed, slots, PrefetchBudget::slots(2)).empty());
    }
    SECTION("equally likely resident") {
        // Victims: expert 0 (0.5, slot 0), expert 1 (0.5, slot 1). Candidate 2 (0.5): 0.5 >= 0.5.
        const std::vector<float> needed{0.5f, 0.5f, 0.5f, 0.0f};
        CHECK(planner.plan(needed, slots, PrefetchBudget::slots(2)).empty());
    }
    SECTION("only the less likely resident is replaced") {
        // Victims: expert 1 (0.1, slot 1), expert 0 (0.9, slot 0). Candidates 3 (0.5), 2 (0.4):
        // 3 replaces expert 1 (0.1 < 0.5); 2 meets expert 0 (0.9 >= 0.4): stop.
        const std::vector<float> needed{0.9f, 0.1f, 0.4f, 0.5f};
        CHECK(describe(planner.plan(needed, slots, PrefetchBudget::slots(2))) == "3@1(over 1)");
    }
}

TEST_CASE("planner: budget.loads caps the number of loads", "[prefetch]") {
    // E = 4, four free slots, four likely candidates: 0 (0.9), 1 (0.8), 2 (0.7), 3 (0.6).
    PrefetchPlanner planner(4, 4);
    const std::vector<float> needed{0.9f, 0.8f, 0.7f, 0.6f};
    const std::vector<ExpertId> slots(4, free_slot);
    // loads = 2, partial = 0: the third candidate would need 0.7 > 1 - 0 = 1: no.
    CHECK(describe(planner.plan(needed, slots, PrefetchBudget::slots(2))) == "0@0(free) 1@1(free)");
    // loads = 0: nothing, as 0.9 > 1 is false.
    CHECK(planner.plan(needed, slots, PrefetchBudget::slots(0)).empty());
    // Enough budget: limited by the candidates (all four placed).
    CHECK(describe(planner.plan(needed, slots, PrefetchBudget::slots(9))) ==
          "0@0(free) 1@1(free) 2@2(free) 3@3(free)");
}

TEST_CASE("planner: one extra load only when p > 1 - partial", "[prefetch]") {
    // Budget: loads 1, partial 0.25, so an extra (second) load needs p > 1 - 0.25 = 0.75.
    PrefetchPlanner planner(4, 3);
    const PrefetchBudget budget{1, 0.25};
    const std::vector<ExpertId> slots(3, free_slot);
    SECTION("taken") {
        // Candidates 0 (0.9), 1 (0.8), 2 (0.7). First load: 0 (within loads). Second: 1, as
        // 0.8 > 0.75. Third: never (only one extra load), even though slot 2 is free.
        const std::vector<float> needed{0.9f, 0.8f, 0.7f, 0.0f};
        CHECK(describe(planner.plan(needed, slots, budget)) == "0@0(free) 1@1(free)");
    }
    SECTION("not taken") {
        // Candidates 0 (0.9), 2 (0.7), 1 (0.3): the second, 0.7, is not above 0.75.
        const std::vector<float> needed{0.9f, 0.3f, 0.7f, 0.0f};
        CHECK(describe(planner.plan(needed, slots, budget)) == "0@0(free)");
    }
    SECTION("exactly 1 - partial is not enough") {
        // 0.75 > 0.75 is false (0.75 and 1 - 0.25 are exact in binary).
        const std::vector<float> needed{0.9f, 0.75f, 0.0f, 0.0f};
        CHECK(describe(planner.plan(needed, slots, budget)) == "0@0(free)");
    }
    SECTION("with no whole load, the partial one alone") {
        // loads 0, partial 0.25: the first candidate 0 (0.9 > 0.75) is the extra load; the
        // second (0.8) is not allowed (only one extra).
        const std::vector<float> needed{0.9f, 0.8f, 0.0f, 0.0f};
        CHECK(describe(planner.plan(needed, slots, PrefetchBudget{0, 0.25})) == "0@0(free)");
        // 0.7 is not above 0.75: nothing.
        const std::vector<float> unlikely{0.7f, 0.6f, 0.0f, 0.0f};
        CHECK(planner.plan(unlikely, slots, PrefetchBudget{0, 0.25}).empty());
    }
}

TEST_CASE("planner: ties go to the smaller expert id and the lower slot", "[prefetch]") {
    SECTION("candidates") {
        // E = 4, two free slots, needed {0.2, 0.5, 0.2, 0.5}: candidates 1, 3 (0.5, smaller id
        // first), then 0, 2 (0.2). Only two victims (the free slots).
        PrefetchPlanner planner(4, 2);
        const std::vector<float> needed{0.2f, 0.5f, 0.2f, 0.5f};
        const std::vector<ExpertId> slots(2, free_slot);
        CHECK(describe(planner.plan(needed, slots, PrefetchBudget::slots(4))) ==
              "1@0(free) 3@1(free)");
    }
    SECTION("victims") {
        // E = 5; slots hold 3, 0, 1, all at p = 0.1: victims in slot order 0 (expert 3),
        // 1 (expert 0), 2 (expert 1). Candidates 2 (0.9), 4 (0.6): 2 over expert 3 in slot 0,
        // 4 over expert 0 in slot 1 (though expert 0 has the smaller id than 3).
        PrefetchPlanner planner(5, 3);
        const std::vector<float> needed{0.1f, 0.1f, 0.9f, 0.1f, 0.6f};
        const std::vector<ExpertId> slots{3, 0, 1};
        CHECK(describe(planner.plan(needed, slots, PrefetchBudget::slots(2))) ==
              "2@0(over 3) 4@1(over 0)");
    }
}

TEST_CASE("planner: experts with probability 0 are never loaded", "[prefetch]") {
    PrefetchPlanner planner(4, 3);
    const std::vector<ExpertId> slots(3, free_slot);
    // Only expert 2 has p > 0: one load, although two more slots and loads are available.
    const std::vector<float> needed{0.0f, 0.0f, 1.0f, 0.0f};
    CHECK(describe(planner.plan(needed, slots, PrefetchBudget::slots(3))) == "2@0(free)");
    const std::vector<float> nothing(4, 0.0f);
    CHECK(planner.plan(nothing, slots, PrefetchBudget{3, 0.9}).empty());
}

TEST_CASE("planner: residency is recomputed on every call", "[prefetch]") {
    PrefetchPlanner planner(3, 2);
    const std::vector<float> needed{0.9f, 0.5f, 0.0f};
    // Expert 0 resident: the only candidate is 1, into the free slot 1.
    const std::vector<ExpertId> with_zero{0, free_slot};
    CHECK(describe(planner.plan(needed, with_zero, PrefetchBudget::slots(2))) == "1@1(free)");
    // Same planner, both slots free now: 0 is a candidate again (likeliest first).
    const std::vector<ExpertId> empty(2, free_slot);
    CHECK(describe(planner.plan(needed, empty, PrefetchBudget::slots(2))) == "0@0(free) 1@1(free)");
    // Fewer slots than planned for are fine.
    const std::vector<ExpertId> one{2};
    CHECK(describe(planner.plan(needed, one, PrefetchBudget::slots(2))) == "0@0(over 2)");
}

TEST_CASE("prefetch budget arithmetic", "[prefetch]") {
    // window: fits = seconds * bandwidth / expert_bytes; loads = floor(fits); partial = rest.
    const PrefetchBudget half = PrefetchBudget::window(0.5, 1.0, 1.0);  // fits 0.5
    CHECK(half.loads == 0);
    CHECK(half.partial == Approx(0.5));
    const PrefetchBudget one_and_half = PrefetchBudget::window(1.0, 3.0, 2.0);  // 3 / 2 = 1.5
    CHECK(one_and_half.loads == 1);
    CHECK(one_and_half.partial == Approx(0.5));
    const PrefetchBudget exact = PrefetchBudget::window(2.5, 4.0, 2.0);  // 10 / 2 = 5
    CHECK(exact.loads == 5);
    CHECK(exact.partial == Approx(0.0).margin(1e-12));
    // 0.5 ms of a 25 GB/s link for 3 MB experts: 12.5e6 / 3e6 = 4.1666...: 4 loads, 1/6 left.
    const PrefetchBudget pcie = PrefetchBudget::window(0.5e-3, 25e9, 3e6);
    CHECK(pcie.loads == 4);
    CHECK(pcie.partial == Approx(1.0 / 6).epsilon(1e-9));
    const PrefetchBudget none = PrefetchBudget::window(0.0, 25e9, 3e6);
    CHECK(none.loads == 0);
    CHECK(none.partial == 0.0);

    // bytes: floor(budget / expert_bytes) whole loads, no partial one.
    CHECK(PrefetchBudget::bytes(10.0, 3.0).loads == 3);  // 3.33
    CHECK(PrefetchBudget::bytes(10.0, 3.0).partial == 0.0);
    CHECK(PrefetchBudget::bytes(9.0, 3.0).loads == 3);
    CHECK(PrefetchBudget::bytes(2.0, 3.0).loads == 0);
    CHECK(PrefetchBudget::slots(4).loads == 4);
    CHECK(PrefetchBudget::slots(4).partial == 0.0);
}

TEST_CASE("planner: plan() does not allocate after construction", "[prefetch]") {
    PrefetchPlanner planner(8, 4);
    const std::vector<float> needed{0.9f, 0.1f, 0.8f, 0.0f, 0.3f, 0.7f, 0.2f, 0.6f};
    const std::vector<ExpertId> free_slots(4, free_slot);
    const std::vector<ExpertId> full{1, 3, 6, 4};
    const std::vector<ExpertId> fewer{5, free_slot};
    std::size_t actions = 0;
    expertcast_test::AllocationCounter counter;
    actions += planner.plan(needed, free_slots, PrefetchBudget::slots(4)).size();
    actions += planner.plan(needed, full, PrefetchBudget{2, 0.5}).size();
    actions += planner.plan(needed, fewer, PrefetchBudget::slots(1)).size();
    CHECK(counter.count() == 0);
    // All free: 0, 2, 5, 7 into the four slots: 4 actions.
    // Full: victims 3 (0.0, slot 1), 1 (0.1, slot 0), 6 (0.2, slot 2), 4 (0.3, slot 3);
    // candidates 0 (0.9), 2 (0.8), 5 (0.7), 7 (0.6): 0 over 3, 2 over 1, then the extra load
    // 5 (0.7 > 1 - 0.5) over 6 (0.2): 3 actions.
    // Fewer: 0 into the free slot 1; the next, 2 (0.8), is not above 1 - 0: 1 action.
    CHECK(actions == 4 + 3 + 1);
}
