// Speed of the per-step hot path: one forward step of a decode batch (begin_step, then for every
// MoE layer observe the router's choice and forecast the next layer for every token), for each
// predictor, on DeepSeek-V3's shape (58 MoE layers, E = 256, k = 8) and gpt-oss-20b's (24, 32, 4).
// Time is per step; items are (token, layer) pairs. Compare predictors by their ratio to
// `frequency` run in the same process (the machines are shared; absolute times drift, ratios much
// less).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "expertcast/eval/registry.hpp"
#include "expertcast/expertcast.hpp"

namespace {

using namespace expertcast;

ModelShape shape_of(int which) {
    ModelShape s = which == 0 ? ModelShape{256, 8, {}} : ModelShape{32, 4, {}};
    s.moe_layers.resize(which == 0 ? 58 : 24);
    std::iota(s.moe_layers.begin(), s.moe_layers.end(), which == 0 ? 3u : 0u);
    return s;
}

/// Routing for `steps` steps of a batch: per step and layer, tokens x k distinct ids with some
/// inter-layer structure (as in real traces, so sparse tables fill like they would).
struct Routing {
    std::vector<std::vector<ExpertId>> rows;  // [step * L + layer] -> tokens x k
};

Routing make_routing(const ModelShape& s, std::size_t tokens, std::size_t steps) {
    Routing r;
    std::uint64_t state = 12345;
    auto next = [&state](std::uint32_t bound) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>((state >> 33) % bound);
    };
    for (std::size_t step = 0; step < steps; ++step) {
        std::vector<std::uint32_t> anchor(tokens);
        for (auto& a : anchor) a = next(s.num_experts);
        for (std::uint32_t l = 0; l < s.num_moe_layers(); ++l) {
            std::vector<ExpertId> ids(tokens * s.top_k);
            for (std::size_t t = 0; t < tokens; ++t) {
                anchor[t] = (anchor[t] * 5 + 1 + next(3)) % s.num_experts;
                for (std::uint32_t j = 0; j < s.top_k; ++j)  // distinct: anchor + j * stride
                    ids[t * s.top_k + j] = static_cast<ExpertId>(
                        (anchor[t] + j * (s.num_experts / s.top_k)) % s.num_experts);
            }
            r.rows.push_back(std::move(ids));
        }
    }
    return r;
}

/// The tool's default mixture (members and options from eval/registry.hpp).
struct DefaultMixture : AnyPredictor {
    explicit DefaultMixture(const ModelShape& shape)
        : AnyPredictor(make_predictor("mixture", shape)) {}
};

template <class P>
void BM_step(benchmark::State& state) {
    const ModelShape shape = shape_of(static_cast<int>(state.range(0)));
    const std::size_t tokens = static_cast<std::size_t>(state.range(1));
    constexpr std::size_t steps = 64;
    const Routing routing = make_routing(shape, tokens, steps);
    std::vector<SequenceId> sequences(tokens);
    std::iota(sequences.begin(), sequences.end(), SequenceId{1});
    std::vector<float> forecast(tokens * shape.num_experts);
    P predictor(shape);
    const std::uint32_t L = shape.num_moe_layers();
    auto run_step = [&](std::size_t step) {
        predictor.begin_step({sequences, {}});
        for (std::uint32_t l = 0; l < L; ++l) {
            predictor.observe({l, routing.rows[step * L + l], {}});
            if (l + 1 < L) predictor.forecast(ForecastTarget::next_layer(l + 1), forecast);
        }
    };
    for (std::size_t s = 0; s < steps; ++s) run_step(s);  // warm-up: tables filled
    std::size_t step = 0;
    for (auto _ : state) {
        run_step(step);
        step = (step + 1) % steps;
        benchmark::DoNotOptimize(forecast.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(tokens * L));
}

// Arguments: shape (0 = DeepSeek-V3, 1 = gpt-oss-20b), decode tokens per step.
#define EXPERTCAST_STEP_BENCHMARK(P) \
    BENCHMARK_TEMPLATE(BM_step, P)   \
        ->Args({0, 1})               \
        ->Args({0, 64})              \
        ->Args({1, 1})               \
        ->Args({1, 64})              \
        ->Unit(benchmark::kMicrosecond)

EXPERTCAST_STEP_BENCHMARK(FrequencyPredictor);
EXPERTCAST_STEP_BENCHMARK(PreviousTokenPredictor);
EXPERTCAST_STEP_BENCHMARK(MarkovPredictor);
EXPERTCAST_STEP_BENCHMARK(NGramPredictor);
EXPERTCAST_STEP_BENCHMARK(FrequencyDecayPredictor);
EXPERTCAST_STEP_BENCHMARK(DefaultMixture);

}  // namespace

BENCHMARK_MAIN();
