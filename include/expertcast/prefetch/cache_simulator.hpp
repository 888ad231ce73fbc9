// What forecasts save: a per-layer cache of C device slots replayed over a trace with B requests in
// flight, under on-demand policies (lru, lfu, static, belady) and predictor-driven prefetching,
// exactly as ../shared/spec/evaluation.md section 5 describes. All policies and cache sizes run in
// one replay, sharing the predictors' forecasts.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/core/predictor.hpp"
#include "expertcast/eval/replay.hpp"
#include "expertcast/predictors/any_predictor.hpp"
#include "expertcast/prefetch/cost_model.hpp"
#include "expertcast/prefetch/planner.hpp"
#include "expertcast/trace/trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// How a policy keeps a layer's slots.
enum class CachePolicyKind {
    lru,       ///< on demand; evicts the least recently used expert
    lfu,       ///< on demand; evicts the least often needed (ties: least recent)
    pinned,    ///< "static": the C most needed experts of the warm-up, pinned; misses stream
    belady,    ///< on demand; of the residents and the miss, the one needed again furthest ahead
               ///< leaves (the miss then streams): optimal on-demand caching (needs the future)
    prefetch,  ///< a predictor's forecast drives prefetching and eviction (lowest probability)
};

struct CachePolicy {
    std::string name;  ///< "lru", "lfu", "static", "belady", or the predictor's name
    CachePolicyKind kind = CachePolicyKind::lru;
    std::size_t predictor = 0;  ///< for prefetch: index into the simulator's predictors
};

struct SimulationOptions {
    ReplayOptions replay;
    std::size_t batch = 1;             ///< B, requests in flight
    std::vector<std::uint32_t> slots;  ///< C values to simulate (each a separate cache)
    CostModel cost;

    void validate(const ModelShape& shape) const {
        replay.validate();
        cost.validate();
        if (batch == 0) throw ConfigError("simulation: batch must be at least 1");
        if (slots.empty()) throw ConfigError("simulation: no cache size to simulate");
        for (const auto c : slots)
            if (c == 0 || c > shape.num_experts)
                throw ConfigError("simulation: slots per layer must be in [1, E = " +
                                  std::to_string(shape.num_experts) + "], got " +
                                  std::to_string(c));
    }
};

/// One policy at one cache size, over the scored (token, layer) cells.
struct PolicyResult {
    std::string policy;
    std::uint32_t slots = 0;
    std::size_t batch = 1;
    double needed = 0;        ///< experts needed (distinct per step and layer)
    double hits = 0;          ///< of those, already resident
    double demand_loads = 0;  ///< misses, loaded on demand
    double prefetches = 0;    ///< experts loaded ahead of use
    double wasted = 0;        ///< prefetched experts evicted (or left at the end) unused
    double stall_s = 0;
    double compute_s = 0;
    double expert_bytes = 0;

    double hit_rate() const noexcept { return needed > 0 ? hits / needed : 0; }
    double bytes_moved() const noexcept { return (demand_loads + prefetches) * expert_bytes; }
    double wasted_bytes() const noexcept { return wasted * expert_bytes; }
    /// (compute + stall of `baseline`) / (compute + stall of this).
    double speedup_over(const PolicyResult& baseline) const noexcept {
        return (baseline.compute_s + baseline.stall_s) / (compute_s + stall_s);
    }
};

namespace detail {

// One layer's slots under one policy.
struct LayerSlots {
    std::vector<ExpertId> expert;               // per slot, or not_recorded
    std::vector<std::int32_t> slot_of;          // per expert, or -1
    std::vector<std::uint64_t> last_use;        // per expert: the cell index of its last use
    std::vector<std::uint64_t> uses;            // per expert: times needed
    std::vector<std::uint8_t> unused_prefetch;  // per expert: prefetched, not used yet
    std::vector<std::uint8_t> scored_prefetch;  // ... and prefetched in a scored cell
    bool pinned = false;

    LayerSlots(std::uint32_t slots, std::uint32_t experts)
        : expert(slots, not_recorded),
          slot_of(experts, -1),
          last_use(experts, 0),
          uses(experts, 0),
          unused_prefetch(experts, 0),
          scored_prefetch(experts, 0) {}

    bool resident(ExpertId e) const noexcept { return slot_of[static_cast<std::size_t>(e)] >= 0; }
    void put(std::uint32_t slot, ExpertId e) noexcept {
        if (expert[slot] != not_recorded) slot_of[static_cast<std::size_t>(expert[slot])] = -1;
        expert[slot] = e;
        slot_of[static_cast<std::size_t>(e)] = static_cast<std::int32_t>(slot);
    }
};

}  // namespace detail

