// Replay order, the warm-up split and which pairs the evaluation scores, on a hand-built trace.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "expertcast/eval/evaluation.hpp"
#include "expertcast/eval/fit.hpp"
#include "expertcast/eval/replay.hpp"
#include "expertcast/eval/tuning.hpp"
#include "expertcast/predictors/any_predictor.hpp"
#include "expertcast/predictors/baselines.hpp"

using namespace expertcast;

namespace {

// E = 4, k = 1, MoE on decoder layers 1 and 3.
//   request 10: prompt 2 -> positions 0,1 prefill (one step), 2 and 3 decode
//   request 11: prompt unknown -> positions 5, 6 decode; (6, layer 3) was lost
//   request 12: prompt 1 -> position 0 prefill, 1 decode
Trace hand_trace() {
    Trace t;
    t.source = "hand";
    t.format = "test";
    t.shape = ModelShape{4, 1, {1, 3}};
    struct Token {
        std::uint32_t position;
        Phase phase;
        ExpertId l0, l1;
    };
    const std::vector<std::pair<TraceRequest, std::vector<Token>>> requests = {
        {{10, 2, 0, 0},
         {{0, Phase::prefill, 0, 1},
          {1, Phase::prefill, 2, 3},
          {2, Phase::decode, 0, 1},
          {3, Phase::decode, 2, 3}}},
        {{11, std::nullopt, 0, 0}, {{5, Phase::decode, 1, 2}, {6, Phase::decode, 1, not_recorded}}},
        {{12, 1, 0, 0}, {{0, Phase::prefill, 3, 2}, {1, Phase::decode, 3, 2}}},
    };
    for (auto [request, tokens] : requests) {
        request.token_begin = t.positions.size();
        for (const Token& token : tokens) {
            t.positions.push_back(token.position);
            t.phases.push_back(token.phase);
            t.experts.push_back(token.l0);
            t.experts.push_back(token.l1);
        }
        request.token_end = t.positions.size();
        t.requests.push_back(request);
    }
    return t;
}

struct Recorder {
    const Trace& trace;
    std::string log;
    void begin_request(const TraceRequest& r, bool evaluated) {
        log += fmt::format("R{}{} ", r.id, evaluated ? 'e' : 'w');
    }
    void begin_step(const ReplayStep& s) {
        log += fmt::format("[{},{}){}{}:", s.token_begin, s.token_end, s.prefill ? 'P' : 'D',
                           s.follows_earlier_step ? '+' : '-');
    }
    void layer(const ReplayStep&, std::uint32_t l) { log += fmt::format("{}", l); }
    void end_step(const ReplayStep&) { log += " "; }
    void end_request(const TraceRequest& r) { log += fmt::format("/R{} ", r.id); }
};

}  // namespace

TEST_CASE("replay visits requests, steps and layers in execution order", "[replay]") {
    const Trace trace = hand_trace();
    Recorder recorder{trace, {}};
    replay(trace, ReplayOptions{0.5}, recorder);
    // floor(0.5 * 3) = 1 warm-up request. The prefill of request 10 is one step of two tokens.
    CHECK(recorder.log ==
          "R10w [0,2)P-:01 [2,3)D+:01 [3,4)D+:01 /R10 "
          "R11e [4,5)D-:01 [5,6)D+:01 /R11 "
          "R12e [6,7)P-:01 [7,8)D+:01 /R12 ");
    CHECK(count_replay_steps(trace) == 7);
}

TEST_CASE("the warm-up is the first floor(f * N) requests", "[replay]") {
    CHECK(warmup_requests(0.5, 55) == 27);
    CHECK(warmup_requests(0.5, 3) == 1);
    CHECK(warmup_requests(0.29, 100) == 29);  // 0.29 * 100 is 28.999... in binary
    CHECK(warmup_requests(0.0, 10) == 0);
    CHECK(warmup_requests(1.0, 10) == 10);
    const Trace trace = hand_trace();
    Recorder all_evaluated{trace, {}};
    replay(trace, ReplayOptions{0.0}, all_evaluated);
    CHECK(all_evaluated.log.find("R10e") != std::string::npos);
    Recorder bad{trace, {}};
    CHECK_THROWS_AS(replay(trace, ReplayOptions{1.5}, bad), ConfigError);
}

