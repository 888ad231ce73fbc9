// The one interface every predictor has, as a C++20 concept, and the algorithms written once over
// it. An engine that knows its predictor at compile time calls it directly (full inlining);
// predictors/any_predictor.hpp erases the type for choice at run time.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/assert.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// A forecaster of expert routing, driven step by step:
///
///     p.begin_step(batch);                      // once per forward step, with its tokens
///     for each MoE layer l:
///         p.forecast({l + h, h}, out);          // any later layer, tokens x E into `out`
///         p.observe({l, topk_ids, weights});    // the router's choice for layer l
///     p.end_sequence(id);                       // when a sequence finishes: frees its context
///
/// Contract (checked for every predictor by tests/test_predictor_contract.cpp):
/// * forecast rows are >= 0 and sum to 1; identical calls give identical results;
/// * `layer` is a MoE ordinal (0..L-1), not a decoder-layer index; routing holds tokens x k ids and
///   `out` exactly tokens x E floats, tokens being the size of the batch given to begin_step
///   (step_tokens()); debug builds check this (detail/contract_checks.hpp), release builds trust
///   it;
/// * observe, forecast and end_sequence are noexcept and never allocate; begin_step allocates
///   only when the batch is larger, or more sequences are live, than ever before (so after a
///   warm-up the whole loop is allocation-free);
/// * learned statistics persist across sequences; per-sequence context is keyed by SequenceId and
///   freed by end_sequence; frozen predictors (set_frozen(true)) keep tracking context but stop
///   learning.
template <class P>
concept Predictor = requires(P& p, const P& cp, const TokenBatch& batch,
                             const LayerRouting& routing, ForecastTarget target,
                             std::span<float> out, SequenceId sequence, bool flag) {
    { cp.name() }
    noexcept->std::convertible_to<std::string_view>;
    { cp.shape() }
    noexcept->std::same_as<const ModelShape&>;
    p.begin_step(batch);  // may allocate, only for a batch larger than any before
    { p.observe(routing) }
    noexcept;
    { p.forecast(target, out) }
    noexcept;
    { p.end_sequence(sequence) }
    noexcept;
    { p.set_frozen(flag) }
    noexcept;
    { cp.frozen() }
    noexcept->std::same_as<bool>;
};

/// Forecast for the whole batch: q_e, the probability that at least one token of the current step
/// needs expert e at `target.layer`, treating tokens as independent given their forecasts:
/// q_e = 1 - prod_t (1 - min(1, k p_te)). `per_token` is scratch of at least tokens x E floats
/// (size it once for the largest batch: only the first tokens x E are used, and they hold the
/// per-token forecast afterwards); `out` has E entries. This is what a prefetcher ranks by.
template <Predictor P>
void forecast_batch(P& predictor, ForecastTarget target, std::span<float> per_token,
                    std::span<float> out) noexcept {
    const std::uint32_t num_experts = predictor.shape().num_experts;
    const std::uint32_t k = predictor.shape().top_k;
    const std::size_t tokens = predictor.step_tokens();
    EXPERTCAST_ASSERT(per_token.size() >= tokens * num_experts,
                      "forecast_batch: per_token must hold at least tokens x E floats");
    EXPERTCAST_ASSERT(out.size() == num_experts, "forecast_batch: out must hold E floats");
    predictor.forecast(target, per_token.first(tokens * num_experts));
    for (std::uint32_t e = 0; e < num_experts; ++e) out[e] = 1.0f;  // running prod of (1 - q)
    for (std::size_t t = 0; t < tokens; ++t) {
        const float* row = per_token.data() + t * num_experts;
        for (std::uint32_t e = 0; e < num_experts; ++e)
            out[e] *= 1.0f - inclusion_probability(row[e], k);
    }
    for (std::uint32_t e = 0; e < num_experts; ++e) out[e] = 1.0f - out[e];
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