/// The simulation of every policy at every cache size of `options`, over one batched replay.
class CacheSimulator {
public:
    /// `predictors` drive the prefetch policies (their names become the policies' names); they
    /// should be fresh: they learn from the replay, warm-up first.
    CacheSimulator(const Trace& trace, SimulationOptions options, std::vector<CachePolicy> policies,
                   std::vector<AnyPredictor> predictors)
        : trace_(trace),
          options_(std::move(options)),
          policies_(std::move(policies)),
          predictors_(std::move(predictors)) {
        options_.validate(trace_.shape);
        for (const auto& p : policies_)
            if (p.kind == CachePolicyKind::prefetch && p.predictor >= predictors_.size())
                throw ConfigError("simulation: policy '" + p.name + "' has no predictor");
        for (const auto& p : predictors_)
            if (!(p.shape() == trace_.shape))
                throw ConfigError("simulation: predictor '" + std::string(p.name()) +
                                  "' was built for another model shape");
    }

    /// Runs the replay; results in policy order, cache sizes inner.
    std::vector<PolicyResult> run() {
        collect_schedule();
        const std::uint32_t L = trace_.shape.num_moe_layers(), E = trace_.shape.num_experts;
        std::uint32_t max_slots = 0;
        for (auto c : options_.slots) max_slots = std::max(max_slots, c);
        planner_ = PrefetchPlanner(E, max_slots);
        caches_.clear();
        results_.clear();
        for (const auto& policy : policies_)
            for (const auto c : options_.slots) {
                std::vector<detail::LayerSlots> layers;
                for (std::uint32_t l = 0; l < L; ++l) layers.emplace_back(c, E);
                caches_.push_back(std::move(layers));
                PolicyResult r;
                r.policy = policy.name;
                r.slots = c;
                r.batch = options_.batch;
                r.expert_bytes = options_.cost.expert_bytes;
                results_.push_back(std::move(r));
            }
        needed_probability_.assign(predictors_.size() * E, 0.0f);
        Visitor visitor{*this, StepBuffers(trace_), {}};
        replay_batched(trace_, options_.replay, options_.batch, visitor);
        // Prefetched experts still resident and never used are wasted too.
        for (std::size_t i = 0; i < caches_.size(); ++i)
            for (const auto& layer : caches_[i])
                for (std::uint32_t e = 0; e < E; ++e)
                    if (layer.unused_prefetch[e] && layer.scored_prefetch[e])
                        results_[i].wasted += 1;
        return results_;
    }

private:
    // Pass 1: every forward step's needed set per layer, and which steps are scored (Belady's
    // evictions look ahead in it; every policy reads its needed sets from it).
    void collect_schedule() {
        const std::uint32_t L = trace_.shape.num_moe_layers(), E = trace_.shape.num_experts;
        struct Collector {
            CacheSimulator& sim;
            std::vector<std::uint8_t> seen;
            void begin_request(const TraceRequest&, bool) {}
            void begin_step(const BatchStep& step) { sim.scored_.push_back(step.any_evaluated()); }
            void layer(const BatchStep& step, std::uint32_t l) {
                const std::size_t k = sim.trace_.shape.top_k;
                std::fill(seen.begin(), seen.end(), std::uint8_t{0});
                for (const ReplayStep& part : step.parts)
                    for (std::size_t t = part.token_begin; t < part.token_end; ++t) {
                        auto row = sim.trace_.row(t, l);
                        if (row[0] == not_recorded) continue;
                        for (std::size_t j = 0; j < k; ++j)
                            seen[static_cast<std::size_t>(row[j])] = 1;
                    }
                for (std::uint32_t e = 0; e < seen.size(); ++e)
                    if (seen[e]) {
                        sim.needed_.push_back(static_cast<ExpertId>(e));
                        sim.uses_at_[std::size_t{l} * seen.size() + e].push_back(
                            static_cast<std::uint32_t>(step.index));
                    }
                sim.needed_end_.push_back(sim.needed_.size());
            }
            void end_step(const BatchStep&) {}
            void end_request(const TraceRequest&) {}
        };
        scored_.clear();
        needed_.clear();
        needed_end_.assign(1, 0);
        uses_at_.assign(std::size_t{L} * E, {});
        Collector collector{*this, std::vector<std::uint8_t>(E, 0)};
        replay_batched(trace_, options_.replay, options_.batch, collector);
        next_use_index_.assign(std::size_t{L} * E, 0);
    }

