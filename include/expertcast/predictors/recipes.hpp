// Predictors built from names and option sets, on the engine side (no I/O, no formatting): the
// options of every single predictor in one struct, and the recipe of expertcast's default
// mixture, so that an engine gets the tuned predictor with `make_mixture(shape)`.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// The options of every single (non-composite) predictor.
struct PredictorConfigs {
    PreviousTokenConfig previous_token;
    MarkovConfig markov;
    NGramConfig ngram;
    FrequencyDecayConfig frequency_decay;
    ActivationMatchConfig activation_match;
};

/// What a mixture pools and how. The defaults are what `expertcast tune` chose on the four shared
/// traces by 3-fold cross-validation over their warm-up halves (README, "How the defaults were
/// chosen"); they are expertcast's recommended predictor.
struct MixtureOptions {
    std::vector<std::string> members = {"markov", "ngram", "frequency-decay", "previous-token"};
    PredictorConfigs member_configs = [] {
        PredictorConfigs c;
        c.markov.max_distance = 4;
        c.markov.sharpness = 6.0f;
        c.ngram.order = 4;
        c.ngram.sharpness = 2.0f;
        c.frequency_decay.sequence_half_life_tokens = 16.0f;
        c.frequency_decay.seed_from_prefill = false;
        return c;
    }();
    MixtureConfig config = [] {
        MixtureConfig c;
        c.pooling = MixtureConfig::Pooling::log_linear;
        c.learning_rate = 0.1f;
        return c;
    }();
};

/// A predictor of any single kind by its name ("markov", "ngram", ...), from `configs`.
inline AnyPredictor make_single_predictor(std::string_view name, const ModelShape& shape,
                                          const PredictorConfigs& c) {
    if (name == "uniform") return AnyPredictor(UniformPredictor(shape));
    if (name == "frequency") return AnyPredictor(FrequencyPredictor(shape));
    if (name == "previous-token")
        return AnyPredictor(PreviousTokenPredictor(shape, c.previous_token));
    if (name == "markov") return AnyPredictor(MarkovPredictor(shape, c.markov));
    if (name == "ngram") return AnyPredictor(NGramPredictor(shape, c.ngram));
    if (name == "paper-heatmap") return AnyPredictor(PaperHeatmapPredictor(shape));
    if (name == "activation-match")
        return AnyPredictor(ActivationMatchPredictor(shape, c.activation_match));
    if (name == "frequency-decay")
        return AnyPredictor(FrequencyDecayPredictor(shape, c.frequency_decay));
    throw ConfigError("'" + std::string(name) + "' is not a single predictor");
}

/// A mixture of the recipe's members (each built with the recipe's member options). With the
/// default recipe: expertcast's tuned predictor.
inline MixturePredictor make_mixture(const ModelShape& shape, const MixtureOptions& recipe = {}) {
    std::vector<AnyPredictor> members;
    for (const auto& member : recipe.members)
        members.push_back(make_single_predictor(member, shape, recipe.member_configs));
    return MixturePredictor(shape, std::move(members), recipe.config);
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
