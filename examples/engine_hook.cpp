// The smallest complete integration of expertcast into an engine's forward pass, to copy: after
// each MoE layer's router, the predictor observes the choice, forecasts the next layer, and the
// planner picks which experts to copy into that layer's device slots while this layer computes.
// The router and the copy queue are stand-ins; the rest is what an engine writes. Engine side
// only: links expertcast::expertcast (Eigen), no trace readers, no formatting library.
#include <expertcast/expertcast.hpp>
#include <expertcast/prefetch/planner.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <span>
#include <vector>

using namespace expertcast;

namespace {

// Stand-in for a router: k distinct ids per token. Each layer's choice follows from the previous
// layer's (shifted by 5), the kind of structure the predictor learns within a few steps; it also
// drifts by one expert per step, so that every step needs new copies.
void route(std::uint32_t step, std::uint32_t layer, const ModelShape& shape,
           std::span<ExpertId> topk_ids) {
    for (std::size_t i = 0; i < topk_ids.size(); ++i) {
        const std::size_t token = i / shape.top_k, choice = i % shape.top_k;
        topk_ids[i] =
            static_cast<ExpertId>((layer * 5 + step + token * 3 + choice * 7) % shape.num_experts);
    }
}

// Stand-in for the engine's copy queue: an asynchronous host-to-device copy on a side stream. The
// layer that uses the slot waits for the copy's event first.
void enqueue_copy(std::uint32_t layer, const PrefetchAction& a, bool print) {
    if (print)
        std::printf("  copy expert %2d of layer %u into slot %u, replacing %2d (p = %.2f)\n",
                    a.load, layer, a.slot, a.evict, static_cast<double>(a.probability));
}

}  // namespace

int main() {
    ModelShape shape{32, 4, {}};  // gpt-oss-20b: 24 MoE layers of 32 experts, top-4
    shape.moe_layers.resize(24);
    std::iota(shape.moe_layers.begin(), shape.moe_layers.end(), 0u);
    auto predictor = make_mixture(shape);

    const std::uint32_t slots_per_layer = 2 * shape.top_k;
    PrefetchPlanner planner(shape.num_experts, slots_per_layer);
    // What each device slot of each layer holds (not_recorded = -1: free). The planner reads it.
    std::vector<std::vector<ExpertId>> slots(shape.num_moe_layers(),
                                             std::vector<ExpertId>(slots_per_layer, not_recorded));
    // Copies that fit in one layer's compute: 0.3 ms over a GH200's NVLink-C2C (about 450 GB/s)
    // with gpt-oss-20b's 13.2 MB MXFP4 experts, 10. Over PCIe 4.0 (25 GB/s) it is 0.6: the
    // planner then issues one copy only for an expert needed with probability above 0.4.
    const double layer_compute_s = 0.3e-3, bandwidth = 450e9, expert_bytes = 13.2e6;
    const auto budget = PrefetchBudget::window(layer_compute_s, bandwidth, expert_bytes);

    const std::vector<SequenceId> sequences{17, 42};  // two decode tokens batched
    std::vector<ExpertId> topk_ids(sequences.size() * shape.top_k);
    std::vector<float> per_token(sequences.size() * shape.num_experts);
    std::vector<float> needed(shape.num_experts);

    for (std::uint32_t step = 0; step < 6; ++step) {
        predictor.begin_step({sequences, {}});
        std::size_t resident = 0, routed = 0, copies = 0;
        for (std::uint32_t layer = 0; layer < shape.num_moe_layers(); ++layer) {
            route(step, layer, shape, topk_ids);
            // Experts not resident take the engine's on-demand path (not shown).
            for (const ExpertId e : topk_ids)
                resident += static_cast<std::size_t>(std::ranges::count(slots[layer], e));
            routed += topk_ids.size();
            predictor.observe({layer, topk_ids, {}});
            // Forecast and fill the next layer. (Layer 0 is never prefetched: no earlier layer of
            // the step hides its copies.)
            if (layer + 1 == shape.num_moe_layers()) break;
            forecast_batch(predictor, ForecastTarget::next_layer(layer + 1), per_token, needed);
            for (const PrefetchAction& a : planner.plan(needed, slots[layer + 1], budget)) {
                enqueue_copy(layer + 1, a, step == 5 && layer == 0);
                slots[layer + 1][a.slot] = a.load;
                ++copies;
            }
            // ... the layer computes here while the copies run.
        }
        std::printf("step %u: %2zu copies queued, %2zu of %zu routed experts already resident\n",
                    step, copies, resident, routed);
    }
}