    std::span<const ExpertId> needed_at(std::size_t step, std::uint32_t l) const noexcept {
        const std::size_t cell = step * trace_.shape.num_moe_layers() + l;
        return {needed_.data() + needed_end_[cell], needed_end_[cell + 1] - needed_end_[cell]};
    }

    // The step at which expert e is next needed at layer l after `step` (max when never).
    std::uint64_t next_use(std::uint32_t l, ExpertId e, std::size_t step) {
        const std::size_t key =
            std::size_t{l} * trace_.shape.num_experts + static_cast<std::size_t>(e);
        const auto& list = uses_at_[key];
        std::size_t& i = next_use_index_[key];
        while (i < list.size() && list[i] <= step) ++i;
        return i < list.size() ? list[i] : std::numeric_limits<std::uint64_t>::max();
    }

    struct Visitor {
        CacheSimulator& sim;
        StepBuffers buffers;
        std::vector<float> per_token;

        void begin_request(const TraceRequest&, bool) {}
        void begin_step(const BatchStep& step) {
            const TokenBatch batch = buffers.begin(step.parts);
            const std::uint32_t E = sim.trace_.shape.num_experts;
            per_token.resize(batch.size() * E);
            for (std::size_t p = 0; p < sim.predictors_.size(); ++p) {
                sim.predictors_[p].begin_step(batch);
                // Layer 0 has no earlier layer in the step: rank by the next-token forecast.
                forecast_batch(sim.predictors_[p], ForecastTarget::next_token(0), per_token,
                               std::span<float>(sim.needed_probability_).subspan(p * E, E));
            }
        }
        void layer(const BatchStep& step, std::uint32_t l) {
            sim.process_cell(step, l);
            const LayerRouting routing = buffers.layer(step.parts, l);
            const std::uint32_t E = sim.trace_.shape.num_experts;
            for (std::size_t p = 0; p < sim.predictors_.size(); ++p) {
                sim.predictors_[p].observe(routing);
                if (l + 1 < sim.trace_.shape.num_moe_layers())
                    forecast_batch(sim.predictors_[p], ForecastTarget::next_layer(l + 1), per_token,
                                   std::span<float>(sim.needed_probability_).subspan(p * E, E));
            }
        }
        void end_step(const BatchStep&) {}
        void end_request(const TraceRequest& request) {
            for (auto& p : sim.predictors_) p.end_sequence(static_cast<SequenceId>(request.id));
        }
    };

    // One (forward step, layer) cell for every policy and cache size: prefetch (for l > 0, with
    // the forecast made after layer l-1), then serve the needed set.
    void process_cell(const BatchStep& step, std::uint32_t l) {
        const std::uint32_t E = trace_.shape.num_experts;
        const std::span<const ExpertId> needed = needed_at(step.index, l);
        const bool scored = scored_[step.index] != 0;
        const double load_s = options_.cost.load_seconds();
        const std::uint64_t now = step.index * trace_.shape.num_moe_layers() + l + 1;
        std::size_t i = 0;
        for (const auto& policy : policies_) {
            const float* q = policy.kind == CachePolicyKind::prefetch
                                 ? needed_probability_.data() + policy.predictor * E
                                 : nullptr;
            for (std::size_t c = 0; c < options_.slots.size(); ++c, ++i) {
                detail::LayerSlots& cache = caches_[i][l];
                PolicyResult& r = results_[i];
                double stall = 0;
                if (policy.kind == CachePolicyKind::pinned && scored && !cache.pinned)
                    pin_most_needed(cache);
                if (policy.kind == CachePolicyKind::prefetch && l > 0) {
                    const auto budget =
                        PrefetchBudget::window(options_.cost.layer_compute_s,
                                               options_.cost.bandwidth, options_.cost.expert_bytes);
                    const auto actions = planner_.plan({q, E}, cache.expert, budget);
                    for (const PrefetchAction& a : actions) {
                        if (a.evict != not_recorded) evicted(cache, a.evict, r);
                        cache.put(a.slot, a.load);
                        cache.unused_prefetch[static_cast<std::size_t>(a.load)] = 1;
                        cache.scored_prefetch[static_cast<std::size_t>(a.load)] = scored;
                    }
                    const double link = static_cast<double>(actions.size()) * load_s;
                    stall += std::max(0.0, link - options_.cost.layer_compute_s);
                    if (scored) r.prefetches += static_cast<double>(actions.size());
                }
                std::size_t hits = 0, misses = 0;
                for (const ExpertId e : needed) {
                    const auto ue = static_cast<std::size_t>(e);
                    if (cache.resident(e)) {
                        ++hits;
                    } else {
                        ++misses;
                        if (policy.kind != CachePolicyKind::pinned)
                            admit(policy, cache, e, needed, q, step.index, l, r);
                    }
                    cache.unused_prefetch[ue] = 0;
                    cache.last_use[ue] = now;
                    ++cache.uses[ue];
                }
                stall += static_cast<double>(misses) * load_s;
                if (scored) {
                    r.needed += static_cast<double>(needed.size());
                    r.hits += static_cast<double>(hits);
                    r.demand_loads += static_cast<double>(misses);
                    r.stall_s += stall;
                    r.compute_s += options_.cost.layer_compute_s;
                }
            }
        }
    }

