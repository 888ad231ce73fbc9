// The cache simulator (../shared/spec/evaluation.md section 5) on tiny hand-built traces, every
// number worked out by hand from the rules:
// * replay_batched with B requests in flight; the needed set N of a (forward step, layer) cell is
//   the distinct experts of all the step's tokens at that layer; a step is scored when any of its
//   requests is past the warm-up;
// * each policy and cache size C has its own per-layer cache of C slots, empty at first;
// * per cell: static pins at its first scored cell; a prefetch policy (layers > 0) plans with its
//   predictor's batch forecast and budget PrefetchBudget::window(layer_compute_s, bandwidth,
//   expert_bytes); then each needed expert in increasing id order is a hit or a miss; a miss costs
//   load_seconds = expert_bytes / bandwidth of stall and is admitted (except by static) into the
//   first free slot, else over the policy's victim among residents not in N, else it streams.
// Cells are written (step, layer); "now" = step * L + layer + 1 is the last-use clock.
#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "expertcast/eval/replay.hpp"
#include "expertcast/predictors/any_predictor.hpp"
#include "expertcast/predictors/baselines.hpp"
#include "expertcast/prefetch/cache_simulator.hpp"

using namespace expertcast;

namespace {

// One recorded token: its phase and its L x k expert ids (layer by layer).
struct Token {
    Phase phase;
    std::vector<ExpertId> experts;
};
Token P(std::initializer_list<ExpertId> experts) { return {Phase::prefill, experts}; }
Token D(std::initializer_list<ExpertId> experts) { return {Phase::decode, experts}; }

struct HandRequest {
    std::optional<std::uint32_t> prompt_tokens;
    std::vector<Token> tokens;
};

// A trace built by hand as tests/test_replay.cpp does: request ids 0, 1, 2, ... in order,
// positions counted from 0 within each request.
Trace hand_trace(ModelShape shape, const std::vector<HandRequest>& requests) {
    Trace t;
    t.source = "hand";
    t.format = "test";
    t.shape = std::move(shape);
    const std::size_t cells = std::size_t{t.shape.num_moe_layers()} * t.shape.top_k;
    std::int64_t id = 0;
    for (const HandRequest& hand : requests) {
        TraceRequest request;
        request.id = id++;
        request.prompt_tokens = hand.prompt_tokens;
        request.token_begin = t.positions.size();
        std::uint32_t position = 0;
        for (const Token& token : hand.tokens) {
            REQUIRE(token.experts.size() == cells);
            t.positions.push_back(position++);
            t.phases.push_back(token.phase);
            t.experts.insert(t.experts.end(), token.experts.begin(), token.experts.end());
        }
        request.token_end = t.positions.size();
        t.requests.push_back(request);
    }
    return t;
}

SimulationOptions options(double warmup, std::size_t batch, std::vector<std::uint32_t> slots,
                          CostModel cost) {
    SimulationOptions o;
    o.replay.warmup_fraction = warmup;
    o.batch = batch;
    o.slots = std::move(slots);
    o.cost = cost;
    return o;
}

const CachePolicy lru{"lru", CachePolicyKind::lru, 0};
const CachePolicy lfu{"lfu", CachePolicyKind::lfu, 0};
const CachePolicy belady{"belady", CachePolicyKind::belady, 0};
const CachePolicy pinned{"static", CachePolicyKind::pinned, 0};
CachePolicy prefetch(std::string name, std::size_t predictor) {
    return {std::move(name), CachePolicyKind::prefetch, predictor};
}

const PolicyResult& result(const std::vector<PolicyResult>& results, std::string_view policy,
                           std::uint32_t slots) {
    for (const PolicyResult& r : results)
        if (r.policy == policy && r.slots == slots) return r;
    throw std::logic_error(fmt::format("no result for {} at C = {}", policy, slots));
}

struct Expected {
    double needed, hits, demand_loads, prefetches, wasted, stall_s, compute_s;
};

void check(const PolicyResult& r, const Expected& e) {
    INFO(r.policy << " at C = " << r.slots);
    CHECK(r.needed == e.needed);
    CHECK(r.hits == e.hits);
    CHECK(r.demand_loads == e.demand_loads);
    CHECK(r.prefetches == e.prefetches);
    CHECK(r.wasted == e.wasted);
    CHECK(r.stall_s == Approx(e.stall_s));
    CHECK(r.compute_s == Approx(e.compute_s));
}

// Records a batched replay: "R<id><e|w> " when a request joins (evaluated or warm-up),
// "#<index> [b,e)<P|D><+|-> ...:" per forward step (its parts in order), the layers, a space at
// the end of the step, "/R<id> " when a request finishes.
struct BatchRecorder {
    std::string log;
    void begin_request(const TraceRequest& r, bool evaluated) {
        log += fmt::format("R{}{} ", r.id, evaluated ? 'e' : 'w');
    }
    void begin_step(const BatchStep& step) {
        log += fmt::format("#{}", step.index);
        for (const ReplayStep& s : step.parts)
            log += fmt::format(" [{},{}){}{}", s.token_begin, s.token_end, s.prefill ? 'P' : 'D',
                               s.follows_earlier_step ? '+' : '-');
        log += ':';
    }
    void layer(const BatchStep&, std::uint32_t l) { log += fmt::format("{}", l); }
    void end_step(const BatchStep&) { log += ' '; }
    void end_request(const TraceRequest& r) { log += fmt::format("/R{} ", r.id); }
};

// E = 4, k = 1, one MoE layer; four requests of different lengths:
//   request 0: token 0 (decode)                       expert 0        1 step
//   request 1: tokens 1, 2 (prefill), 3 (decode)      experts 1, 1, 1 2 steps
//   request 2: tokens 4, 5, 6 (decode)                experts 2, 3, 2 3 steps
//   request 3: token 7 (decode)                       expert 2        1 step
Trace four_requests() {
    return hand_trace(ModelShape{4, 1, {0}}, {{std::nullopt, {D({0})}},
                                              {2, {P({1}), P({1}), D({1})}},
                                              {std::nullopt, {D({2}), D({3}), D({2})}},
                                              {std::nullopt, {D({2})}}});
}

}  // namespace

