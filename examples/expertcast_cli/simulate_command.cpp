// `expertcast simulate TRACE`: replays a trace through per-layer expert caches under on-demand
// policies and predictor-driven prefetching (../shared/spec/evaluation.md section 5) and prints,
// per policy, hit rate, bytes moved, wasted prefetch bytes, stall time and speedup over lru.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "expertcast/core/error.hpp"
#include "expertcast/eval/registry.hpp"
#include "expertcast/eval/svg.hpp"
#include "expertcast/prefetch/cache_simulator.hpp"
#include "expertcast/prefetch/cost_model.hpp"
#include "expertcast/trace/read_trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast_cli {

using namespace expertcast;

namespace {

const std::vector<std::string> default_policies = {
    "lru",           "lfu",    "static",          "belady", "frequency", "previous-token",
    "paper-heatmap", "markov", "frequency-decay", "ngram",  "mixture"};

// The policies that need no predictor; every other policy name is a predictor's.
const std::vector<CachePolicy> on_demand_policies = {{"lru", CachePolicyKind::lru, 0},
                                                     {"lfu", CachePolicyKind::lfu, 0},
                                                     {"static", CachePolicyKind::pinned, 0},
                                                     {"belady", CachePolicyKind::belady, 0}};

const CachePolicy* find_on_demand(std::string_view name) {
    for (const auto& policy : on_demand_policies)
        if (policy.name == name) return &policy;
    return nullptr;
}

void check_policy_names(const std::vector<std::string>& names) {
    for (const auto& name : names) {
        if (find_on_demand(name) || std::find(predictor_names.begin(), predictor_names.end(),
                                              name) != predictor_names.end())
            continue;
        std::string known;
        for (const auto& p : on_demand_policies) known += (known.empty() ? "" : ", ") + p.name;
        for (const auto p : predictor_names) known += ", " + std::string(p);
        throw UsageError(fmt::format("--policies: unknown policy '{}' (known: {})", name, known));
    }
}

/// A number that must be positive (or, with `zero_ok`, non-negative).
double parse_amount(std::string_view flag, std::string_view text, bool zero_ok = false) {
    const auto value = parse_number<double>(flag, text);
    if (!std::isfinite(value) || value < 0 || (value == 0 && !zero_ok))
        throw UsageError(fmt::format("{}: must be {}, got {}", flag,
                                     zero_ok ? "zero or more" : "positive", text));
    return value;
}

struct SimulateCommand {
    std::string trace_path;
    TraceReadOptions read;
    PredictorOptions predictor_options;
    SimulationOptions simulation;
    std::vector<std::size_t> batches{1};
    std::vector<std::string> policies = default_policies;
    std::optional<std::string> model;
    std::optional<double> expert_bytes;
    std::optional<std::string> json_path;
    std::optional<std::string> svg_prefix;
};

SimulateCommand parse(Arguments& args) {
    SimulateCommand c;
    while (!args.done()) {
        const std::string_view a = args.next();
        if (parse_trace_flag(a, args, c.read) || parse_predictor_flag(a, args, c.predictor_options))
            continue;
        if (a == "--slots") {
            c.simulation.slots.clear();
            for (const auto& v : split_list(a, args.value(a)))
                c.simulation.slots.push_back(parse_positive(a, v));
        } else if (a == "--batch") {
            c.batches.clear();
            for (const auto& v : split_list(a, args.value(a)))
                c.batches.push_back(parse_positive(a, v));
        } else if (a == "--policies") {
            c.policies = split_unique_list(a, args.value(a));
            check_policy_names(c.policies);
        } else if (a == "--model") {
            c.model = std::string(args.value(a));
            if (!find_model_preset(*c.model)) {
                std::string known;
                for (const auto& p : model_presets)
                    known += (known.empty() ? "" : ", ") + std::string(p.name);
                throw UsageError(fmt::format("--model: unknown '{}' (known: {})", *c.model, known));
            }
        } else if (a == "--expert-bytes") {
            c.expert_bytes = parse_amount(a, args.value(a));
        } else if (a == "--bandwidth") {
            c.simulation.cost.bandwidth = parse_amount(a, args.value(a));
        } else if (a == "--layer-compute-ms") {
            c.simulation.cost.layer_compute_s = parse_amount(a, args.value(a), true) * 1e-3;
        } else if (a == "--warmup") {
            c.simulation.replay.warmup_fraction = parse_fraction(a, args.value(a));
        } else if (a == "--json") {
            c.json_path = std::string(args.value(a));
        } else if (a == "--svg-prefix") {
            c.svg_prefix = std::string(args.value(a));
        } else if (a.starts_with("-")) {
            throw UsageError(fmt::format("unknown option '{}'", a));
        } else if (c.trace_path.empty()) {
            c.trace_path = std::string(a);
        } else {
            throw UsageError(fmt::format("unexpected argument '{}' (one trace per run)", a));
        }
    }
    if (c.trace_path.empty()) throw UsageError("simulate needs a TRACE");
    if (c.svg_prefix && c.simulation.slots.size() < 2)
        throw UsageError("--svg-prefix: the curves need several cache sizes (--slots C1,C2,...)");
    return c;
}

// Policies by name: the on-demand ones, else a predictor driving prefetch.
std::vector<CachePolicy> make_policies(const std::vector<std::string>& names,
                                       const ModelShape& shape, const PredictorOptions& options,
                                       std::vector<AnyPredictor>& predictors) {
    std::vector<CachePolicy> policies;
    for (const auto& name : names) {
        if (const CachePolicy* policy = find_on_demand(name)) {
            policies.push_back(*policy);
            continue;
        }
        policies.push_back({name, CachePolicyKind::prefetch, predictors.size()});
        predictors.push_back(make_predictor(name, shape, options));
    }
    return policies;
}

std::string human_bytes(double bytes) {
    if (bytes >= 1e12) return fmt::format("{:.2f} TB", bytes / 1e12);
    if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
    return fmt::format("{:.1f} MB", bytes / 1e6);
}

}  // namespace

