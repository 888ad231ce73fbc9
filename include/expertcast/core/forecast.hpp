// What is asked of a predictor (which layer, from which context) and how its answer reads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Which MoE layer to forecast, for the tokens of the current step, and from how far back.
///
/// The context is the current step's routing at MoE ordinal `layer - horizon`. horizon = 1 is the
/// next-layer forecast (made after layer-1 is routed). A horizon larger than `layer` means "before
/// this step has passed any layer": the next-token forecast, which can only use what the
/// sequences did at earlier steps. When the context layer was not observed in this step (or a
/// token's row there was not recorded), the predictor forecasts without it.
struct ForecastTarget {
    std::uint32_t layer = 0;    ///< MoE ordinal to forecast
    std::uint32_t horizon = 1;  ///< MoE layers between the context and `layer` (>= 1)

    static constexpr ForecastTarget next_layer(std::uint32_t layer,
                                               std::uint32_t horizon = 1) noexcept {
        return {layer, horizon};
    }
    /// Forecast for `layer` before the step starts: from the sequences' earlier tokens only.
    static constexpr ForecastTarget next_token(std::uint32_t layer) noexcept {
        return {layer, layer + 1};
    }
    /// True when the context lies inside the current step.
    constexpr bool within_step() const noexcept { return horizon >= 1 && horizon <= layer; }
    constexpr std::uint32_t context_layer() const noexcept { return layer - horizon; }
};

/// A forecast is a vector p over the E experts of a layer with p >= 0 and sum(p) = 1: the expected
/// share of the token's k selections that go to each expert. The probability that expert e is
/// among the token's k is then at most 1 and estimated by min(1, k * p_e).
inline float inclusion_probability(float share, std::uint32_t k) noexcept {
    return std::min(1.0f, static_cast<float>(k) * share);
}

/// Row-major tokens x E view of a per-token forecast buffer.
struct ForecastMatrix {
    std::span<float> data;
    std::uint32_t num_experts = 0;

    std::size_t tokens() const noexcept { return num_experts ? data.size() / num_experts : 0; }
    std::span<float> row(std::size_t token) const noexcept {
        return data.subspan(token * num_experts, num_experts);
    }
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