TEST_CASE("simulator: lru, lfu and belady evict differently", "[prefetch]") {
    // E = 4, k = 1, one MoE layer, one request of 7 decode steps needing 0 0 1 2 0 1 2.
    // A load: 2 bytes at 2 bytes/s = 1 s; 0.5 s of compute per cell.
    const Trace trace =
        hand_trace(ModelShape{4, 1, {0}},
                   {{std::nullopt, {D({0}), D({0}), D({1}), D({2}), D({0}), D({1}), D({2})}}});
    CacheSimulator sim(trace, options(0.0, 1, {1, 2}, CostModel{2.0, 2.0, 0.5}), {lru, lfu, belady},
                       {});
    const auto results = sim.run();
    // Results in policy order, cache sizes inner.
    REQUIRE(results.size() == 6);
    CHECK(results[0].policy == "lru");
    CHECK(results[0].slots == 1);
    CHECK(results[1].slots == 2);
    CHECK(results[2].policy == "lfu");
    CHECK(results[4].policy == "belady");
    CHECK(results[5].slots == 2);

    // C = 1: lru and lfu evict the single resident; only step 1 (0 after 0) hits. belady keeps 0
    // at steps 2 and 3 (0 is needed again at 4; 1 at 5, 2 at 6: they stream through) and hits
    // at 4; at 5, 0 is never needed again and 1 replaces it; 2 misses at 6.
    for (const char* name : {"lru", "lfu"})
        check(result(results, name, 1), {7, 1, 6, 0, 0, 6.0, 3.5});
    check(result(results, "belady", 1), {7, 2, 5, 0, 0, 5.0, 3.5});

    // C = 2, step by step (slot contents after the step):
    //   step    0     1     2      3                 4          5              6
    //   need    0     0     1      2                 0          1              2
    //   lru     m{0}  h     m{0,1} m: 0 last used 1, m: evict   m: evict 2     m: evict 0
    //                              1 at 2: evict 0   1 (at 2)   (at 3) {0,1}   (at 4) {2,1}
    //                              {2,1}             {2,0}                     -> 1 hit
    //   lfu     m{0}  h     m{0,1} m: uses 0:2, 1:1  h          m: uses 0:3,   m: uses 0:3,
    //                              evict 1 {0,2}                2:1, evict 2   1:2, evict 1
    //                                                           {0,1}          -> 2 hits
    //   belady  m{0}  h     m{0,1} m: next use of 0  h          h              m
    //                              is 4, of 1 is 5,                            -> 3 hits
    //                              of 2 is 6: 2
    //                              streams {0,1}
    // lru differs from lfu and belady at step 3; lfu differs from belady at step 5.
    const PolicyResult& by_lru = result(results, "lru", 2);
    const PolicyResult& by_lfu = result(results, "lfu", 2);
    const PolicyResult& by_belady = result(results, "belady", 2);
    check(by_lru, {7, 1, 6, 0, 0, 6.0, 3.5});
    check(by_lfu, {7, 2, 5, 0, 0, 5.0, 3.5});
    check(by_belady, {7, 3, 4, 0, 0, 4.0, 3.5});
    CHECK(by_belady.hit_rate() >= by_lru.hit_rate());
    CHECK(by_belady.hit_rate() >= by_lfu.hit_rate());
    CHECK(by_lfu.hit_rate() == Approx(2.0 / 7));
    // Bytes: (demand loads + prefetches) x 2 bytes.
    CHECK(by_lru.bytes_moved() == 12.0);
    CHECK(by_belady.bytes_moved() == 8.0);
    CHECK(by_belady.wasted_bytes() == 0.0);
    // speedup = (3.5 + 6) / (3.5 + stall).
    CHECK(by_lru.speedup_over(by_lru) == 1.0);
    CHECK(by_lfu.speedup_over(by_lru) == Approx(9.5 / 8.5));
    CHECK(by_belady.speedup_over(by_lru) == Approx(9.5 / 7.5));
}

