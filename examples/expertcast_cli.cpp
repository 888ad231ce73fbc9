// `expertcast`: the command-line tool. `expertcast eval TRACE` replays a recorded routing trace
// through every predictor as ../shared/spec/evaluation.md says and prints how well each forecasts
// the next layer and the next token.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "expertcast/core/error.hpp"
#include "expertcast/eval/evaluation.hpp"
#include "expertcast/eval/registry.hpp"
#include "expertcast/eval/report.hpp"
#include "expertcast/trace/read_trace.hpp"
#include "expertcast/version.hpp"

namespace {

using namespace expertcast;

constexpr std::string_view usage_text = R"(usage: expertcast eval TRACE [options]
       expertcast --version

Replays TRACE in execution order (prefill steps whole, then one decode token per step), lets every
predictor forecast each MoE layer before it sees the router's choice, and prints recall@k,
recall@2k, hit@1, brier and nll for the next-layer forecast and the next-token forecast.

TRACE is a CSV trace (NAME.csv with NAME.meta.json beside it), a paper-format JSON request file
(N.json), or a directory of such files; the format is detected from the path.

options:
  --predictors LIST        comma-separated predictors to run (default: all):
                           uniform, frequency, previous-token, paper-heatmap, activation-match,
                           markov, frequency-decay, ngram
  --warmup F               fraction of requests, in id order, only learnt from (default 0.5)
  --horizons H,...         forecast layer l after layer l-H is routed, for each H (default 1;
                           the first is the headline; --horizon is the same flag)
  --no-next-token          do not score the next-token forecast
  --per-layer              also print recall@k per MoE layer
  --per-phase              also print every metric split by prefill / decode
  --json FILE              also write the figures as JSON to FILE
  --quiet                  no progress line (it is shown only when stdout is a terminal)
trace overrides:
  --num-experts E          E where the trace does not say it (paper JSON: else largest id + 1)
  --top-k K                k for a CSV trace without its meta file
  --meta FILE              the meta file of a CSV trace, when not NAME.meta.json
predictor options (defaults are printed with every run):
  --uniform-share U        previous-token: probability spread over all experts
  --markov-smoothing A     markov: pseudo-counts of layer popularity per transition row
  --markov-max-horizon H   markov: deepest horizon served by chaining
  --ngram-order N          ngram: context of the previous N-1 MoE layers (2..4; 5 with
                           --ngram-previous-token off)
  --ngram-previous-token on|off
                           ngram: also condition on the sequence's previous token
  --ngram-memory-mb M      ngram: cap on sparse context storage
  --decay-half-life T      frequency-decay: global half-life in tokens
  --decay-sequence-half-life T
                           frequency-decay: per-sequence half-life in tokens
  --decay-sequence-prior T frequency-decay: sequence weight is n / (n + T)
  --match-capacity N       activation-match: finished requests kept (oldest dropped)
)";

/// A command-line mistake: reported with the usage hint, exit status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
    T value{};
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty())
        throw UsageError(fmt::format("{}: expected a number, got '{}'", flag, text));
    return value;
}

std::uint32_t parse_positive(std::string_view flag, std::string_view text) {
    const auto value = parse_number<std::uint32_t>(flag, text);
    if (value == 0) throw UsageError(fmt::format("{}: must be at least 1", flag));
    return value;
}

bool parse_switch(std::string_view flag, std::string_view text) {
    if (text == "on" || text == "true" || text == "1") return true;
    if (text == "off" || text == "false" || text == "0") return false;
    throw UsageError(fmt::format("{}: expected on or off, got '{}'", flag, text));
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = text.find(',', start);
        const std::size_t stop = comma == std::string_view::npos ? text.size() : comma;
        if (stop > start) items.emplace_back(text.substr(start, stop - start));
        start = stop + 1;
    }
    return items;
}

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
};

