// Predictors by name, as the tools offer them: one name for one idea across code, command-line
// flags, tables and JSON ("previous-token", "frequency-decay"), with every option and its default
// in one place so that reports can state exactly what was run.
#pragma once

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
#include "expertcast/predictors/ngram.hpp"
#include "expertcast/predictors/paper_heatmap.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Every predictor's options; default-constructed means every default.
struct PredictorOptions {
    PreviousTokenConfig previous_token;
    MarkovConfig markov;
    NGramConfig ngram;
    FrequencyDecayConfig frequency_decay;
    ActivationMatchConfig activation_match;
};

/// Names of the predictors the tools know, baselines (and peer approaches) first.
inline constexpr std::array<std::string_view, 8> predictor_names = {
    "uniform",          "frequency", "previous-token",  "paper-heatmap",
    "activation-match", "markov",    "frequency-decay", "ngram"};

/// Throws ConfigError listing the known names when `name` is not one of them.
inline void check_predictor_name(std::string_view name) {
    for (auto known : predictor_names)
        if (known == name) return;
    std::string list;
    for (auto known : predictor_names) list += (list.empty() ? "" : ", ") + std::string(known);
    throw ConfigError("unknown predictor '" + std::string(name) + "' (known: " + list + ")");
}

inline AnyPredictor make_predictor(std::string_view name, const ModelShape& shape,
                                   const PredictorOptions& options = {}) {
    check_predictor_name(name);
    if (name == "uniform") return AnyPredictor(UniformPredictor(shape));
    if (name == "frequency") return AnyPredictor(FrequencyPredictor(shape));
    if (name == "previous-token")
        return AnyPredictor(PreviousTokenPredictor(shape, options.previous_token));
    if (name == "markov") return AnyPredictor(MarkovPredictor(shape, options.markov));
    if (name == "ngram") return AnyPredictor(NGramPredictor(shape, options.ngram));
    if (name == "paper-heatmap") return AnyPredictor(PaperHeatmapPredictor(shape));
    if (name == "activation-match")
        return AnyPredictor(ActivationMatchPredictor(shape, options.activation_match));
    return AnyPredictor(FrequencyDecayPredictor(shape, options.frequency_decay));
}

/// The predictor's options as "key=value, ..." (empty for those that have none).
inline std::string describe_predictor(std::string_view name, const PredictorOptions& o) {
    check_predictor_name(name);
    if (name == "previous-token")
        return fmt::format("uniform_share={}", o.previous_token.uniform_share);
    if (name == "markov")
        return fmt::format("smoothing={}, max_horizon={}", o.markov.smoothing,
                           o.markov.max_horizon);
    if (name == "ngram")
        return fmt::format("order={}, previous_token={}, memory_limit={} MiB", o.ngram.order,
                           o.ngram.previous_token, o.ngram.memory_limit_bytes >> 20);
    if (name == "frequency-decay")
        return fmt::format(
            "half_life={} tokens, sequence_half_life={} tokens, sequence_prior={} tokens",
            o.frequency_decay.half_life_tokens, o.frequency_decay.sequence_half_life_tokens,
            o.frequency_decay.sequence_prior_tokens);
    if (name == "frequency") return "cumulative counts, add-one smoothing";
    if (name == "paper-heatmap")
        return "union of the top ceil(0.2 E) of the previous token's heatmap rows, 1% elsewhere";
    if (name == "activation-match")
        return fmt::format("capacity={} requests, smoothing={}", o.activation_match.capacity,
                           o.activation_match.smoothing);
    return "";
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