TEST_CASE("simulator: lfu breaks a tie in use counts by recency", "[prefetch]") {
    // C = 2, needs 0 1 1 0 2 0 0 (1 s per load, 0.5 s compute).
    //   steps 0, 1: misses into the free slots {0, 1}; step 2: 1 hits (uses 1:2, last 2);
    //   step 3: 0 hits (uses 0:2, last 3); step 4: 2 misses, 0 and 1 both used twice: the least
    //   recent, 1, goes -> {0, 2}; steps 5, 6: 0 hits. Hits 2, 3, 5, 6; misses 0, 1, 4.
    // (Evicting 0 instead would make step 5 a miss.)
    const Trace trace =
        hand_trace(ModelShape{4, 1, {0}},
                   {{std::nullopt, {D({0}), D({1}), D({1}), D({0}), D({2}), D({0}), D({0})}}});
    CacheSimulator sim(trace, options(0.0, 1, {2}, CostModel{1.0, 1.0, 0.5}), {lfu}, {});
    const auto results = sim.run();
    REQUIRE(results.size() == 1);
    check(results[0], {7, 4, 3, 0, 0, 3.0, 3.5});
}

TEST_CASE(
    "simulator: the needed set is the union of a step's tokens; misses stream when every "
    "resident is needed",
    "[prefetch]") {
    // E = 4, k = 2, one MoE layer. One request: a prefill of two tokens ({0,1}, {1,2}) and three
    // decode tokens {2,3}, {3,2}, {0,3}. Steps: N0 = {0,1,2} (3 distinct, not 4), N1 = {2,3},
    // N2 = {2,3}, N3 = {0,3}. 9 needed in all; 1 s per load.
    const Trace trace = hand_trace(ModelShape{4, 2, {0}},
                                   {{2, {P({0, 1}), P({1, 2}), D({2, 3}), D({3, 2}), D({0, 3})}}});
    CacheSimulator sim(trace, options(0.0, 1, {1, 2}, CostModel{1.0, 1.0, 0.5}), {lru}, {});
    const auto results = sim.run();
    // C = 2 (lru):
    //   step 0: 0 -> slot 0, 1 -> slot 1, 2: both residents are in N -> streams. 3 misses.
    //   step 1: 2 evicts 0 or 1 (neither needed), 3 evicts the other: {2,3}. 2 misses.
    //   step 2: 2, 3 hit.
    //   step 3: 0 misses: the only resident not in N is 2 -> {0,3}; 3 hits.
    //   hits 3, misses 6.
    check(result(results, "lru", 2), {9, 3, 6, 0, 0, 6.0, 2.0});
    // C = 1:
    //   step 0: 0 -> slot 0; 1 and 2 stream (0 is needed). 3 misses.
    //   step 1: 2 evicts 0; 3 streams. 2 misses.   step 2: 2 hits; 3 streams.
    //   step 3: 0 evicts 2; 3 streams. 2 misses.   hits 1, misses 8.
    check(result(results, "lru", 1), {9, 1, 8, 0, 0, 8.0, 2.0});
}

