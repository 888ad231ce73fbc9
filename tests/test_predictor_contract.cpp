// The Predictor contract, checked for every predictor on the same continuous-batching workload:
// forecasts are distributions, runs are deterministic, end_sequence frees context, the hot path
// does not allocate after warm-up, and frozen predictors stop learning.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "expertcast/core/predictor.hpp"
#include "expertcast/predictors/activation_match.hpp"
#include "expertcast/predictors/any_predictor.hpp"
#include "expertcast/predictors/baselines.hpp"
#include "expertcast/predictors/frequency_decay.hpp"
#include "expertcast/predictors/markov.hpp"
#include "expertcast/predictors/mixture.hpp"
#include "expertcast/predictors/ngram.hpp"
#include "expertcast/predictors/paper_heatmap.hpp"
#include "support/counting_allocator.hpp"
#include "support/workload.hpp"

using namespace expertcast;
using expertcast_test::AllocationCounter;
using expertcast_test::make_workload;
using expertcast_test::WorkloadStep;

namespace {

const ModelShape contract_shape{16, 3, {1, 3, 5, 7, 9}};

/// Type-erased Markov, so the run-time wrapper is held to the contract too.
struct AnyMarkov {};
/// A mixture of three members (both poolings are exercised by the golden tests).
struct Mixture {};
/// Markov with distance tables and product pooling.
struct MarkovDistanceProduct {};

template <class P>
auto make(const ModelShape& shape) {
    if constexpr (std::is_same_v<P, AnyMarkov>) {
        return AnyPredictor(MarkovPredictor(shape));
    } else if constexpr (std::is_same_v<P, MarkovDistanceProduct>) {
        MarkovConfig config;
        config.max_distance = 3;
        config.sharpness = 3.0f;
        return MarkovPredictor(shape, config);
    } else if constexpr (std::is_same_v<P, Mixture>) {
        std::vector<AnyPredictor> members;
        members.emplace_back(MarkovPredictor(shape));
        members.emplace_back(NGramPredictor(shape));
        members.emplace_back(FrequencyDecayPredictor(shape));
        return MixturePredictor(shape, std::move(members));
    } else {
        return P(shape);
    }
}

/// Feeds a workload the way an engine would: per step, next-token forecasts before the first
/// layer, then per layer the horizon-1 and horizon-2 forecasts and the observation. Every forecast
/// row goes through `check` and is appended to `log` when given.
template <class P, class Check>
void drive(P& p, const std::vector<WorkloadStep>& steps, std::vector<float>& buffer,
           Check&& check) {
    const std::uint32_t E = p.shape().num_experts;
    const std::uint32_t L = p.shape().num_moe_layers();
    for (const WorkloadStep& step : steps) {
        const std::size_t n = step.sequences.size();
        const std::span<float> out(buffer.data(), n * E);
        p.begin_step(TokenBatch{step.sequences, step.phases});
        for (std::uint32_t l = 0; l < L; ++l) {
            p.forecast(ForecastTarget::next_token(l), out);
            check(std::span<const float>(out));
        }
        for (std::uint32_t l = 0; l < L; ++l) {
            if (l >= 1) {
                p.forecast(ForecastTarget::next_layer(l, 1), out);
                check(std::span<const float>(out));
            }
            if (l >= 2) {
                p.forecast(ForecastTarget::next_layer(l, 2), out);
                check(std::span<const float>(out));
            }
            p.observe(LayerRouting{l, step.experts[l], {}});
        }
        for (const SequenceId id : step.finished) p.end_sequence(id);
    }
}

std::size_t max_tokens(const std::vector<WorkloadStep>& steps) {
    std::size_t m = 0;
    for (const auto& s : steps) m = std::max(m, s.sequences.size());
    return m;
}

/// One decode token of a fresh sequence: its layer-0 routing observed, then the forecasts of
/// layer 1 (from layer 0) and of layer 2 before the step (next-token) are returned.
template <class P>
std::vector<float> probe(P& p, SequenceId id) {
    const std::uint32_t E = p.shape().num_experts;
    std::vector<float> out(2 * E);
    const SequenceId sequences[1] = {id};
    const Phase phases[1] = {Phase::decode};
    const ExpertId row[3] = {2, 7, 11};
    p.begin_step(TokenBatch{sequences, phases});
    p.forecast(ForecastTarget::next_token(2), std::span<float>(out).subspan(E, E));
    p.observe(LayerRouting{0, row, {}});
    p.forecast(ForecastTarget::next_layer(1), std::span<float>(out).first(E));
    p.end_sequence(id);
    return out;
}

}  // namespace