TEST_CASE("evaluation scores exactly the protocol's pairs", "[replay][evaluation]") {
    const Trace trace = hand_trace();
    std::vector<AnyPredictor> predictors;
    predictors.emplace_back(UniformPredictor(trace.shape));
    predictors.emplace_back(PreviousTokenPredictor(trace.shape));
    const Evaluation e = evaluate(trace, std::span<AnyPredictor>(predictors));
    REQUIRE(e.predictors.size() == 2);
    CHECK(e.requests == 3);
    CHECK(e.evaluated_requests == 2);

    // Next-layer pairs: layer 1 of evaluated tokens where recorded: (11,5) (12,0) (12,1);
    // (11,6) lost its layer-1 routing.
    const auto& uniform = e.predictors[0];
    const auto& previous = e.predictors[1];
    CHECK(uniform.next_layer.total.pairs == 3);
    CHECK(uniform.next_layer.per_layer[0].pairs == 0);  // the first MoE layer is never scored
    CHECK(uniform.next_layer.per_phase[0].pairs == 1);  // (12,0) is a prefill token
    CHECK(uniform.next_layer.per_phase[1].pairs == 2);
    // Truths 2, 2, 2. Uniform ranks expert 0 first: no hits. Previous-token has no history for
    // (11,5) and (12,0), then repeats (12,0)'s 2 for (12,1): one hit in three.
    CHECK(uniform.next_layer.total.mean().recall_at_k == 0.0);
    CHECK(previous.next_layer.total.mean().recall_at_k == Approx(1.0 / 3));

    // Next-token pairs: decode steps that follow an earlier step of their request:
    // (11,6) layer 0 (layer 1 lost) and (12,1) layers 0 and 1. (11,5) is its request's first step.
    CHECK(uniform.next_token.total.pairs == 3);
    // Previous-token: (11,6) L0 repeats 1 (hit), (12,1) L0 repeats 3 (hit), L1 repeats 2 (hit).
    CHECK(previous.next_token.total.mean().recall_at_k == 1.0);
    CHECK(uniform.next_token.total.mean().recall_at_k == 0.0);

    // Horizon 1 only scores layers >= 1; the next-token forecast can be switched off.
    EvaluationOptions no_next_token;
    no_next_token.next_token = false;
    std::vector<AnyPredictor> again;
    again.emplace_back(UniformPredictor(trace.shape));
    const Evaluation e2 = evaluate(trace, std::span<AnyPredictor>(again), no_next_token);
    CHECK(e2.predictors[0].next_token.total.pairs == 0);
    CHECK(e2.predictors[0].next_layer.total.pairs == 3);
}

TEST_CASE("fit learns from a range of requests and freezes", "[replay][fit]") {
    const Trace trace = hand_trace();
    // Requests 11 and 12 only: layer-0 experts 1, 1, 3, 3 -> counts [0 2 0 2], add-one: /(4 + 4).
    FrequencyPredictor p(trace.shape);
    fit(p, trace, FitOptions{1, 3, true});
    CHECK(p.frozen());
    const SequenceId id[1] = {99};
    p.begin_step(TokenBatch{id, {}});
    std::vector<float> out(4);
    p.forecast(ForecastTarget::next_token(0), out);
    CHECK(out[0] == Approx(1.0 / 8));
    CHECK(out[1] == Approx(3.0 / 8));
    CHECK(out[3] == Approx(3.0 / 8));
    // Layer 1 of those requests: 2, (lost), 2, 2 -> [0 0 3 0] / 3 tokens: (c + 1) / (3 + 4).
    p.forecast(ForecastTarget::next_token(1), out);
    CHECK(out[2] == Approx(4.0 / 7));
}

TEST_CASE("cross-validation scores every tuning request once and nothing else",
          "[replay][tuning]") {
    const Trace trace = hand_trace();
    // Next-layer pairs per request (layer 1 recorded): request 10: 4, 11: 1, 12: 2.
    auto uniform = [](const ModelShape& s) { return AnyPredictor(UniformPredictor(s)); };
    CHECK(cross_validate(trace, uniform, CrossValidationOptions{1.0, 3}).pairs == 7);
    // Tuning part floor(0.67 * 3) = 2 requests (10, 11): leave-one-out over them.
    CHECK(cross_validate(trace, uniform, CrossValidationOptions{0.67, 3}).pairs == 5);
    CHECK_THROWS_AS(cross_validate(trace, uniform, CrossValidationOptions{0.34, 3}), ConfigError);
    // select_requests keeps the order asked for.
    const std::size_t order[2] = {2, 0};
    const Trace picked = select_requests(trace, order);
    REQUIRE(picked.requests.size() == 2);
    CHECK(picked.requests[0].id == 12);
    CHECK(picked.requests[1].id == 10);
}

TEST_CASE("the tuning search keeps only changes that raise the cross-validated score",
          "[replay][tuning]") {
    const Trace trace = hand_trace();
    // One parameter with three values, two of which are the same predictor as the start.
    std::vector<TuningParameter> space{{"members",
                                        {"previous-token", "uniform", "frequency"},
                                        [](PredictorOptions& o, std::size_t i) {
                                            o.mixture.members = {std::vector<std::string>{
                                                "previous-token", "uniform", "frequency"}[i]};
                                        }}};
    PredictorOptions start;
    start.mixture.members = {"uniform"};
    std::vector<std::string> seen;
    const PredictorOptions chosen = tune_mixture(
        std::span<const Trace>(&trace, 1), start, space, CrossValidationOptions{1.0, 3}, 2,
        [&seen](const TuningTrial& t) { seen.push_back(t.value + (t.best ? "*" : "")); });
    // Folds of one request each; layer-1 truths: request 10: 1 3 1 3, 11: 2, 12: 2 2.
    // uniform ranks expert 0 first: 0 of 7. frequency learns from the other requests: for 10 it
    // predicts 2 (then 2 again), for 11 the tie {1, 2, 3} goes to 1, for 12 it predicts 1 twice:
    // 0 of 7. previous-token hits only (12, 1), repeating (12, 0)'s 2: 1 of 7, so it is kept in
    // round 1; round 2 finds nothing better and the search stops.
    CHECK(chosen.mixture.members == std::vector<std::string>{"previous-token"});
    CHECK(seen.front() == "*");  // the start
    CHECK(std::count(seen.begin(), seen.end(), "previous-token*") == 1);
    CHECK(seen.size() == 1 + 3 + 3);
}
