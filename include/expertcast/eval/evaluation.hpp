// Prequential evaluation of predictors on a trace (../shared/spec/evaluation.md sections 2-4):
// every predictor forecasts each scored (token, layer) before it observes the truth, and keeps
// learning afterwards. Next-layer forecasts (the headline) and next-token forecasts are scored
// separately, per layer and per phase as well as overall.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/core/forecast.hpp"
#include "expertcast/core/predictor.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/eval/metrics.hpp"
#include "expertcast/eval/replay.hpp"
#include "expertcast/trace/trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

struct EvaluationOptions {
    ReplayOptions replay;
    /// The next-layer forecast for layer l is made right after layer l - horizon is routed.
    std::uint32_t horizon = 1;
    /// Also score the next-token forecast (every layer of a decode step, made before the step).
    bool next_token = true;
    /// Called after every replayed step with (steps done, steps in all); may be empty.
    std::function<void(std::size_t, std::size_t)> progress;

    void validate(const ModelShape& shape) const {
        replay.validate();
        if (horizon == 0 || horizon >= shape.num_moe_layers())
            throw ConfigError("evaluation: horizon must be in [1, " +
                              std::to_string(shape.num_moe_layers() - 1) + "], got " +
                              std::to_string(horizon));
    }
};

/// Totals overall, per MoE layer and per phase (index Phase::prefill / Phase::decode).
struct MetricBreakdown {
    MetricTotals total;
    std::vector<MetricTotals> per_layer;
    std::array<MetricTotals, 2> per_phase;

    void add(std::uint32_t layer, Phase phase, const PairScore& score) {
        total.add(score);
        per_layer[layer].add(score);
        per_phase[static_cast<std::size_t>(phase)].add(score);
    }
};

struct PredictorEvaluation {
    std::string name;
    MetricBreakdown next_layer;
    MetricBreakdown next_token;
};

struct Evaluation {
    std::string trace;
    ModelShape shape;
    std::size_t requests = 0;
    std::size_t evaluated_requests = 0;
    EvaluationOptions options;
    std::vector<PredictorEvaluation> predictors;
};

namespace detail {

// Drives the predictors through replay() and scores their forecasts.
template <Predictor P>
class EvaluationVisitor {
public:
    EvaluationVisitor(const Trace& trace, std::span<P> predictors, Evaluation& result)
        : trace_(trace),
          predictors_(predictors),
          result_(result),
          buffers_(trace),
          E_(trace.shape.num_experts),
          total_steps_(result.options.progress ? count_replay_steps(trace) : 0) {}

    void begin_request(const TraceRequest&, bool) {}

    void begin_step(const ReplayStep& step) {
        const TokenBatch batch = buffers_.begin(step);
        forecast_.resize(step.num_tokens() * E_);
        for (auto& p : predictors_) p.begin_step(batch);

        if (step.evaluated && !step.prefill && step.follows_earlier_step &&
            result_.options.next_token) {
            for (std::uint32_t l = 0; l < trace_.shape.num_moe_layers(); ++l)
                score(step, ForecastTarget::next_token(l), &PredictorEvaluation::next_token);
        }
    }

    void layer(const ReplayStep& step, std::uint32_t l) {
        const LayerRouting routing = buffers_.layer(step, l);
        for (auto& p : predictors_) p.observe(routing);

        const std::uint32_t h = result_.options.horizon;
        if (step.evaluated && l + h < trace_.shape.num_moe_layers())
            score(step, ForecastTarget::next_layer(l + h, h), &PredictorEvaluation::next_layer);
    }

    void end_step(const ReplayStep&) {
        if (result_.options.progress) result_.options.progress(++done_steps_, total_steps_);
    }

    void end_request(const TraceRequest& request) {
        for (auto& p : predictors_) p.end_sequence(static_cast<SequenceId>(request.id));
    }

private:
    // Forecasts `target` with every predictor and scores each token whose truth is recorded.
    void score(const ReplayStep& step, ForecastTarget target,
               MetricBreakdown PredictorEvaluation::*kind) {
        for (std::size_t i = 0; i < predictors_.size(); ++i) {
            predictors_[i].forecast(target, forecast_);
            for (std::size_t t = 0; t < step.num_tokens(); ++t) {
                const std::size_t token = step.token_begin + t;
                if (!trace_.recorded(token, target.layer)) continue;
                const PairScore s =
                    score_forecast(std::span<const float>(forecast_).subspan(t * E_, E_),
                                   trace_.row(token, target.layer));
                (result_.predictors[i].*kind).add(target.layer, trace_.phases[token], s);
            }
        }
    }

    const Trace& trace_;
    std::span<P> predictors_;
    Evaluation& result_;
    StepBuffers buffers_;
    std::uint32_t E_;
    std::size_t total_steps_;
    std::size_t done_steps_ = 0;
    std::vector<float> forecast_;
};

}  // namespace detail

/// Replays `trace` through `predictors` and returns every figure of the evaluation protocol.
/// Predictors should be fresh: they learn from the warm-up requests first.
template <Predictor P>
Evaluation evaluate(const Trace& trace, std::span<P> predictors,
                    const EvaluationOptions& options = {}) {
    options.validate(trace.shape);
    for (const auto& p : predictors)
        if (!(p.shape() == trace.shape))
            throw ConfigError("evaluation: predictor '" + std::string(p.name()) +
                              "' was built for a different model shape than the trace's");
    Evaluation result;
    result.trace = trace.source;
    result.shape = trace.shape;
    result.requests = trace.requests.size();
    result.evaluated_requests =
        trace.requests.size() -
        warmup_requests(options.replay.warmup_fraction, trace.requests.size());
    result.options = options;
    for (const auto& p : predictors) {
        PredictorEvaluation e;
        e.name = std::string(p.name());
        e.next_layer.per_layer.resize(trace.shape.num_moe_layers());
        e.next_token.per_layer.resize(trace.shape.num_moe_layers());
        result.predictors.push_back(std::move(e));
    }
    detail::EvaluationVisitor<P> visitor(trace, predictors, result);
    replay(trace, options.replay, visitor);
    return result;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