TEMPLATE_TEST_CASE("predictor contract", "[contract]", UniformPredictor, FrequencyPredictor,
                   PreviousTokenPredictor, MarkovPredictor, NGramPredictor, FrequencyDecayPredictor,
                   AnyMarkov) {
    const ModelShape& shape = contract_shape;
    const auto warmup = make_workload(shape, 60, 5, 1);
    std::vector<float> buffer(max_tokens(warmup) * shape.num_experts);
    auto p = make<TestType>(shape);
    static_assert(Predictor<decltype(p)>);

    SECTION("every forecast row is a distribution") {
        std::size_t rows = 0;
        drive(p, warmup, buffer, [&](std::span<const float> out) {
            for (std::size_t r = 0; r < out.size() / shape.num_experts; ++r) {
                double sum = 0;
                for (std::uint32_t e = 0; e < shape.num_experts; ++e) {
                    const float v = out[r * shape.num_experts + e];
                    REQUIRE(std::isfinite(v));
                    REQUIRE(v >= 0.0f);
                    sum += static_cast<double>(v);
                }
                REQUIRE(sum == Approx(1.0).margin(1e-5));
                ++rows;
            }
        });
        CHECK(rows > 1000);
    }

    SECTION("identical inputs give identical forecasts") {
        auto q = make<TestType>(shape);
        std::vector<float> log_p, log_q, buffer_q(buffer.size());
        drive(p, warmup, buffer, [&](std::span<const float> out) {
            log_p.insert(log_p.end(), out.begin(), out.end());
        });
        drive(q, warmup, buffer_q, [&](std::span<const float> out) {
            log_q.insert(log_q.end(), out.begin(), out.end());
        });
        REQUIRE(log_p.size() == log_q.size());
        CHECK(log_p == log_q);  // bit for bit
        // Forecasting does not change state: asking twice gives the same answer.
        CHECK(probe(p, 900) == probe(q, 900));
    }

    SECTION("no allocation in the step loop after warm-up") {
        drive(p, warmup, buffer, [](std::span<const float>) {});
        // Same batch sizes and number of live sequences, new sequence ids and routing.
        const auto again = make_workload(shape, 60, 5, 100000, 1);
        AllocationCounter counter;
        drive(p, again, buffer, [](std::span<const float>) {});
        CHECK(counter.count() == 0);
    }

    SECTION("end_sequence frees the sequence's context") {
        auto q = make<TestType>(shape);
        drive(p, warmup, buffer, [](std::span<const float>) {});
        drive(q, warmup, buffer, [](std::span<const float>) {});
        // The same short sequence in both, then it ends.
        auto history = make_workload(shape, 4, 1, 5000, 7);
        drive(p, history, buffer, [](std::span<const float>) {});
        drive(q, history, buffer, [](std::span<const float>) {});
        // p reuses the ended id; q uses an id never seen. They must not be told apart.
        CHECK(probe(p, 5000) == probe(q, 6000));
    }

    SECTION("a frozen predictor keeps its statistics") {
        drive(p, warmup, buffer, [](std::span<const float>) {});
        p.set_frozen(true);
        CHECK(p.frozen());
        const auto before = probe(p, 7000);
        drive(p, make_workload(shape, 40, 4, 8000, 3), buffer, [](std::span<const float>) {});
        CHECK(probe(p, 7001) == before);
        p.set_frozen(false);
        CHECK_FALSE(p.frozen());
    }
}

TEST_CASE("learning predictors change their forecasts when not frozen", "[contract]") {
    const ModelShape& shape = contract_shape;
    auto check_learns = [&](auto p) {
        std::vector<float> buffer(64 * shape.num_experts);
        drive(p, make_workload(shape, 20, 4, 1), buffer, [](std::span<const float>) {});
        const auto before = probe(p, 7000);
        drive(p, make_workload(shape, 40, 4, 8000, 3), buffer, [](std::span<const float>) {});
        CHECK(probe(p, 7001) != before);
    };
    check_learns(FrequencyPredictor(shape));
    check_learns(MarkovPredictor(shape));
    check_learns(NGramPredictor(shape));
    check_learns(FrequencyDecayPredictor(shape));
    check_learns(PaperHeatmapPredictor(shape));
    check_learns(ActivationMatchPredictor(shape));
    check_learns(make<Mixture>(shape));
}

