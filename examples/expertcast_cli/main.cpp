// `expertcast`: the command-line tool. Subcommands: `eval` (how well each predictor forecasts a
// recorded trace) and `tune` (choose the mixture's options by cross-validation).
#include <cstdio>
#include <exception>
#include <string_view>

#include <fmt/format.h>

#include "cli.hpp"
#include "expertcast/core/error.hpp"
#include "expertcast/version.hpp"

namespace {

constexpr std::string_view usage_text = R"(usage: expertcast eval TRACE [options]
       expertcast tune TRACE... [options]
       expertcast simulate TRACE [options]
       expertcast heatmap TRACE --layer L --out FILE.svg
       expertcast --version

eval: replays TRACE in execution order (prefill steps whole, then one decode token per step), lets
every predictor forecast each MoE layer before it sees the router's choice, and prints recall@k,
recall@2k, hit@1, brier and nll for the next-layer forecast and the next-token forecast.

tune: chooses the mixture's options by K-fold cross-validation over each TRACE's first half of
requests (a coordinate search over a fixed space), then reports the choice and every baseline on
the second half, which the search never read.

simulate: replays TRACE through per-layer caches of C expert slots with B requests in flight,
under on-demand policies (lru, lfu, static, belady) and prefetching driven by each predictor, and
prints hit rate, bytes moved, wasted prefetch bytes, stall seconds and speedup over lru.

heatmap: draws decoder layer L's inter-layer transition table (from the previous MoE layer's
expert to layer L's, row-normalised, learnt from the whole trace) as SVG.

TRACE is a CSV trace (NAME.csv with NAME.meta.json beside it), a paper-format JSON request file
(N.json), or a directory of such files; the format is detected from the path.

eval options:
  --predictors LIST        comma-separated predictors to run (default: all):
                           uniform, frequency, previous-token, paper-heatmap, activation-match,
                           markov, frequency-decay, ngram, mixture
  --warmup F               fraction of requests, in id order, only learnt from (default 0.5)
  --horizons H,...         forecast layer l after layer l-H is routed, for each H (default 1;
                           the first is the headline; --horizon is the same flag)
  --no-next-token          do not score the next-token forecast
  --per-layer              also print recall@k per MoE layer
  --per-phase              also print every metric split by prefill / decode
  --json FILE              also write the figures as JSON to FILE
  --svg-recall FILE        also draw recall@m against m (next-layer forecast) as SVG
  --quiet                  no progress line (it is shown only when stdout is a terminal)
simulate options:
  --slots C,...            expert slots per layer (default 2k, capped at E); several: a sweep
  --batch B,...            requests in flight (default 1); several: a sweep
  --policies LIST          lru, lfu, static, belady and predictor names (default: all of those
                           but uniform and activation-match)
  --model NAME             cost preset: gpt-oss-20b, mixtral-8x7b, flame-moe-290m,
                           llama4-maverick, deepseek-v3, qwen3-235b, kimi-k2 (default: the one
                           the trace's path names)
  --expert-bytes N         bytes of one expert (instead of a preset)
  --bandwidth B            link bytes/s (default 25e9, PCIe 4.0 x16 effective)
  --layer-compute-ms T     a MoE layer's compute time, the prefetch window (default 0.5)
  --warmup F               as for eval (default 0.5)
  --json FILE              the figures as JSON
  --svg-prefix P           with several C: P_hit_rate.svg and P_stall.svg against C
tune options:
  --folds K                cross-validation folds (default 3)
  --rounds R               rounds of coordinate ascent (default 2)
  --tuning-fraction F      the tuning part: the first floor(F N) requests (default 0.5)
)";

}  // namespace

int main(int argc, char** argv) {
    using namespace expertcast_cli;
    try {
        const std::string_view command = argc > 1 ? argv[1] : "";
        Arguments args(argc, argv, 2);
        const bool help = command == "-h" || command == "--help" || command == "help" ||
                          ((command == "eval" || command == "tune" || command == "simulate" ||
                            command == "heatmap") &&
                           args.asks_for_help());
        if (help) {
            fmt::print("{}{}{}", usage_text, trace_flags_help, predictor_flags_help);
            return 0;
        }
        if (command == "--version") {
            fmt::print("expertcast {}\n", expertcast::version_string);
            return 0;
        }
        if (command == "eval") return run_eval(args);
        if (command == "tune") return run_tune(args);
        if (command == "simulate") return run_simulate(args);
        if (command == "heatmap") return run_heatmap(args);
        throw UsageError(command.empty() ? "missing command"
                                         : fmt::format("unknown command '{}'", command));
    } catch (const UsageError& e) {
        std::fprintf(stderr, "expertcast: %s\nrun 'expertcast --help' for usage\n", e.what());
        return 2;
    } catch (const expertcast::ConfigError& e) {
        std::fprintf(stderr, "expertcast: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "expertcast: %s\n", e.what());
        return 1;
    }
}
