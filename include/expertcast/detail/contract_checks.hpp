// The preconditions of Predictor::observe and Predictor::forecast, checked with EXPERTCAST_ASSERT
// (debug builds): every predictor calls these first, so the rules live in one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/assert.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

inline void check_observe([[maybe_unused]] const ModelShape& shape,
                          [[maybe_unused]] std::size_t tokens,
                          [[maybe_unused]] const LayerRouting& routing) noexcept {
#if EXPERTCAST_ASSERTS
    EXPERTCAST_ASSERT(routing.layer < shape.num_moe_layers(),
                      "observe: layer is not a MoE ordinal (0..L-1; not a decoder-layer index)");
    EXPERTCAST_ASSERT(routing.experts.size() == tokens * shape.top_k,
                      "observe: experts must hold tokens x k ids for the step begun by begin_step");
    EXPERTCAST_ASSERT(routing.weights.empty() || routing.weights.size() == routing.experts.size(),
                      "observe: weights must be empty or match experts");
    for (std::size_t i = 0; i < routing.experts.size(); i += shape.top_k) {
        if (routing.experts[i] == not_recorded) continue;
        for (std::size_t j = i; j < i + shape.top_k; ++j)
            EXPERTCAST_ASSERT(
                routing.experts[j] >= 0 &&
                    static_cast<std::uint32_t>(routing.experts[j]) < shape.num_experts,
                "observe: expert id outside [0, E)");
    }
#endif
}

inline void check_forecast([[maybe_unused]] const ModelShape& shape,
                           [[maybe_unused]] std::size_t tokens,
                           [[maybe_unused]] ForecastTarget target,
                           [[maybe_unused]] std::span<const float> out) noexcept {
    EXPERTCAST_ASSERT(target.layer < shape.num_moe_layers(),
                      "forecast: layer is not a MoE ordinal (0..L-1; not a decoder-layer index)");
    EXPERTCAST_ASSERT(target.horizon >= 1, "forecast: horizon must be at least 1");
    EXPERTCAST_ASSERT(out.size() == tokens * shape.num_experts,
                      "forecast: out must hold exactly tokens x E floats for the step begun by "
                      "begin_step (pass a subspan of a larger buffer)");
}

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