EvalCommand parse_eval(int argc, char** argv) {
    EvalCommand c;
    std::vector<std::string_view> args(argv + 2, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", a));
            return args[++i];
        };
        if (a == "--predictors") {
            c.predictors = split_list(value());
            if (c.predictors.empty()) throw UsageError("--predictors: the list is empty");
            for (auto name = c.predictors.begin(); name != c.predictors.end(); ++name) {
                check_predictor_name(*name);
                if (std::find(c.predictors.begin(), name, *name) != name)
                    throw UsageError(fmt::format("--predictors: '{}' is listed twice", *name));
            }
        } else if (a == "--warmup") {
            c.evaluation.replay.warmup_fraction = parse_number<double>(a, value());
        } else if (a == "--horizon" || a == "--horizons") {
            c.evaluation.horizons.clear();
            for (const auto& h : split_list(value()))
                c.evaluation.horizons.push_back(parse_number<std::uint32_t>(a, h));
            if (c.evaluation.horizons.empty()) throw UsageError(fmt::format("{}: empty list", a));
        } else if (a == "--no-next-token") {
            c.evaluation.next_token = false;
        } else if (a == "--per-layer") {
            c.per_layer = true;
        } else if (a == "--per-phase") {
            c.per_phase = true;
        } else if (a == "--json") {
            c.json_path = std::string(value());
        } else if (a == "--quiet" || a == "-q") {
            c.quiet = true;
        } else if (a == "--num-experts") {
            c.read.num_experts = parse_positive(a, value());
        } else if (a == "--top-k") {
            c.read.top_k = parse_positive(a, value());
        } else if (a == "--meta") {
            c.read.meta = std::string(value());
        } else if (a == "--uniform-share") {
            c.predictor_options.previous_token.uniform_share = parse_number<float>(a, value());
        } else if (a == "--markov-smoothing") {
            c.predictor_options.markov.smoothing = parse_number<float>(a, value());
        } else if (a == "--markov-distance") {
            c.predictor_options.markov.max_distance = parse_positive(a, value());
        } else if (a == "--markov-sharpness") {
            c.predictor_options.markov.sharpness = parse_number<float>(a, value());
        } else if (a == "--markov-max-horizon") {
            c.predictor_options.markov.max_horizon = parse_number<std::uint32_t>(a, value());
        } else if (a == "--ngram-order") {
            c.predictor_options.ngram.order = parse_number<std::uint32_t>(a, value());
        } else if (a == "--ngram-previous-token") {
            c.predictor_options.ngram.previous_token = parse_switch(a, value());
        } else if (a == "--ngram-sharpness") {
            c.predictor_options.ngram.sharpness = parse_number<float>(a, value());
        } else if (a == "--ngram-memory-mb") {
            c.predictor_options.ngram.memory_limit_bytes = parse_number<std::size_t>(a, value())
                                                           << 20;
        } else if (a == "--decay-half-life") {
            c.predictor_options.frequency_decay.half_life_tokens = parse_number<float>(a, value());
        } else if (a == "--decay-sequence-half-life") {
            c.predictor_options.frequency_decay.sequence_half_life_tokens =
                parse_number<float>(a, value());
        } else if (a == "--decay-sequence-prior") {
            c.predictor_options.frequency_decay.sequence_prior_tokens =
                parse_number<float>(a, value());
        } else if (a == "--match-capacity") {
            c.predictor_options.activation_match.capacity = parse_positive(a, value());
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

/// A one-line progress report on stderr, redrawn at most every 200 ms.
class ProgressLine {
public:
    explicit ProgressLine(bool enabled) : enabled_(enabled) {}
    void update(std::size_t done, std::size_t total) {
        if (!enabled_) return;
        const auto now = std::chrono::steady_clock::now();
        if (done != total && now - last_ < std::chrono::milliseconds(200)) return;
        last_ = now;
        std::fprintf(
            stderr, "\r  replaying: %zu / %zu steps (%.0f%%)", done, total,
            total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0);
        if (done == total) std::fprintf(stderr, "\r%60s\r", "");
        std::fflush(stderr);
    }

private:
    bool enabled_;
    std::chrono::steady_clock::time_point last_{};
};

std::string describe_layers(const std::vector<std::uint32_t>& layers) {
    // Consecutive runs as "0-23"; Llama-4's odd layers as a list.
    std::string out;
    for (std::size_t i = 0; i < layers.size();) {
        std::size_t j = i;
        while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
        if (!out.empty()) out += ",";
        out += j > i ? fmt::format("{}-{}", layers[i], layers[j]) : fmt::format("{}", layers[i]);
        i = j + 1;
    }
    return out;
}

int run_eval(const EvalCommand& c) {
    // Open the report first: a path that cannot be written fails before a long replay.
    std::ofstream json_out;
    if (c.json_path) {
        json_out.open(*c.json_path);
        if (!json_out) throw Error(fmt::format("{}: cannot open for writing", *c.json_path));
    }
    const auto t0 = std::chrono::steady_clock::now();
    const Trace trace = read_trace(c.trace_path, c.read);
    const auto t1 = std::chrono::steady_clock::now();
    c.evaluation.validate(trace.shape);

    const std::size_t warmup =
        warmup_requests(c.evaluation.replay.warmup_fraction, trace.requests.size());
    if (warmup == trace.requests.size())
        throw ConfigError(
            fmt::format("--warmup {}: all {} requests would be warm-up and none evaluated",
                        c.evaluation.replay.warmup_fraction, trace.requests.size()));

    // Predictors keep enough of the step to serve the horizon asked for.
    PredictorOptions predictor_options = c.predictor_options;
    const std::uint32_t deepest =
        *std::max_element(c.evaluation.horizons.begin(), c.evaluation.horizons.end());
    for (PredictorConfigs* configs : {static_cast<PredictorConfigs*>(&predictor_options),
                                      &predictor_options.mixture.member_configs}) {
        configs->markov.max_horizon = std::max(configs->markov.max_horizon, deepest);
        configs->ngram.max_horizon = std::max(configs->ngram.max_horizon, deepest);
    }
    predictor_options.mixture.config.learned_horizons =
        std::max(predictor_options.mixture.config.learned_horizons, deepest);
    std::vector<AnyPredictor> predictors;
    for (const auto& name : c.predictors)
        predictors.push_back(make_predictor(name, trace.shape, predictor_options));
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
        fmt::print("  {:<18} {}\n", name, describe_predictor(name, predictor_options));
    fmt::print("\n");
    std::fflush(stdout);

    EvaluationOptions options = c.evaluation;
    ProgressLine progress(!c.quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO));
    options.progress = [&progress](std::size_t done, std::size_t total) {
        progress.update(done, total);
    };
    const Evaluation result = evaluate(trace, std::span<AnyPredictor>(predictors), options);
    const auto t2 = std::chrono::steady_clock::now();

    for (const ForecastKind kind : forecast_kinds(result)) {
        fmt::print("{}\n", format_summary_table(result, kind));
        if (c.per_layer) fmt::print("{}\n", format_layer_table(result, kind));
        if (c.per_phase) fmt::print("{}\n", format_phase_table(result, kind));
    }
    if (c.json_path) {
        json_out << evaluation_json(result).dump(1) << "\n";
        json_out.close();
        if (!json_out) throw Error(fmt::format("{}: cannot write the JSON report", *c.json_path));
        fmt::print("wrote {}\n", *c.json_path);
    }
    // Timings vary from run to run; stdout stays identical for identical inputs.
    std::fflush(stdout);
    const auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
    std::fprintf(stderr, "read the trace in %.2f s, replayed it in %.2f s\n", seconds(t1 - t0),
                 seconds(t2 - t1));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string_view command = argc > 1 ? argv[1] : "";
        if (command == "--version") {
            fmt::print("expertcast {}\n", version_string);
            return 0;
        }
        if (command == "-h" || command == "--help" || command == "help") {
            fmt::print("{}", usage_text);
            return 0;
        }
        if (command == "eval") {
            for (int i = 2; i < argc; ++i)
                if (std::string_view(argv[i]) == "-h" || std::string_view(argv[i]) == "--help") {
                    fmt::print("{}", usage_text);
                    return 0;
                }
            return run_eval(parse_eval(argc, argv));
        }
        throw UsageError(command.empty() ? "missing command"
                                         : fmt::format("unknown command '{}'", command));
    } catch (const UsageError& e) {
        std::fprintf(stderr, "expertcast: %s\nrun 'expertcast --help' for usage\n", e.what());
        return 2;
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "expertcast: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "expertcast: %s\n", e.what());
        return 1;
    }
}
