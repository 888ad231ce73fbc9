// An Evaluation as people read it (aligned text tables) and as programs read it (JSON with the
// field names of the protocol: "recall@k", "recall@2k", "hit@1", "brier", "nll", "pairs").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "expertcast/eval/evaluation.hpp"
#include "expertcast/eval/svg.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Which forecast a table or JSON list is about: the next-layer forecast at one of the evaluated
/// horizons (index into EvaluationOptions::horizons), or the next-token forecast.
struct ForecastKind {
    std::size_t horizon_index = 0;
    bool next_token = false;

    static ForecastKind next_layer(std::size_t horizon_index = 0) { return {horizon_index, false}; }
    static ForecastKind next_token_forecast() { return {0, true}; }
};

/// Every forecast the evaluation scored: each horizon, then the next-token forecast.
inline std::vector<ForecastKind> forecast_kinds(const Evaluation& e) {
    std::vector<ForecastKind> kinds;
    for (std::size_t i = 0; i < e.options.horizons.size(); ++i)
        kinds.push_back(ForecastKind::next_layer(i));
    if (e.options.next_token) kinds.push_back(ForecastKind::next_token_forecast());
    return kinds;
}

inline const MetricBreakdown& breakdown(const PredictorEvaluation& p, ForecastKind kind) {
    return kind.next_token ? p.next_token : p.at_horizon(kind.horizon_index);
}

inline std::string forecast_title(const Evaluation& e, ForecastKind kind) {
    if (kind.next_token)
        return "next-token forecast (every MoE layer of a decode step, made before the step)";
    const std::uint32_t h = e.options.horizons[kind.horizon_index];
    if (h == 1) return "next-layer forecast (layer l, made after MoE layer l-1 is routed)";
    return fmt::format("horizon-{} forecast (layer l, made after MoE layer l-{} is routed)", h, h);
}

/// predictor x recall@k, recall@2k, hit@1, brier, nll, pairs.
inline std::string format_summary_table(const Evaluation& e, ForecastKind kind) {
    std::string out = forecast_title(e, kind) + "\n";
    out += fmt::format("  {:<18} {:>9} {:>9} {:>7} {:>8} {:>8} {:>10}\n", "predictor", "recall@k",
                       "recall@2k", "hit@1", "brier", "nll", "pairs");
    for (const auto& p : e.predictors) {
        const MetricTotals& t = breakdown(p, kind).total;
        const PairScore m = t.mean();
        out += fmt::format("  {:<18} {:>9.4f} {:>9.4f} {:>7.4f} {:>8.5f} {:>8.4f} {:>10}\n", p.name,
                           m.recall_at_k, m.recall_at_2k, m.hit_at_1, m.brier, m.nll, t.pairs);
    }
    return out;
}

/// recall@k per MoE layer (rows, by decoder-layer index) and predictor (columns).
inline std::string format_layer_table(const Evaluation& e, ForecastKind kind) {
    std::string out = forecast_title(e, kind) + ": recall@k per MoE layer\n";
    out += fmt::format("  {:>5}", "layer");
    for (const auto& p : e.predictors) out += fmt::format(" {:>15}", p.name);
    out += fmt::format(" {:>9}\n", "pairs");
    for (std::uint32_t l = 0; l < e.shape.num_moe_layers(); ++l) {
        std::size_t pairs =
            e.predictors.empty() ? 0 : breakdown(e.predictors[0], kind).per_layer[l].pairs;
        if (pairs == 0) continue;
        out += fmt::format("  {:>5}", e.shape.moe_layers[l]);
        for (const auto& p : e.predictors)
            out += fmt::format(" {:>15.4f}", breakdown(p, kind).per_layer[l].mean().recall_at_k);
        out += fmt::format(" {:>9}\n", pairs);
    }
    return out;
}