TEST_CASE("simulator: static pins the experts the warm-up needed most and never admits",
          "[prefetch]") {
    // E = 4, k = 1, MoE layers 0 and 1. Warm-up fraction 0.5 of 2 requests: request 0.
    //   request 0 (warm-up): prefill of 3 tokens (layer 0: 3 3 3; layer 1: 2 2 0), then decode
    //     (1, 0), (1, 3). Steps 0-2; needed sets per layer:
    //       layer 0: {3}, {1}, {1}     -> cells needing 3: 1 (one cell, three tokens), 1: 2
    //       layer 1: {0,2}, {0}, {3}   -> 0: 2, 2: 1, 3: 1, 1: 0
    //   request 1 (scored): decode (2, 3), (1, 0), (2, 3), (1, 0): steps 3-6.
    const Trace trace = hand_trace(ModelShape{4, 1, {0, 1}},
                                   {{3, {P({3, 2}), P({3, 2}), P({3, 0}), D({1, 0}), D({1, 3})}},
                                    {std::nullopt, {D({2, 3}), D({1, 0}), D({2, 3}), D({1, 0})}}});
    CacheSimulator sim(trace, options(0.5, 1, {1, 2}, CostModel{1.0, 1.0, 0.5}),
                       {pinned, lru, belady}, {});
    const auto results = sim.run();
    // Scored: steps 3-6, 2 layers: 8 cells of one expert each, compute 8 x 0.5 = 4 s.
    // static, C = 1: layer 0 pins 1 (2 cells, over 3's 1 cell), layer 1 pins 0.
    //   layer 0 needs 2 1 2 1: 2 misses and streams (stays out, so step 5 misses again), 1 hits.
    //   layer 1 needs 3 0 3 0: 0 hits twice. Hits 4, misses 4.
    check(result(results, "static", 1), {8, 4, 4, 0, 0, 4.0, 4.0});
    // static, C = 2: layer 0 pins {1, 3}; layer 1 pins 0 and, of 2 and 3 (1 cell each), the
    //   smaller id 2: {0, 2}. Layer 0: 1 hits twice; layer 1: 0 hits twice, 3 never resident.
    //   Hits 4, misses 4.
    check(result(results, "static", 2), {8, 4, 4, 0, 0, 4.0, 4.0});
    // lru learns in the warm-up too, but only scored cells count:
    //   C = 1, layer 0: warm-up leaves {1}; 2 1 2 1 all miss.
    //          layer 1: warm-up: {0} (2 streams), 0 hit, 3 -> {3}; scored 3 hit, 0 miss,
    //          3 miss, 0 miss. Hits 1, misses 7.
    check(result(results, "lru", 1), {8, 1, 7, 0, 0, 7.0, 4.0});
    //   C = 2, layer 0: warm-up {3,1} (3 last used at step 0, 1 at step 2); step 3: 2 evicts 3
    //          -> {2,1}; then 1, 2, 1 hit. Layer 1: warm-up {0,2}, 0 hit, 3 evicts 2 (last used
    //          step 0 vs 0 at step 1) -> {0,3}; scored 3 0 3 0 all hit. Hits 7, misses 1.
    check(result(results, "lru", 2), {8, 7, 1, 0, 0, 1.0, 4.0});
    // belady bounds static only because a miss may stream through when it is needed later than
    // every resident (always admitting, it would get 1 hit at C = 1):
    //   C = 1, layer 0 (needs 3 1 1 | 2 1 2 1): 3 -> {3}; 1 replaces 3 (never needed again);
    //          1 hits; 2 (next at 5) streams past 1 (next at 4); 1 hits; 2 (never again)
    //          streams past 1 (at 6); 1 hits. Scored: 2 hits.
    //          layer 1 (needs {0,2} 0 3 | 3 0 3 0): 0 -> {0}, 2 streams (0 is needed); 0 hits;
    //          3 (next at 3) replaces 0 (at 4); 3 hits; 0 (at 6) streams past 3 (at 5); 3 hits;
    //          0 misses. Scored: 2 hits. Hits 4, misses 4: static's 4.
    check(result(results, "belady", 1), {8, 4, 4, 0, 0, 4.0, 4.0});
    //   C = 2, layer 0: {3, 1} after the warm-up; 2 replaces 3 (never again) -> {2, 1}; then 1 2
    //          1 hit: 3 hits. Layer 1: {0, 2}; 3 replaces 2 (never again) -> {0, 3}: 4 hits.
    check(result(results, "belady", 2), {8, 7, 1, 0, 0, 1.0, 4.0});
}

