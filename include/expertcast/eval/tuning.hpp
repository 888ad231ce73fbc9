// Choosing the mixture's options from data without fitting the test: K-fold cross-validation over
// the requests that the standard evaluation only learns from (its warm-up half), and a coordinate
// search over a documented space of options. The standard evaluation's scored half is never read,
// so the figures it gives for the chosen options are held out.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/eval/evaluation.hpp"
#include "expertcast/eval/registry.hpp"
#include "expertcast/eval/replay.hpp"
#include "expertcast/trace/trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// The requests of `trace` at `indices`, replayed in that order (their tokens are shared by copy;
/// the rest of the trace is unchanged).
inline Trace select_requests(const Trace& trace, std::span<const std::size_t> indices) {
    Trace subset = trace;
    subset.requests.clear();
    for (const std::size_t i : indices) {
        if (i >= trace.requests.size())
            throw ConfigError("select_requests: request index " + std::to_string(i) +
                              " is out of range");
        subset.requests.push_back(trace.requests[i]);
    }
    return subset;
}

struct CrossValidationOptions {
    /// The tuning part is the first floor(f N) requests in id order: exactly the warm-up of the
    /// standard evaluation with warm-up fraction f.
    double tuning_fraction = 0.5;
    /// Folds over the tuning part: fold i holds its requests i, i + K, i + 2K, ... (fewer, one
    /// request each, when the tuning part has fewer than K requests).
    std::size_t folds = 3;

    void validate() const {
        if (!(tuning_fraction > 0.0 && tuning_fraction <= 1.0))
            throw ConfigError("cross-validation: tuning fraction must be in (0, 1]");
        if (folds < 2) throw ConfigError("cross-validation: at least 2 folds");
    }
};

/// Next-layer (horizon 1) totals of a predictor over K folds: for each fold, a fresh predictor
/// learns from the other folds' requests (in id order), then is scored on the fold's requests.
inline MetricTotals cross_validate(const Trace& trace,
                                   const std::function<AnyPredictor(const ModelShape&)>& make,
                                   const CrossValidationOptions& options) {
    options.validate();
    const std::size_t tuning = warmup_requests(options.tuning_fraction, trace.requests.size());
    if (tuning < 2)
        throw ConfigError("cross-validation: " + trace.source + " has " + std::to_string(tuning) +
                          " tuning requests; at least 2 are needed");
    // A trace with fewer tuning requests than folds is cross-validated leave-one-out.
    const std::size_t folds = std::min(options.folds, tuning);
    MetricTotals totals;
    for (std::size_t fold = 0; fold < folds; ++fold) {
        std::vector<std::size_t> order;
        for (std::size_t i = 0; i < tuning; ++i)
            if (i % folds != fold) order.push_back(i);
        const std::size_t learnt = order.size();
        for (std::size_t i = fold; i < tuning; i += folds) order.push_back(i);
        const Trace subset = select_requests(trace, order);
        EvaluationOptions evaluation;
        evaluation.next_token = false;
        // floor(f * N) == learnt exactly.
        evaluation.replay.warmup_fraction =
            (static_cast<double>(learnt) + 0.5) / static_cast<double>(order.size());
        AnyPredictor predictor = make(trace.shape);
        const Evaluation e = evaluate(subset, std::span<AnyPredictor>(&predictor, 1), evaluation);
        totals += e.predictors.front().next_layer.total;
    }
    return totals;
}

/// One option of the search: its name, the values tried, and how to set value i.
struct TuningParameter {
    std::string name;
    std::vector<std::string> values;
    std::function<void(PredictorOptions&, std::size_t)> apply;
};

