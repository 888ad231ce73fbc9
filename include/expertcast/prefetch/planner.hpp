// Turning a forecast into copies: which experts to load into a layer's device slots, and which
// resident experts to give up for them, in priority order, under a budget. Small, allocation-free
// after construction, and independent of the simulator: an engine calls it after a layer's router
// and hands the actions to its copy queue.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/assert.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// How much may be loaded before the target layer runs.
struct PrefetchBudget {
    /// Loads that complete in time.
    std::uint32_t loads = 0;
    /// Share of one more load's time that still fits (0 to 1). That load is worth issuing only if
    /// the expert is needed with probability above 1 - partial: unfinished, it stalls the layer
    /// for the rest of its time, needed or not; finished early, it saves a whole on-demand load.
    double partial = 0;

    static PrefetchBudget slots(std::uint32_t n) noexcept { return {n, 0}; }
    static PrefetchBudget bytes(double budget_bytes, double expert_bytes) noexcept {
        return {static_cast<std::uint32_t>(std::floor(budget_bytes / expert_bytes)), 0};
    }
    /// What a link of `bandwidth` bytes/s carries in `seconds` (the previous layer's compute).
    static PrefetchBudget window(double seconds, double bandwidth, double expert_bytes) noexcept {
        const double fits = seconds * bandwidth / expert_bytes;
        const double whole = std::floor(fits);
        return {static_cast<std::uint32_t>(whole), fits - whole};
    }
};

/// Load `load` into the slot that holds `evict` (not_recorded: a free slot).
struct PrefetchAction {
    ExpertId load = not_recorded;
    ExpertId evict = not_recorded;
    std::uint32_t slot = 0;
    float probability = 0;  ///< of `load` being needed
};

class PrefetchPlanner {
public:
    PrefetchPlanner() = default;
    /// Buffers for E experts and up to `max_slots` slots per layer.
    PrefetchPlanner(std::uint32_t num_experts, std::uint32_t max_slots)
        : num_experts_(num_experts),
          candidates_(num_experts),
          victims_(max_slots),
          resident_(num_experts, 0),
          actions_(max_slots) {
        if (num_experts == 0 || max_slots == 0)
            throw ConfigError("prefetch planner: needs at least one expert and one slot");
    }

    /// Plans loads for one layer. `needed[e]`: the probability that expert e is needed there (for
    /// a batch, forecast_batch's output). `slots[s]`: the expert slot s holds, or not_recorded.
    /// The likeliest experts not resident are loaded first, each into a free slot or over the
    /// resident expert least likely to be needed, and only while that expert is less likely to
    /// be needed than the one replacing it. The budget caps the number of loads (see
    /// PrefetchBudget::partial for the last one). The actions stay valid until the next plan().
    std::span<const PrefetchAction> plan(std::span<const float> needed,
                                         std::span<const ExpertId> slots,
                                         PrefetchBudget budget) noexcept {
        EXPERTCAST_ASSERT(needed.size() == num_experts_, "plan: needed must hold E entries");
        EXPERTCAST_ASSERT(slots.size() <= victims_.size(), "plan: more slots than planned for");
        // Victims: free slots first, then resident experts from least to most likely needed.
        std::size_t victims = 0;
        for (std::uint32_t s = 0; s < slots.size(); ++s) {
            const ExpertId e = slots[s];
            if (e != not_recorded) resident_[static_cast<std::size_t>(e)] = 1;
            victims_[victims++] = {s, e, e == not_recorded ? -1.0f : needed[e]};
        }
        std::sort(victims_.begin(), victims_.begin() + victims,
                  [](const Victim& a, const Victim& b) {
                      return a.probability < b.probability ||
                             (a.probability == b.probability && a.slot < b.slot);
                  });
        // Candidates: experts not resident, most likely first (ties to the smaller id).
        std::size_t candidates = 0;
        for (std::uint32_t e = 0; e < num_experts_; ++e)
            if (!resident_[e] && needed[e] > 0.0f) candidates_[candidates++] = e;
        const std::size_t limit =
            std::min<std::size_t>(candidates, std::min<std::size_t>(victims, budget.loads + 1));
        auto more_likely = [&needed](std::uint32_t a, std::uint32_t b) {
            return needed[a] > needed[b] || (needed[a] == needed[b] && a < b);
        };
        std::partial_sort(candidates_.begin(), candidates_.begin() + limit,
                          candidates_.begin() + candidates, more_likely);

        std::size_t count = 0;
        for (std::size_t i = 0; i < limit; ++i) {
            const std::uint32_t e = candidates_[i];
            const float p = needed[e];
            if (count == budget.loads && !(static_cast<double>(p) > 1.0 - budget.partial)) break;
            if (count > budget.loads) break;
            const Victim& v = victims_[count];
            if (v.expert != not_recorded && v.probability >= p) break;  // no swap worth making
            actions_[count++] = {static_cast<ExpertId>(e), v.expert, v.slot, p};
        }
        for (std::size_t s = 0; s < victims; ++s)
            if (victims_[s].expert != not_recorded)
                resident_[static_cast<std::size_t>(victims_[s].expert)] = 0;
        return {actions_.data(), count};
    }

private:
    struct Victim {
        std::uint32_t slot = 0;
        ExpertId expert = not_recorded;
        float probability = 0;
    };

    std::uint32_t num_experts_ = 0;
    std::vector<std::uint32_t> candidates_;
    std::vector<Victim> victims_;
    std::vector<std::uint8_t> resident_;
    std::vector<PrefetchAction> actions_;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