TEST_CASE("simulator: previous-token prefetching loads the expert the sequence just used",
          "[prefetch]") {
    // E = 4, k = 1, MoE layers 0 and 1. One request: prefill (0, 1), (0, 2), then decode
    // (0, 2), (0, 3), (0, 1). Steps: s0 = prefill, s1, s2, s3. Layer 0 always needs {0};
    // layer 1 needs {1,2}, {2}, {3}, {1}.
    // 1 byte at 1 byte/s: a load takes 1 s; layer_compute_s = 1 -> budget 1 load, partial 0.
    // Previous-token forecast (u = 0.01, k = 1): 0.99 + 0.0025 = 0.9925 on the expert the
    // sequence's previous token picked (the last prefill token for a prefill), 0.0025 elsewhere;
    // uniform 0.25 without history. Batch forecast q = 1 - prod_t (1 - p_t).
    const Trace trace = hand_trace(ModelShape{4, 1, {0, 1}},
                                   {{2, {P({0, 1}), P({0, 2}), D({0, 2}), D({0, 3}), D({0, 1})}}});
    std::vector<AnyPredictor> predictors;
    predictors.emplace_back(PreviousTokenPredictor(trace.shape));
    CacheSimulator sim(trace, options(0.0, 1, {1, 2}, CostModel{1.0, 1.0, 1.0}),
                       {lru, prefetch("previous-token", 0)}, std::move(predictors));
    const auto results = sim.run();
    // Layer 0 (no prefetching there): s0 misses, s1-s3 hit, for every policy and size.
    // previous-token, C = 1, layer 1:
    //   s0: no history: q = 1 - 0.75^2 = 0.4375 for all; plan on {free}: load 0 (tie: smallest
    //       id), 1 action, stall max(0, 1 - 1) = 0. N = {1,2}: 1 misses, evicts 0 (prefetched,
    //       unused: wasted 1) -> {1}; 2 misses and streams. 2 misses.
    //   s1: history 2 (last prefill token): q2 = 0.9925 > q1 = 0.0025: load 2 over 1 (1 action).
    //       N = {2}: hit.
    //   s2: q2 high, 2 resident: no candidate beats it. N = {3}: miss -> {3}.
    //   s3: q3 high, 3 resident: nothing. N = {1}: miss -> {1}.
    //   layer 1: needed 5, hits 1, misses 4, prefetches 2, wasted 1.
    // Totals: needed 4 + 5 = 9, hits 3 + 1 = 4, misses 1 + 4 = 5, stall 5, compute 8 x 1 = 8.
    const PolicyResult& ahead1 = result(results, "previous-token", 1);
    check(ahead1, {9, 4, 5, 2, 1, 5.0, 8.0});
    // lru, C = 1, layer 1: s0: 1 -> {1}, 2 streams; s1: 2 miss; s2: 3 miss; s3: 1 miss. No hit.
    //   Totals: hits 3, misses 6, stall 6.
    const PolicyResult& lru1 = result(results, "lru", 1);
    check(lru1, {9, 3, 6, 0, 0, 6.0, 8.0});
    CHECK(ahead1.speedup_over(lru1) == Approx((8.0 + 6.0) / (8.0 + 5.0)));
    CHECK(ahead1.bytes_moved() == 7.0);   // 5 demand loads + 2 prefetches, 1 byte each
    CHECK(ahead1.wasted_bytes() == 1.0);  // expert 0, prefetched at s0
    // previous-token, C = 2, layer 1:
    //   s0: plan on {free, free}: load 0 into slot 0; a second load would need 0.4375 > 1.
    //       N = {1,2}: 1 -> free slot 1; 2 evicts 0 (not needed; wasted 1) -> {2,1}.
    //   s1: q2 = 0.9925, q0 = q1 = q3 = 0.0025: victims 1 (slot 1), 2; candidate 0 (0.0025) is
    //       not likelier than 1: nothing. N = {2}: hit.
    //   s2: same, nothing. N = {3}: miss, evicts the lowest q: 1 -> {2,3}.
    //   s3: q3 high: candidate 0 ties with resident 2: nothing. N = {1}: miss, evicts 2 (q 0.0025
    //       against 3's 0.9925) -> {1,3}.
    //   layer 1: hits 1, misses 4, prefetches 1, wasted 1.
    check(result(results, "previous-token", 2), {9, 4, 5, 1, 1, 5.0, 8.0});
    // lru, C = 2, layer 1: {1,2}; 2 hit; 3 evicts 1 (last used s0) -> {3,2}; 1 evicts 2 (s1).
    check(result(results, "lru", 2), {9, 4, 5, 0, 0, 5.0, 8.0});
}

