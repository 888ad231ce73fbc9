// Predictors by name, as the tools offer them: one name for one idea across code, command-line
// flags, tables and JSON ("previous-token", "frequency-decay"), with every option and its default
// in one place so that reports can state exactly what was run.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "expertcast/core/error.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/predictors/activation_match.hpp"
#include "expertcast/predictors/any_predictor.hpp"
#include "expertcast/predictors/baselines.hpp"
#include "expertcast/predictors/frequency_decay.hpp"
#include "expertcast/predictors/markov.hpp"
#include "expertcast/predictors/mixture.hpp"
#include "expertcast/predictors/ngram.hpp"
#include "expertcast/predictors/paper_heatmap.hpp"
#include "expertcast/predictors/recipes.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Every predictor's options; default-constructed means every default.
struct PredictorOptions : PredictorConfigs {
    MixtureOptions mixture;
};

/// `options` made to serve forecasts up to `deepest` layers ahead: Markov and the n-gram keep that
/// many layers of the step, and the mixture learns weights for every horizon up to it.
inline PredictorOptions serving_horizons(PredictorOptions options, std::uint32_t deepest) {
    for (PredictorConfigs* configs :
         {static_cast<PredictorConfigs*>(&options), &options.mixture.member_configs}) {
        configs->markov.max_horizon = std::max(configs->markov.max_horizon, deepest);
        configs->ngram.max_horizon = std::max(configs->ngram.max_horizon, deepest);
    }
    options.mixture.config.learned_horizons =
        std::max(options.mixture.config.learned_horizons, deepest);
    return options;
}

/// Names of the predictors the tools know: baselines and peer approaches first, then expertcast's.
inline constexpr std::array<std::string_view, 9> predictor_names = {
    "uniform", "frequency",       "previous-token", "paper-heatmap", "activation-match",
    "markov",  "frequency-decay", "ngram",          "mixture"};

/// The approaches expertcast's predictors are measured against: trivial baselines and the peer
/// approaches of the issue (frequency: Fiddler's static placement; previous-token: "repeat";
/// paper-heatmap: arXiv:2510.05497; activation-match: MoE-Infinity; markov: ExFlow's affinity).
inline bool is_baseline(std::string_view name) noexcept {
    return name == "uniform" || name == "frequency" || name == "previous-token" ||
           name == "paper-heatmap" || name == "activation-match" || name == "markov";
}

/// Throws ConfigError listing the known names when `name` is not one of them.
inline void check_predictor_name(std::string_view name) {
    for (auto known : predictor_names)
        if (known == name) return;
    std::string list;
    for (auto known : predictor_names) list += (list.empty() ? "" : ", ") + std::string(known);
    throw ConfigError("unknown predictor '" + std::string(name) + "' (known: " + list + ")");
}

namespace detail {

inline std::string describe_single(std::string_view name, const PredictorConfigs& o) {
    if (name == "previous-token")
        return fmt::format("uniform_share={}", o.previous_token.uniform_share);
    if (name == "markov")
        return fmt::format("smoothing={}, max_distance={}, sharpness={}, max_horizon={}",
                           o.markov.smoothing, o.markov.max_distance, o.markov.sharpness,
                           o.markov.max_horizon);
    if (name == "ngram")
        return fmt::format("order={}, previous_token={}, sharpness={}, memory_limit={} MiB",
                           o.ngram.order, o.ngram.previous_token, o.ngram.sharpness,
                           o.ngram.memory_limit_bytes >> 20);
    if (name == "frequency-decay")
        return fmt::format(
            "half_life={} tokens, sequence_half_life={} tokens, sequence_prior={} tokens, "
            "seed_from_prefill={}",
            o.frequency_decay.half_life_tokens, o.frequency_decay.sequence_half_life_tokens,
            o.frequency_decay.sequence_prior_tokens, o.frequency_decay.seed_from_prefill);
    if (name == "frequency") return "cumulative counts, add-one smoothing";
    if (name == "paper-heatmap")
        return "union of the top ceil(0.2 E) of the previous token's heatmap rows, 1% elsewhere";
    if (name == "activation-match")
        return fmt::format("capacity={} requests, smoothing={}", o.activation_match.capacity,
                           o.activation_match.smoothing);
    return "";
}

}  // namespace detail

inline AnyPredictor make_predictor(std::string_view name, const ModelShape& shape,
                                   const PredictorOptions& options = {}) {
    check_predictor_name(name);
    if (name != "mixture") return make_single_predictor(name, shape, options);
    return AnyPredictor(make_mixture(shape, options.mixture));
}

/// The predictor's options as "key=value, ..." (empty for those that have none).
inline std::string describe_predictor(std::string_view name, const PredictorOptions& o) {
    check_predictor_name(name);
    if (name != "mixture") return detail::describe_single(name, o);
    const MixtureConfig& c = o.mixture.config;
    std::string out =
        fmt::format("pooling={}, learning_rate={}, recovery={}, weights per MoE layer; members:",
                    c.pooling == MixtureConfig::Pooling::linear ? "linear" : "log-linear",
                    c.learning_rate, c.recovery);
    for (const auto& member : o.mixture.members)
        out += fmt::format("\n{:21}{} ({})", "", member,
                           detail::describe_single(member, o.mixture.member_configs));
    return out;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