/// All metrics per predictor and phase.
inline std::string format_phase_table(const Evaluation& e, ForecastKind kind) {
    std::string out = forecast_title(e, kind) + ": per phase\n";
    out += fmt::format("  {:<18} {:<8} {:>9} {:>9} {:>7} {:>8} {:>8} {:>10}\n", "predictor",
                       "phase", "recall@k", "recall@2k", "hit@1", "brier", "nll", "pairs");
    for (const auto& p : e.predictors)
        for (const Phase phase : {Phase::prefill, Phase::decode}) {
            const MetricTotals& t = breakdown(p, kind).per_phase[static_cast<std::size_t>(phase)];
            if (t.pairs == 0) continue;
            const PairScore m = t.mean();
            out +=
                fmt::format("  {:<18} {:<8} {:>9.4f} {:>9.4f} {:>7.4f} {:>8.5f} {:>8.4f} {:>10}\n",
                            p.name, phase == Phase::prefill ? "prefill" : "decode", m.recall_at_k,
                            m.recall_at_2k, m.hit_at_1, m.brier, m.nll, t.pairs);
        }
    return out;
}

inline nlohmann::json metrics_json(const MetricTotals& t) {
    const PairScore m = t.mean();
    return {{"recall@k", m.recall_at_k},
            {"recall@2k", m.recall_at_2k},
            {"hit@1", m.hit_at_1},
            {"brier", m.brier},
            {"nll", m.nll},
            {"pairs", t.pairs}};
}

/// recall@m against m (m = 1..E) for every predictor: how much of the routing a prefetcher that
/// loads the forecast's top m experts would have covered.
inline LineChart recall_chart(const Evaluation& e, ForecastKind kind, const std::string& title) {
    LineChart chart;
    chart.title = title;
    chart.x_label = fmt::format("m: experts loaded per token (of E = {}; k = {})",
                                e.shape.num_experts, e.shape.top_k);
    chart.y_label = "recall@m";
    for (const auto& p : e.predictors) {
        ChartSeries series{p.name, {}, false};
        const auto curve = breakdown(p, kind).recall_curve();
        for (std::size_t m = 0; m < curve.size(); ++m)
            series.points.emplace_back(static_cast<double>(m + 1), curve[m]);
        chart.series.push_back(std::move(series));
    }
    return chart;
}

inline nlohmann::json predictor_entries(const Evaluation& e, ForecastKind kind) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : e.predictors) {
        const MetricBreakdown& b = breakdown(p, kind);
        nlohmann::json entry = metrics_json(b.total);
        entry["predictor"] = p.name;
        nlohmann::json layers = nlohmann::json::array();
        for (std::uint32_t l = 0; l < e.shape.num_moe_layers(); ++l) {
            if (b.per_layer[l].pairs == 0) continue;
            nlohmann::json cell = metrics_json(b.per_layer[l]);
            cell["layer"] = e.shape.moe_layers[l];
            layers.push_back(std::move(cell));
        }
        entry["per_layer"] = std::move(layers);
        entry["per_phase"] = {{"prefill", metrics_json(b.per_phase[0])},
                              {"decode", metrics_json(b.per_phase[1])}};
        entry["recall@m"] = b.recall_curve();  // m = 1 .. E
        list.push_back(std::move(entry));
    }
    return list;
}

/// The evaluation in the shape the issue tracker and the README document ("next_layer" at the
/// first horizon, "next_token"), with every horizon under "horizons", and per-layer, per-phase
/// and recall@m (m = 1..E) figures in every predictor's entry.
inline nlohmann::json evaluation_json(const Evaluation& e) {
    nlohmann::json j;
    j["trace"] = e.trace;
    j["num_experts"] = e.shape.num_experts;
    j["top_k"] = e.shape.top_k;
    j["moe_layers"] = e.shape.moe_layers;
    j["requests"] = e.requests;
    j["evaluated_requests"] = e.evaluated_requests;
    j["warmup_fraction"] = e.options.replay.warmup_fraction;
    j["horizon"] = e.options.horizons.front();
    j["next_layer"] = predictor_entries(e, ForecastKind::next_layer(0));
    j["next_token"] = e.options.next_token
                          ? predictor_entries(e, ForecastKind::next_token_forecast())
                          : nlohmann::json::array();
    nlohmann::json horizons = nlohmann::json::array();
    for (std::size_t i = 0; i < e.options.horizons.size(); ++i)
        horizons.push_back({{"horizon", e.options.horizons[i]},
                            {"predictors", predictor_entries(e, ForecastKind::next_layer(i))}});
    j["horizons"] = std::move(horizons);
    return j;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