TEST_CASE("simulator: frequency prefetching, wasted prefetches and speedup", "[prefetch]") {
    // E = 4, k = 1, MoE layers 0 and 1; one request of six decode steps (layer 0, layer 1):
    //   (0,1) (0,2) (1,1) (2,2) (0,3) (0,2)
    // 2 bytes at 2 bytes/s: 1 s per load; layer_compute_s = 1: budget 1 load, partial 0.
    // Frequency forecast for a layer: (c_e + 1) / (C + 4), c_e the tokens that picked e there in
    // the steps observed so far; for one token q = p.
    const Trace trace = hand_trace(
        ModelShape{4, 1, {0, 1}},
        {{std::nullopt, {D({0, 1}), D({0, 2}), D({1, 1}), D({2, 2}), D({0, 3}), D({0, 2})}}});
    std::vector<AnyPredictor> predictors;
    predictors.emplace_back(FrequencyPredictor(trace.shape));
    CacheSimulator sim(trace, options(0.0, 1, {1, 2}, CostModel{2.0, 2.0, 1.0}),
                       {lru, prefetch("frequency", 0)}, std::move(predictors));
    const auto results = sim.run();

    // frequency, C = 2.
    //   Layer 0 (evictions ranked by the next-token forecast of layer 0, no prefetch):
    //     s0 0 miss -> {0}; s1 hit; s2 1 miss -> {0,1}; s3 2 miss: counts 0:2, 1:1 give
    //     q0 = 3/7 > q1 = 2/7: evict 1 -> {0,2}; s4, s5: 0 hits. 3 hits, 3 misses.
    //   Layer 1:
    //     s0: counts none: q = 1/4 for all: load 0 into slot 0 (1 action). N = {1}: free slot 1
    //         -> {0,1}. miss.
    //     s1: counts 1:1: q1 = 2/5, others 1/5: victims 0 (1/5), 1; candidate 2 (1/5) is not
    //         likelier than 0: nothing. N = {2}: miss, evicts the lower q, 0 (unused: wasted 1)
    //         -> {2,1}.
    //     s2: counts 1:1, 2:1: q1 = q2 = 2/6, q0 = q3 = 1/6: nothing. N = {1}: hit.
    //     s3: counts 1:2, 2:1: q1 = 3/7, q2 = 2/7: nothing. N = {2}: hit.
    //     s4: counts 1:2, 2:2: q1 = q2 = 3/8: nothing. N = {3}: miss; 2 and 1 tie on q, the
    //         least recent (1, last used at s2) goes -> {2,3}.
    //     s5: counts 1:2, 2:2, 3:1: q1 = q2 = 3/9, q3 = 2/9, q0 = 1/9: victims 3 (2/9), 2;
    //         candidates 1 (3/9), 0: load 1 over 3. N = {2}: hit. 1 stays unused to the end:
    //         wasted 2.
    //     3 hits, 3 misses, 2 prefetches (1 s each inside 1 s of compute: no stall).
    //   Totals: needed 12, hits 6, misses 6, stall 6, compute 12 x 1 = 12.
    const PolicyResult& freq2 = result(results, "frequency", 2);
    check(freq2, {12, 6, 6, 2, 2, 6.0, 12.0});
    CHECK(freq2.bytes_moved() == 16.0);  // (6 + 2) x 2 bytes
    CHECK(freq2.wasted_bytes() == 4.0);  // 2 x 2 bytes
    CHECK(freq2.hit_rate() == Approx(0.5));
    // lru, C = 2. Layer 0: s0 {0}, s1 hit, s2 {0,1}, s3 2 evicts 0 (last used s1) -> {2,1},
    //   s4 0 evicts 1 -> {2,0}, s5 hit: 2 hits, 4 misses. Layer 1: 1, 2 into free slots, 1 and
    //   2 hit, 3 evicts 1 (s2), 2 hits: 3 hits, 3 misses. Totals: hits 5, misses 7.
    const PolicyResult& lru2 = result(results, "lru", 2);
    check(lru2, {12, 5, 7, 0, 0, 7.0, 12.0});
    CHECK(freq2.speedup_over(lru2) == Approx((12.0 + 7.0) / (12.0 + 6.0)));

    // frequency, C = 1.
    //   Layer 0: one slot: s0 miss, s1 hit, s2 miss, s3 miss, s4 miss, s5 hit: 2 hits.
    //   Layer 1:
    //     s0: load 0 (uniform, smallest id); N = {1}: miss, evicts 0 unused (wasted 1) -> {1}.
    //     s1: q1 = 2/5: candidates at 1/5: nothing. {2}: miss -> {2}.
    //     s2: q1 = q2 = 2/6: candidate 1 only ties with 2: nothing. {1}: miss -> {1}.
    //     s3: q1 = 3/7 > q2: nothing. {2}: miss -> {2}.
    //     s4: q1 = q2 = 3/8: nothing. {3}: miss -> {3}.
    //     s5: candidates 1, 2 (3/9 each, 1 the smaller id) against 3 (2/9): load 1 over 3.
    //         {2}: miss, evicts 1 unused (wasted 2) -> {2}.
    //     0 hits, 6 misses, 2 prefetches.
    //   Totals: hits 2, misses 10, stall 10.
    const PolicyResult& freq1 = result(results, "frequency", 1);
    check(freq1, {12, 2, 10, 2, 2, 10.0, 12.0});
    CHECK(freq1.bytes_moved() == 24.0);
    // lru, C = 1: layer 0 hits at s1 and s5, layer 1 never repeats at once: hits 2, misses 10.
    const PolicyResult& lru1 = result(results, "lru", 1);
    check(lru1, {12, 2, 10, 0, 0, 10.0, 12.0});
    CHECK(freq1.speedup_over(lru1) == Approx(1.0));
}

