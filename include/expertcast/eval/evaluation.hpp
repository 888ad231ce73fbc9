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
    /// Next-layer horizons to score: layer l is forecast right after layer l - h is routed. The
    /// first is the headline (PredictorEvaluation::next_layer).
    std::vector<std::uint32_t> horizons{1};
    /// Also score the next-token forecast (every layer of a decode step, made before the step).
    bool next_token = true;
    /// Called after every replayed step with (steps done, steps in all); may be empty.
    std::function<void(std::size_t, std::size_t)> progress;

    void validate(const ModelShape& shape) const {
        replay.validate();
        if (horizons.empty()) throw ConfigError("evaluation: no horizon to score");
        for (std::size_t i = 0; i < horizons.size(); ++i) {
            if (horizons[i] == 0 || horizons[i] >= shape.num_moe_layers())
                throw ConfigError("evaluation: horizon must be in [1, " +
                                  std::to_string(shape.num_moe_layers() - 1) + "], got " +
                                  std::to_string(horizons[i]));
            for (std::size_t j = 0; j < i; ++j)
                if (horizons[j] == horizons[i])
                    throw ConfigError("evaluation: horizon " + std::to_string(horizons[i]) +
                                      " is listed twice");
        }
    }
};

/// Totals overall, per MoE layer and per phase (index Phase::prefill / Phase::decode), and how
/// often a chosen expert sat at each rank of the forecast (recall@m for every m).
struct MetricBreakdown {
    MetricTotals total;
    std::vector<MetricTotals> per_layer;
    std::array<MetricTotals, 2> per_phase;
    std::vector<double> chosen_at_rank;  ///< E entries

    MetricBreakdown() = default;
    MetricBreakdown(std::uint32_t layers, std::uint32_t experts)
        : per_layer(layers), chosen_at_rank(experts, 0.0) {}

    void add(std::uint32_t layer, Phase phase, const PairScore& score,
             std::span<const std::size_t> ranks) {
        total.add(score);
        per_layer[layer].add(score);
        per_phase[static_cast<std::size_t>(phase)].add(score);
        for (const std::size_t r : ranks) chosen_at_rank[r] += 1.0;
    }

    /// recall@m = share of the chosen experts among the forecast's top m, for m = 1..E.
    std::vector<double> recall_curve() const {
        std::vector<double> curve(chosen_at_rank.size(), 0.0);
        double chosen = 0.0;
        for (double c : chosen_at_rank) chosen += c;
        double within = 0.0;
        for (std::size_t m = 0; m < curve.size(); ++m) {
            within += chosen_at_rank[m];
            curve[m] = chosen > 0.0 ? within / chosen : 0.0;
        }
        return curve;
    }
};

struct PredictorEvaluation {
    std::string name;
    MetricBreakdown next_layer;                  ///< at options.horizons[0]: the headline
    std::vector<MetricBreakdown> more_horizons;  ///< at options.horizons[1..]
    MetricBreakdown next_token;

    /// The breakdown of options.horizons[i].
    const MetricBreakdown& at_horizon(std::size_t i) const {
        return i == 0 ? next_layer : more_horizons[i - 1];
    }
    MetricBreakdown& at_horizon(std::size_t i) {
        return i == 0 ? next_layer : more_horizons[i - 1];
    }
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
                score(step, ForecastTarget::next_token(l), next_token_slot);
        }
    }

    void layer(const ReplayStep& step, std::uint32_t l) {
        const LayerRouting routing = buffers_.layer(step, l);
        for (auto& p : predictors_) p.observe(routing);

        if (!step.evaluated) return;
        const auto& horizons = result_.options.horizons;
        for (std::size_t i = 0; i < horizons.size(); ++i)
            if (l + horizons[i] < trace_.shape.num_moe_layers())
                score(step, ForecastTarget::next_layer(l + horizons[i], horizons[i]), i);
    }

    void end_step(const ReplayStep&) {
        if (result_.options.progress) result_.options.progress(++done_steps_, total_steps_);
    }

    void end_request(const TraceRequest& request) {
        for (auto& p : predictors_) p.end_sequence(static_cast<SequenceId>(request.id));
    }

private:
    // Forecasts `target` with every predictor and scores each token whose truth is recorded.
    static constexpr std::size_t next_token_slot = static_cast<std::size_t>(-1);

    // Forecasts `target` with every predictor and scores each token whose truth is recorded, into
    // the breakdown of horizon index `slot` (or the next-token one).
    void score(const ReplayStep& step, ForecastTarget target, std::size_t slot) {
        for (std::size_t i = 0; i < predictors_.size(); ++i) {
            predictors_[i].forecast(target, forecast_);
            PredictorEvaluation& p = result_.predictors[i];
            MetricBreakdown& into = slot == next_token_slot ? p.next_token : p.at_horizon(slot);
            for (std::size_t t = 0; t < step.num_tokens(); ++t) {
                const std::size_t token = step.token_begin + t;
                if (!trace_.recorded(token, target.layer)) continue;
                const auto truth = trace_.row(token, target.layer);
                const PairScore s = score_forecast(
                    std::span<const float>(forecast_).subspan(t * E_, E_), truth, ranks_.data());
                into.add(target.layer, trace_.phases[token], s, {ranks_.data(), truth.size()});
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
    std::vector<std::size_t> ranks_ = std::vector<std::size_t>(trace_.shape.top_k);
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
    const MetricBreakdown empty(trace.shape.num_moe_layers(), trace.shape.num_experts);
    for (const auto& p : predictors) {
        PredictorEvaluation e;
        e.name = std::string(p.name());
        e.next_layer = empty;
        e.more_horizons.assign(options.horizons.size() - 1, empty);
        e.next_token = empty;
        result.predictors.push_back(std::move(e));
    }
    detail::EvaluationVisitor<P> visitor(trace, predictors, result);
    replay(trace, options.replay, visitor);
    return result;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