/// The mixture's search space. Every value a user might reasonably pick, nothing tuned by hand.
inline std::vector<TuningParameter> mixture_search_space() {
    std::vector<TuningParameter> space;
    auto add = [&space](std::string name, std::vector<std::string> values,
                        std::function<void(PredictorOptions&, std::size_t)> apply) {
        space.push_back({std::move(name), std::move(values), std::move(apply)});
    };
    add("mixture.pooling", {"linear", "log-linear"}, [](PredictorOptions& o, std::size_t i) {
        o.mixture.config.pooling =
            i == 0 ? MixtureConfig::Pooling::linear : MixtureConfig::Pooling::log_linear;
    });
    const std::vector<float> rates{0.01f, 0.03f, 0.1f, 0.3f};
    add("mixture.learning_rate", {"0.01", "0.03", "0.1", "0.3"},
        [rates](PredictorOptions& o, std::size_t i) { o.mixture.config.learning_rate = rates[i]; });
    add("markov.max_distance", {"1", "2", "3", "4"}, [](PredictorOptions& o, std::size_t i) {
        o.mixture.member_configs.markov.max_distance = static_cast<std::uint32_t>(i + 1);
    });
    const std::vector<float> sharpness{0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 6.0f};
    add("markov.sharpness", {"0", "1", "2", "3", "4", "6"},
        [sharpness](PredictorOptions& o, std::size_t i) {
            o.mixture.member_configs.markov.sharpness = sharpness[i];
        });
    add("ngram.order", {"2", "3", "4"}, [](PredictorOptions& o, std::size_t i) {
        o.mixture.member_configs.ngram.order = static_cast<std::uint32_t>(i + 2);
    });
    add("ngram.sharpness", {"0", "1", "2"}, [](PredictorOptions& o, std::size_t i) {
        o.mixture.member_configs.ngram.sharpness = static_cast<float>(i);
    });
    add("ngram.previous_token", {"off", "on"}, [](PredictorOptions& o, std::size_t i) {
        o.mixture.member_configs.ngram.previous_token = i == 1;
    });
    const std::vector<float> half_lives{16.0f, 64.0f, 256.0f};
    add("frequency-decay.sequence_half_life", {"16", "64", "256"},
        [half_lives](PredictorOptions& o, std::size_t i) {
            o.mixture.member_configs.frequency_decay.sequence_half_life_tokens = half_lives[i];
        });
    add("frequency-decay.seed_from_prefill", {"off", "on"}, [](PredictorOptions& o, std::size_t i) {
        o.mixture.member_configs.frequency_decay.seed_from_prefill = i == 1;
    });
    // Which members the mixture holds beside markov and ngram.
    for (const char* member :
         {"paper-heatmap", "frequency-decay", "previous-token", "activation-match"}) {
        add(std::string("member ") + member, {"no", "yes"},
            [member](PredictorOptions& o, std::size_t i) {
                auto& members = o.mixture.members;
                std::erase(members, member);
                if (i == 1) members.push_back(member);
            });
    }
    return space;
}

/// Where the search starts: nothing chosen yet. Linear pooling of a classic Markov chain and the
/// default n-gram, every member option at its plain default.
inline PredictorOptions neutral_mixture_start() {
    PredictorOptions start;
    start.mixture.members = {"markov", "ngram"};
    start.mixture.member_configs = PredictorConfigs{};
    start.mixture.config = MixtureConfig{};
    start.mixture.config.pooling = MixtureConfig::Pooling::linear;
    return start;
}

/// What a coordinate search reports after each trial.
struct TuningTrial {
    std::string parameter, value;
    std::vector<MetricTotals> per_trace;  ///< cross-validated, one per trace
    double score = 0;                     ///< mean over traces of recall@k
    bool best = false;                    ///< the best so far
};

/// Coordinate ascent from `start`: each round tries every value of every parameter with the
/// others fixed and keeps a change only if it raises the mean (over traces, each weighted
/// equally) of cross-validated recall@k. Traces are evaluated in parallel. Returns the options
/// chosen.
inline PredictorOptions tune_mixture(std::span<const Trace> traces, PredictorOptions start,
                                     const std::vector<TuningParameter>& space,
                                     const CrossValidationOptions& cv, std::size_t rounds,
                                     const std::function<void(const TuningTrial&)>& report) {
    // Options already scored, by their description (a value equal to the current one, and the
    // same configuration reached twice, are not replayed again).
    std::map<std::string, std::vector<MetricTotals>> scored;
    auto score_of = [&](const PredictorOptions& options, TuningTrial& trial) {
        const std::string key = describe_predictor("mixture", options);
        if (auto it = scored.find(key); it == scored.end()) {
            std::vector<std::future<MetricTotals>> runs;
            for (const Trace& trace : traces)
                runs.push_back(std::async(std::launch::async, [&trace, &options, &cv] {
                    return cross_validate(
                        trace,
                        [&options](const ModelShape& s) {
                            return make_predictor("mixture", s, options);
                        },
                        cv);
                }));
            std::vector<MetricTotals> results;
            for (auto& run : runs) results.push_back(run.get());
            scored.emplace(key, std::move(results));
        }
        trial.per_trace = scored.at(key);
        double sum = 0;
        for (const MetricTotals& t : trial.per_trace) sum += t.mean().recall_at_k;
        trial.score = sum / static_cast<double>(traces.size());
        return trial.score;
    };

    PredictorOptions best = start;
    TuningTrial first{"start", "", {}, 0, true};
    double best_score = score_of(best, first);
    if (report) report(first);
    for (std::size_t round = 0; round < rounds; ++round) {
        bool improved = false;
        for (const TuningParameter& parameter : space) {
            for (std::size_t v = 0; v < parameter.values.size(); ++v) {
                PredictorOptions candidate = best;
                parameter.apply(candidate, v);
                TuningTrial trial{parameter.name, parameter.values[v], {}, 0, false};
                const double s = score_of(candidate, trial);
                if (s > best_score + 1e-9) {
                    best_score = s;
                    best = candidate;
                    trial.best = true;
                    improved = true;
                }
                if (report) report(trial);
            }
        }
        if (!improved) break;
    }
    return best;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