TEST_CASE("simulator: a partial load is issued for a likely expert and stalls for the rest",
          "[prefetch]") {
    // E = 4, k = 2, MoE layers 0 and 1. One request: prefill (layer 0 {0,1}, layer 1 {0,1}),
    // (layer 0 {0,1}, layer 1 {2,3}), then one decode (layer 0 {0,1}, layer 1 {2,3}).
    // 1 s per load, layer_compute_s = 1.5: budget 1 load, partial 0.5: a second load is issued
    // when q > 0.5, and then the layer stalls 2 x 1 - 1.5 = 0.5 s.
    const Trace trace = hand_trace(ModelShape{4, 2, {0, 1}},
                                   {{2, {P({0, 1, 0, 1}), P({0, 1, 2, 3}), D({0, 1, 2, 3})}}});
    std::vector<AnyPredictor> predictors;
    predictors.emplace_back(PreviousTokenPredictor(trace.shape));
    CacheSimulator sim(trace, options(0.0, 1, {2}, CostModel{1.0, 1.0, 1.5}),
                       {lru, prefetch("previous-token", 0)}, std::move(predictors));
    const auto results = sim.run();
    // Layer 0: s0 N = {0,1}: 2 misses into free slots; s1: 2 hits.
    // Layer 1, previous-token:
    //   s0: two tokens without history: p = 1/4, inclusion min(1, 2/4) = 0.5 each, q = 1 - 0.5^2
    //       = 0.75 for every expert. Load 0 into slot 0 (within budget), then 1 into slot 1 as
    //       0.75 > 0.5: 2 prefetches, stall 0.5. N = {0,1,2,3}: 0, 1 hit; 2 and 3 stream (both
    //       residents are needed): 2 misses, stall 2.
    //   s1: history {2,3} (the last prefill token): p = 0.495 + 0.0025, q = 0.995 for 2 and 3,
    //       0.005 for 0 and 1. 2 over 0 (slot 0), 3 over 1 as 0.995 > 0.5: 2 prefetches, stall
    //       0.5. N = {2,3}: 2 hits. 0 and 1 were used before being evicted: nothing wasted.
    // Totals: needed 4 + 6 = 10, hits 2 + 4 = 6, misses 2 + 2 = 4, prefetches 4,
    //   stall 2 + (0.5 + 2) + 0.5 = 5, compute 4 x 1.5 = 6.
    const PolicyResult& ahead = result(results, "previous-token", 2);
    check(ahead, {10, 6, 4, 4, 0, 5.0, 6.0});
    // lru: layer 0 the same; layer 1: s0 0, 1 into the slots, 2 and 3 stream; s1 2 and 3 miss
    //   and replace 0 and 1: 6 misses. Totals: hits 2, misses 8, stall 8.
    const PolicyResult& by_lru = result(results, "lru", 2);
    check(by_lru, {10, 2, 8, 0, 0, 8.0, 6.0});
    CHECK(ahead.speedup_over(by_lru) == Approx((6.0 + 8.0) / (6.0 + 5.0)));
}