    // A miss loaded on demand: into a free slot, else over the policy's victim among the
    // residents this cell does not need; with none, it streams through without staying.
    void admit(const CachePolicy& policy, detail::LayerSlots& cache, ExpertId e,
               std::span<const ExpertId> needed, const float* q, std::size_t step, std::uint32_t l,
               PolicyResult& r) {
        std::int64_t victim_slot = -1;
        double best = 0;
        for (std::uint32_t s = 0; s < cache.expert.size(); ++s) {
            const ExpertId v = cache.expert[s];
            if (v == not_recorded) {
                victim_slot = s;
                break;
            }
            if (std::find(needed.begin(), needed.end(), v) != needed.end()) continue;
            const auto uv = static_cast<std::size_t>(v);
            // Larger is a better victim; ties keep the earlier slot.
            double score = 0;
            switch (policy.kind) {
                case CachePolicyKind::lru:
                    score = -static_cast<double>(cache.last_use[uv]);
                    break;
                case CachePolicyKind::lfu:
                    score = -static_cast<double>(cache.uses[uv]) * 1e12 -
                            static_cast<double>(cache.last_use[uv]);
                    break;
                case CachePolicyKind::belady:
                    score = static_cast<double>(next_use(l, v, step));
                    break;
                case CachePolicyKind::prefetch:
                    score = -static_cast<double>(q[uv]) * 1e12 -
                            static_cast<double>(cache.last_use[uv]);
                    break;
                case CachePolicyKind::pinned:
                    break;
            }
            if (victim_slot < 0 || score > best) victim_slot = s, best = score;
        }
        if (victim_slot < 0) return;
        const auto slot = static_cast<std::uint32_t>(victim_slot);
        // Belady's MIN where a miss may stream through: the expert needed furthest ahead leaves,
        // and that may be the one just loaded (the resident is kept). Without this choice belady
        // would not bound the on-demand policies that stream (static).
        if (policy.kind == CachePolicyKind::belady && cache.expert[slot] != not_recorded &&
            static_cast<double>(next_use(l, e, step)) > best)
            return;
        if (cache.expert[slot] != not_recorded) evicted(cache, cache.expert[slot], r);
        cache.put(slot, e);
    }

    void evicted(detail::LayerSlots& cache, ExpertId e, PolicyResult& r) {
        const auto ue = static_cast<std::size_t>(e);
        if (cache.unused_prefetch[ue] && cache.scored_prefetch[ue]) r.wasted += 1;
        cache.unused_prefetch[ue] = 0;
    }

    // "static": fill the slots with the experts the warm-up needed most (ties: smaller id).
    void pin_most_needed(detail::LayerSlots& cache) {
        const std::uint32_t E = trace_.shape.num_experts;
        std::vector<std::uint32_t> order(E);
        for (std::uint32_t e = 0; e < E; ++e) order[e] = e;
        std::stable_sort(order.begin(), order.end(), [&cache](std::uint32_t a, std::uint32_t b) {
            return cache.uses[a] > cache.uses[b];
        });
        for (std::uint32_t s = 0; s < cache.expert.size(); ++s)
            cache.put(s, static_cast<ExpertId>(order[s]));
        cache.pinned = true;
    }

    const Trace& trace_;
    SimulationOptions options_;
    std::vector<CachePolicy> policies_;
    std::vector<AnyPredictor> predictors_;
    PrefetchPlanner planner_;
    std::vector<std::vector<detail::LayerSlots>> caches_;  // [policy x size][layer]
    std::vector<PolicyResult> results_;
    std::vector<float> needed_probability_;  // [predictor][expert]: for the next cell
    // Schedule from pass 1.
    std::vector<std::uint8_t> scored_;     // per forward step
    std::vector<ExpertId> needed_;         // needed sets of every cell, concatenated
    std::vector<std::size_t> needed_end_;  // cell -> end offset (cell = step * L + layer)
    std::vector<std::vector<std::uint32_t>> uses_at_;  // [layer][expert] -> steps needing it
    std::vector<std::size_t> next_use_index_;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
