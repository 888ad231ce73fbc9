// `expertcast eval TRACE`: replays a recorded routing trace through the predictors as
// ../shared/spec/evaluation.md says and prints how well each forecasts the next layer (at every
// horizon asked for) and the next token.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "expertcast/core/error.hpp"
#include "expertcast/eval/evaluation.hpp"
#include "expertcast/eval/registry.hpp"
#include "expertcast/eval/report.hpp"
#include "expertcast/trace/read_trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast_cli {

using namespace expertcast;

namespace {

struct EvalCommand {
    std::string trace_path;
    TraceReadOptions read;
    EvaluationOptions evaluation;
    PredictorOptions predictor_options;
    std::vector<std::string> predictors{predictor_names.begin(), predictor_names.end()};
    bool per_layer = false;
    bool per_phase = false;
    bool quiet = false;
    std::optional<std::string> json_path;
    std::optional<std::string> svg_recall_path;
};

EvalCommand parse(Arguments& args) {
    EvalCommand c;
    while (!args.done()) {
        const std::string_view a = args.next();
        if (parse_trace_flag(a, args, c.read) || parse_predictor_flag(a, args, c.predictor_options))
            continue;
        if (a == "--predictors") {
            c.predictors = split_unique_list(a, args.value(a));
            for (const auto& name : c.predictors) check_predictor_name(name);
        } else if (a == "--warmup") {
            c.evaluation.replay.warmup_fraction = parse_fraction(a, args.value(a));
        } else if (a == "--horizon" || a == "--horizons") {
            c.evaluation.horizons.clear();
            for (const auto& h : split_list(a, args.value(a)))
                c.evaluation.horizons.push_back(parse_positive(a, h));
        } else if (a == "--no-next-token") {
            c.evaluation.next_token = false;
        } else if (a == "--per-layer") {
            c.per_layer = true;
        } else if (a == "--per-phase") {
            c.per_phase = true;
        } else if (a == "--json") {
            c.json_path = std::string(args.value(a));
        } else if (a == "--svg-recall") {
            c.svg_recall_path = std::string(args.value(a));
        } else if (a == "--quiet" || a == "-q") {
            c.quiet = true;
        } else if (a.starts_with("-")) {
            throw UsageError(fmt::format("unknown option '{}'", a));
        } else if (c.trace_path.empty()) {
            c.trace_path = std::string(a);
        } else {
            throw UsageError(fmt::format("unexpected argument '{}' (one trace per run)", a));
        }
    }
    if (c.trace_path.empty()) throw UsageError("eval needs a TRACE");
    return c;
}

}  // namespace

int run_eval(Arguments& args) {
    const EvalCommand c = parse(args);
    ReportFile json_report(c.json_path), svg_report(c.svg_recall_path);
    const auto t0 = std::chrono::steady_clock::now();
    const Trace trace = read_trace(c.trace_path, c.read);
    const auto t1 = std::chrono::steady_clock::now();
    for (const std::uint32_t h : c.evaluation.horizons)
        if (h >= trace.shape.num_moe_layers())
            throw UsageError(fmt::format(
                "--horizons: {} is too deep for {} MoE layers (a horizon h needs a layer h "
                "MoE layers earlier; at most {})",
                h, trace.shape.num_moe_layers(), trace.shape.num_moe_layers() - 1));
    c.evaluation.validate(trace.shape);

    const std::size_t warmup =
        warmup_requests(c.evaluation.replay.warmup_fraction, trace.requests.size());
    if (warmup == trace.requests.size())
        throw ConfigError(
            fmt::format("--warmup {}: all {} requests would be warm-up and none evaluated",
                        c.evaluation.replay.warmup_fraction, trace.requests.size()));

    const PredictorOptions options = serving_horizons(
        c.predictor_options,
        *std::max_element(c.evaluation.horizons.begin(), c.evaluation.horizons.end()));
    std::vector<AnyPredictor> predictors;
    for (const auto& name : c.predictors)
        predictors.push_back(make_predictor(name, trace.shape, options));
    fmt::print("expertcast {} eval\n", version_string);
    fmt::print("trace:  {} ({}; {} requests, {} tokens, {} recorded (token, MoE layer) cells)\n",
               trace.source, trace.format, trace.requests.size(), trace.num_tokens(),
               trace.recorded_cells());
    fmt::print("model:  E = {} experts, k = {}, {} MoE layers (decoder layers {})\n",
               trace.shape.num_experts, trace.shape.top_k, trace.shape.num_moe_layers(),
               describe_layers(trace.shape.moe_layers));
    for (const auto& note : trace.notes) fmt::print("note:   {}\n", note);
    fmt::print("split:  first {} requests only learnt from (warm-up fraction {}), {} evaluated\n",
               warmup, c.evaluation.replay.warmup_fraction, trace.requests.size() - warmup);
    fmt::print("predictors:\n");
    for (const auto& name : c.predictors)
        fmt::print("  {:<18} {}\n", name, describe_predictor(name, options));
    fmt::print("\n");
    std::fflush(stdout);

    EvaluationOptions evaluation = c.evaluation;
    ProgressLine progress(progress_wanted(c.quiet), "replaying, steps");
    evaluation.progress = [&progress](std::size_t done, std::size_t total) {
        progress.update(done, total);
    };
    const Evaluation result = evaluate(trace, std::span<AnyPredictor>(predictors), evaluation);
    const auto t2 = std::chrono::steady_clock::now();

    for (const ForecastKind kind : forecast_kinds(result)) {
        fmt::print("{}\n", format_summary_table(result, kind));
        if (c.per_layer) fmt::print("{}\n", format_layer_table(result, kind));
        if (c.per_phase) fmt::print("{}\n", format_phase_table(result, kind));
    }
    json_report.write(evaluation_json(result).dump(1) + "\n");
    if (c.svg_recall_path) {
        const std::uint32_t h = result.options.horizons.front();
        const std::string title =
            fmt::format("{}: recall@m of the {} forecast",
                        std::filesystem::path(trace.source).filename().string(),
                        h == 1 ? std::string("next-layer") : fmt::format("horizon-{}", h));
        svg_report.write(svg_line_chart(recall_chart(result, ForecastKind::next_layer(0), title)));
    }
    // Timings vary from run to run; stdout stays identical for identical inputs.
    std::fflush(stdout);
    const auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
    std::fprintf(stderr, "read the trace in %.2f s, replayed it in %.2f s\n", seconds(t1 - t0),
                 seconds(t2 - t1));
    return 0;
}

}  // namespace expertcast_cli