TEST_CASE("replay_batched: B = 2 runs requests side by side, a finished one replaced by the next",
          "[prefetch][replay]") {
    const Trace trace = four_requests();
    // Warm-up floor(0.5 x 4) = 2: requests 0 and 1.
    // B = 2: step 0 carries request 0's decode token and request 1's prefill; request 0 is done,
    // so request 2 joins at step 1 next to request 1's decode; request 1 is done, request 3 joins
    // at step 2 next to request 2; request 3 is done; step 3 carries request 2's last token.
    // In-flight requests keep the order in which they joined (id order).
    BatchRecorder two;
    replay_batched(trace, ReplayOptions{0.5}, 2, two);
    CHECK(two.log ==
          "R0w R1w #0 [0,1)D- [1,3)P-:0 /R0 "
          "R2e #1 [3,4)D+ [4,5)D-:0 /R1 "
          "R3e #2 [5,6)D+ [7,8)D-:0 /R3 "
          "#3 [6,7)D+:0 /R2 ");
    // B = 1: one request at a time, as replay() does.
    BatchRecorder one;
    replay_batched(trace, ReplayOptions{0.5}, 1, one);
    CHECK(one.log ==
          "R0w #0 [0,1)D-:0 /R0 "
          "R1w #1 [1,3)P-:0 #2 [3,4)D+:0 /R1 "
          "R2e #3 [4,5)D-:0 #4 [5,6)D+:0 #5 [6,7)D+:0 /R2 "
          "R3e #6 [7,8)D-:0 /R3 ");
    // B larger than the trace: everything joins at once.
    BatchRecorder all;
    replay_batched(trace, ReplayOptions{0.0}, 8, all);
    CHECK(all.log ==
          "R0e R1e R2e R3e #0 [0,1)D- [1,3)P- [4,5)D- [7,8)D-:0 /R0 /R3 "
          "#1 [3,4)D+ [5,6)D+:0 /R1 "
          "#2 [6,7)D+:0 /R2 ");
}

TEST_CASE("simulator: with B = 2 a step needs the union of its requests' experts", "[prefetch]") {
    const Trace trace = four_requests();
    // B = 2, warm-up requests 0 and 1 (see the replay_batched case). Needed sets:
    //   step 0: request 0 {0} + request 1's prefill {1}  = {0,1}  not scored (both warm-up)
    //   step 1: request 1 {1} + request 2 {2}             = {1,2}  scored (request 2 is not
    //                                                               warm-up)
    //   step 2: request 2 {3} + request 3 {2}             = {2,3}  scored
    //   step 3: request 2 {2}                             = {2}    scored
    // 1 s per load, 0.5 s compute: 3 scored cells, 1.5 s.
    CacheSimulator sim(trace, options(0.5, 2, {1, 2}, CostModel{1.0, 1.0, 0.5}), {lru}, {});
    const auto results = sim.run();
    // C = 2: step 0 {0,1} (both last used at step 0). Step 1: 1 hits; 2 evicts 0 (1 is needed)
    //   -> {2,1}. Step 2: 2 hits; 3 evicts 1 -> {2,3}. Step 3: 2 hits. Scored: 5 needed, 3 hits.
    const PolicyResult& two_slots = result(results, "lru", 2);
    check(two_slots, {5, 3, 2, 0, 0, 2.0, 1.5});
    CHECK(two_slots.batch == 2);
    // C = 1: step 0 {0}, 1 streams. Step 1: 1 evicts 0, 2 streams. Step 2: 2 evicts 1, 3
    //   streams. Step 3: 2 hits. Scored: 5 needed, 1 hit, 4 misses.
    check(result(results, "lru", 1), {5, 1, 4, 0, 0, 4.0, 1.5});
}

TEST_CASE("policy result formulas", "[prefetch]") {
    PolicyResult baseline;
    baseline.compute_s = 4.0;
    baseline.stall_s = 6.0;
    PolicyResult r;
    r.needed = 8;
    r.hits = 6;
    r.demand_loads = 2;
    r.prefetches = 3;
    r.wasted = 1;
    r.compute_s = 4.0;
    r.stall_s = 1.0;
    r.expert_bytes = 5.0;
    CHECK(r.hit_rate() == Approx(0.75));           // 6 / 8
    CHECK(r.bytes_moved() == Approx(25.0));        // (2 + 3) x 5
    CHECK(r.wasted_bytes() == Approx(5.0));        // 1 x 5
    CHECK(r.speedup_over(baseline) == Approx(2));  // (4 + 6) / (4 + 1)
    CHECK(baseline.speedup_over(r) == Approx(0.5));
    CHECK(PolicyResult{}.hit_rate() == 0.0);  // nothing needed
}