int run_simulate(Arguments& args) {
    SimulateCommand c = parse(args);
    ReportFile json_report(c.json_path);
    const Trace trace = read_trace(c.trace_path, c.read);

    // The cost model: expert bytes from --expert-bytes, --model, or the preset the path names.
    std::string cost_source;
    if (c.expert_bytes) {
        c.simulation.cost.expert_bytes = *c.expert_bytes;
        cost_source = "--expert-bytes";
    } else {
        const auto preset =
            c.model ? find_model_preset(*c.model) : guess_model_preset(c.trace_path);
        if (!preset)
            throw ConfigError(
                "simulate: no model preset matches the trace's path; give --model or "
                "--expert-bytes");
        if (preset->num_experts != trace.shape.num_experts || preset->top_k != trace.shape.top_k)
            throw ConfigError(fmt::format(
                "simulate: preset {} has E = {}, k = {} but the trace has E = {}, k = {}",
                preset->name, preset->num_experts, preset->top_k, trace.shape.num_experts,
                trace.shape.top_k));
        c.simulation.cost.expert_bytes = preset->expert.bytes();
        cost_source =
            fmt::format("preset {}: {} x {} x {} parameters, {} ({})", preset->name,
                        preset->expert.matrices, preset->expert.hidden_size,
                        preset->expert.expert_intermediate_size, preset->dtype, preset->source);
    }
    if (c.simulation.slots.empty())
        c.simulation.slots = {std::min(2 * trace.shape.top_k, trace.shape.num_experts)};
    for (const auto slots : c.simulation.slots)
        if (slots > trace.shape.num_experts)
            throw UsageError(fmt::format("--slots: {} is more than the trace's E = {} experts",
                                         slots, trace.shape.num_experts));
    c.simulation.validate(trace.shape);
    const CostModel& cost = c.simulation.cost;

    fmt::print("expertcast {} simulate\n", version_string);
    fmt::print("trace:  {} ({} requests, {} tokens; E = {}, k = {}, {} MoE layers)\n", trace.source,
               trace.requests.size(), trace.num_tokens(), trace.shape.num_experts,
               trace.shape.top_k, trace.shape.num_moe_layers());
    for (const auto& note : trace.notes) fmt::print("note:   {}\n", note);
    fmt::print("cost:   expert_bytes = {:.0f} ({}; from {})\n", cost.expert_bytes,
               human_bytes(cost.expert_bytes), cost_source);
    fmt::print(
        "        bandwidth = {:g} B/s, one expert load = {:.3f} ms, layer_compute = {:g} ms "
        "(the prefetch window)\n",
        cost.bandwidth, cost.load_seconds() * 1e3, cost.layer_compute_s * 1e3);
    fmt::print(
        "replay: warm-up fraction {} (caches and predictors learn; cells of steps carrying "
        "an evaluated request are scored)\n\n",
        c.simulation.replay.warmup_fraction);
    std::fflush(stdout);

    nlohmann::json runs = nlohmann::json::array();
    std::vector<PolicyResult> all;
    for (const std::size_t batch : c.batches) {
        SimulationOptions options = c.simulation;
        options.batch = batch;
        std::vector<AnyPredictor> predictors;
        auto policies = make_policies(c.policies, trace.shape, c.predictor_options, predictors);
        CacheSimulator simulator(trace, options, policies, std::move(predictors));
        const auto started = std::chrono::steady_clock::now();
        const std::vector<PolicyResult> results = simulator.run();
        std::fprintf(
            stderr, "batch %zu simulated in %.1f s\n", batch,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        for (const auto slots : options.slots) {
            const PolicyResult* lru = nullptr;
            for (const auto& r : results)
                if (r.slots == slots && r.policy == "lru") lru = &r;
            fmt::print("C = {} slots per layer, B = {}\n", slots, batch);
            fmt::print("  {:<18} {:>8} {:>12} {:>12} {:>10} {:>8}\n", "policy", "hit rate",
                       "bytes moved", "wasted", "stall s", "speedup");
            nlohmann::json list = nlohmann::json::array();
            for (const auto& r : results) {
                if (r.slots != slots) continue;
                const double speedup = lru ? r.speedup_over(*lru) : 0.0;
                fmt::print("  {:<18} {:>8.4f} {:>12} {:>12} {:>10.3f} {:>8.3f}\n", r.policy,
                           r.hit_rate(), human_bytes(r.bytes_moved()),
                           human_bytes(r.wasted_bytes()), r.stall_s, speedup);
                list.push_back({{"policy", r.policy},
                                {"hit_rate", r.hit_rate()},
                                {"bytes_moved", r.bytes_moved()},
                                {"wasted_bytes", r.wasted_bytes()},
                                {"stall_s", r.stall_s},
                                {"speedup_vs_lru", speedup},
                                {"needed", r.needed},
                                {"hits", r.hits},
                                {"demand_loads", r.demand_loads},
                                {"prefetches", r.prefetches},
                                {"compute_s", r.compute_s}});
            }
            fmt::print("\n");
            runs.push_back({{"slots", slots}, {"batch", batch}, {"policies", std::move(list)}});
        }
        all.insert(all.end(), results.begin(), results.end());
    }

    if (c.json_path) {
        nlohmann::json j;
        j["trace"] = trace.source;
        j["num_experts"] = trace.shape.num_experts;
        j["top_k"] = trace.shape.top_k;
        j["expert_bytes"] = cost.expert_bytes;
        j["bandwidth"] = cost.bandwidth;
        j["layer_compute_s"] = cost.layer_compute_s;
        j["warmup_fraction"] = c.simulation.replay.warmup_fraction;
        j["runs"] = std::move(runs);
        // The first run's policies at top level, the shape the issue documents.
        j["policies"] = j["runs"].front()["policies"];
        json_report.write(j.dump(1) + "\n");
    }
    if (c.svg_prefix && c.simulation.slots.size() > 1) {
        const std::string name = std::filesystem::path(trace.source).stem().string();
        for (const bool hit : {true, false}) {
            LineChart chart;
            chart.title = fmt::format("{}: {} against cache size (B = {})", name,
                                      hit ? "hit rate" : "stall per scored step and layer (ms)",
                                      c.batches.front());
            chart.x_label =
                fmt::format("C: expert slots per layer (of E = {})", trace.shape.num_experts);
            chart.y_label = hit ? "hit rate" : "stall (ms)";
            chart.y_max = 0;
            for (const auto& policy : c.policies) {
                // On-demand policies dashed, prefetch policies solid.
                ChartSeries s{policy, {}, find_on_demand(policy) != nullptr};
                for (const auto& r : all) {
                    if (r.policy != policy || r.batch != c.batches.front()) continue;
                    const double y =
                        hit ? r.hit_rate() : 1e3 * r.stall_s / (r.compute_s / cost.layer_compute_s);
                    s.points.emplace_back(r.slots, y);
                    chart.y_max = std::max(chart.y_max, y);
                }
                chart.series.push_back(std::move(s));
            }
            chart.y_max = hit ? 1.0 : chart.y_max * 1.05;
            ReportFile(*c.svg_prefix + (hit ? "_hit_rate.svg" : "_stall.svg"))
                .write(svg_line_chart(chart));
        }
    }
    return 0;
}

}  // namespace expertcast_cli