TEST_CASE("forecast_batch is the probability that some token needs the expert", "[contract]") {
    // Two decode tokens of two sequences with previous tokens {0,1} and {1,2}, k = 2, E = 4,
    // uniform_share 0.2: rows [0.45 0.45 0.05 0.05] and [0.05 0.45 0.45 0.05]; q = min(1, 2p):
    // [0.9 0.9 0.1 0.1] and [0.1 0.9 0.9 0.1]; 1 - prod(1 - q):
    // e0 = 1 - 0.1*0.9 = 0.91, e1 = 1 - 0.1*0.1 = 0.99, e2 = 0.91, e3 = 1 - 0.9*0.9 = 0.19.
    PreviousTokenPredictor p(ModelShape{4, 2, {0}}, PreviousTokenConfig{0.2f});
    const SequenceId sequences[2] = {1, 2};
    const ExpertId first[4] = {0, 1, 1, 2};
    p.begin_step(TokenBatch{sequences, {}});
    p.observe(LayerRouting{0, first, {}});
    p.begin_step(TokenBatch{sequences, {}});
    std::vector<float> scratch(8), batch(4);
    forecast_batch(p, ForecastTarget::next_token(0), scratch, batch);
    CHECK(batch[0] == Approx(0.91));
    CHECK(batch[1] == Approx(0.99));
    CHECK(batch[2] == Approx(0.91));
    CHECK(batch[3] == Approx(0.19));
}

TEST_CASE("a Markov product forecast does not depend on the tokens batched with it", "[contract]") {
    // Product pooling keeps each transition row's logarithms for the other tokens of the batch;
    // token t's forecast in a batch of four must equal its forecast in a step of its own. The
    // tables are frozen after a warm-up so that both replays read the same ones.
    ModelShape shape{16, 2, {}};
    shape.moe_layers = {0, 1, 2, 3, 4};
    MarkovConfig config;
    config.max_distance = 3;
    config.sharpness = 3.0f;
    MarkovPredictor batched(shape, config);
    std::uint64_t state = 7;
    auto next = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<ExpertId>((state >> 33) % 8);
    };
    auto route = [&](std::size_t tokens) {  // tokens x layers x k, distinct ids per row
        std::vector<ExpertId> ids(tokens * 5 * 2);
        for (std::size_t t = 0; t < tokens; ++t)
            for (std::size_t l = 0; l < 5; ++l) {
                const ExpertId first = next();
                ids[(l * tokens + t) * 2] = first;
                ids[(l * tokens + t) * 2 + 1] = static_cast<ExpertId>(8 + (first + l) % 8);
            }
        return ids;
    };
    const SequenceId one[1] = {1};
    for (int step = 0; step < 40; ++step) {
        const std::vector<ExpertId> ids = route(1);
        batched.begin_step(TokenBatch{one, {}});
        for (std::uint32_t l = 0; l < 5; ++l)
            batched.observe({l, std::span<const ExpertId>(ids).subspan(l * 2, 2), {}});
    }
    batched.set_frozen(true);
    MarkovPredictor alone = batched;

    // Four tokens; tokens 0 and 2 route alike, so they share every context row.
    std::vector<ExpertId> ids = route(4);
    for (std::size_t l = 0; l < 5; ++l)
        for (std::size_t j = 0; j < 2; ++j) ids[(l * 4 + 2) * 2 + j] = ids[(l * 4 + 0) * 2 + j];
    const SequenceId four[4] = {10, 11, 12, 13};
    std::vector<float> together(5 * 4 * 16);
    batched.begin_step(TokenBatch{four, {}});
    for (std::uint32_t l = 0; l < 5; ++l) {
        batched.observe({l, std::span<const ExpertId>(ids).subspan(l * 8, 8), {}});
        if (l + 1 < 5)
            batched.forecast(ForecastTarget::next_layer(l + 1),
                             std::span<float>(together).subspan((l + 1) * 64, 64));
    }
    for (std::size_t t = 0; t < 4; ++t) {
        const SequenceId own[1] = {four[t]};
        alone.begin_step(TokenBatch{own, {}});
        std::vector<float> row(16);
        for (std::uint32_t l = 0; l < 5; ++l) {
            alone.observe({l, std::span<const ExpertId>(ids).subspan((l * 4 + t) * 2, 2), {}});
            if (l + 1 == 5) break;
            alone.forecast(ForecastTarget::next_layer(l + 1), row);
            for (std::size_t e = 0; e < 16; ++e) {
                INFO("token " << t << ", layer " << l + 1 << ", expert " << e);
                CHECK(row[e] == together[(l + 1) * 64 + t * 16 + e]);
            }
        }
    }
}
