// `expertcast tune TRACE...`: chooses the mixture's options by K-fold cross-validation over each
// trace's warm-up half (eval/tuning.hpp), then evaluates the choice, with every baseline, on the
// other half, which the search never read.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "expertcast/core/error.hpp"
#include "expertcast/eval/evaluation.hpp"
#include "expertcast/eval/registry.hpp"
#include "expertcast/eval/tuning.hpp"
#include "expertcast/trace/read_trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast_cli {

using namespace expertcast;

namespace {

struct TuneCommand {
    std::vector<std::string> trace_paths;
    TraceReadOptions read;
    PredictorOptions start = neutral_mixture_start();
    CrossValidationOptions cv;
    std::size_t rounds = 2;
};

TuneCommand parse(Arguments& args) {
    TuneCommand c;
    while (!args.done()) {
        const std::string_view a = args.next();
        if (parse_trace_flag(a, args, c.read)) continue;
        if (a == "--folds") {
            c.cv.folds = parse_number<std::size_t>(a, args.value(a));
        } else if (a == "--rounds") {
            c.rounds = parse_positive(a, args.value(a));
        } else if (a == "--tuning-fraction") {
            c.cv.tuning_fraction = parse_number<double>(a, args.value(a));
        } else if (a.starts_with("-")) {
            throw UsageError(fmt::format("unknown option '{}'", a));
        } else {
            c.trace_paths.emplace_back(a);
        }
    }
    if (c.trace_paths.empty()) throw UsageError("tune needs at least one TRACE");
    c.cv.validate();
    return c;
}

std::string short_name(const std::string& path) {
    const std::filesystem::path p(path);
    return p.has_stem() && p.extension() == ".csv" ? p.stem().string() : p.filename().string();
}

}  // namespace

int run_tune(Arguments& args) {
    const TuneCommand c = parse(args);
    std::vector<Trace> traces;
    for (const auto& path : c.trace_paths) traces.push_back(read_trace(path, c.read));

    fmt::print("expertcast {} tune\n", version_string);
    fmt::print("objective: mean over the traces of next-layer recall@k, {}-fold cross-validated\n",
               c.cv.folds);
    fmt::print(
        "           over each trace's first floor({} N) requests (the evaluation's "
        "warm-up half)\n",
        c.cv.tuning_fraction);
    for (std::size_t i = 0; i < traces.size(); ++i)
        fmt::print("  {:<40} {} of {} requests\n", c.trace_paths[i],
                   warmup_requests(c.cv.tuning_fraction, traces[i].requests.size()),
                   traces[i].requests.size());
    fmt::print("start: mixture {}\n", describe_predictor("mixture", c.start));
    fmt::print("search space (coordinate ascent, at most {} rounds):\n", c.rounds);
    const auto space = mixture_search_space();
    for (const auto& parameter : space) {
        std::string values;
        for (const auto& v : parameter.values) values += (values.empty() ? "" : " ") + v;
        fmt::print("  {:<40} {}\n", parameter.name, values);
    }
    fmt::print("\n{:<42} {:>9}  per trace\n", "trial", "cv score");
    std::fflush(stdout);

    const auto started = std::chrono::steady_clock::now();
    const PredictorOptions chosen =
        tune_mixture(traces, c.start, space, c.cv, c.rounds, [](const TuningTrial& trial) {
            std::string per_trace;
            for (const MetricTotals& t : trial.per_trace)
                per_trace += fmt::format(" {:.4f}", t.mean().recall_at_k);
            fmt::print(
                "  {:<40} {:>9.4f} {}{}\n",
                trial.value.empty() ? trial.parameter : trial.parameter + " = " + trial.value,
                trial.score, per_trace, trial.best ? "  <- best so far" : "");
            std::fflush(stdout);
        });
    const double minutes =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() / 60;
    std::fprintf(stderr, "searched in %.1f min\n", minutes);

    fmt::print("\nchosen: mixture {}\n\n", describe_predictor("mixture", chosen));

    // Held out: the standard evaluation with the tuning part as its warm-up.
    fmt::print(
        "held out: next-layer forecast on each trace's other requests (warm-up = the tuning "
        "part)\n");
    fmt::print("  {:<40} {:<18} {:>9} {:>8} {:>8}\n", "trace", "predictor", "recall@k", "brier",
               "nll");
    for (std::size_t i = 0; i < traces.size(); ++i) {
        std::vector<AnyPredictor> predictors;
        for (auto name : predictor_names)
            predictors.push_back(make_predictor(name, traces[i].shape, chosen));
        EvaluationOptions evaluation;
        evaluation.replay.warmup_fraction = c.cv.tuning_fraction;
        evaluation.next_token = false;
        const Evaluation e = evaluate(traces[i], std::span<AnyPredictor>(predictors), evaluation);
        double best_baseline = 0;
        std::string best_name;
        for (const auto& p : e.predictors) {
            const PairScore m = p.next_layer.total.mean();
            fmt::print("  {:<40} {:<18} {:>9.4f} {:>8.5f} {:>8.4f}\n", short_name(c.trace_paths[i]),
                       p.name, m.recall_at_k, m.brier, m.nll);
            if (is_baseline(p.name) && m.recall_at_k > best_baseline)
                best_baseline = m.recall_at_k, best_name = p.name;
        }
        const double mixture = e.predictors.back().next_layer.total.mean().recall_at_k;
        fmt::print("  {:<40} mixture - best baseline ({}) = {:+.4f}\n\n",
                   short_name(c.trace_paths[i]), best_name, mixture - best_baseline);
    }
    return 0;
}

}  // namespace expertcast_cli
