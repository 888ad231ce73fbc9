// The current forward step as a predictor sees it: each token's sequence slot and phase, and the
// routing of the last few MoE layers this step has passed (a ring of `depth` layers). Inter-layer
// predictors read "this token's experts at layer l - h" from here; anything older than the ring
// or from an earlier step is, by construction, not available.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "expertcast/core/routing.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

class StepContext {
public:
    StepContext() = default;
    StepContext(std::uint32_t depth, std::uint32_t top_k) : depth_(depth), k_(top_k) {
        ring_layer_.assign(depth_, no_layer);
    }

    /// Starts a step of `tokens` tokens. Allocates only for a batch larger than any before.
    void begin(std::size_t tokens) {
        tokens_ = tokens;
        if (tokens > capacity_) {
            capacity_ = tokens;
            ring_.assign(static_cast<std::size_t>(depth_) * capacity_ * k_, not_recorded);
        }
        for (auto& layer : ring_layer_) layer = no_layer;
    }

    /// Keeps a layer's routing of this step (layers arrive in increasing order).
    void record(const LayerRouting& routing) noexcept {
        if (depth_ == 0) return;
        const std::uint32_t r = routing.layer % depth_;
        ring_layer_[r] = routing.layer;
        const std::size_t n = tokens_ * k_;
        ExpertId* dst = ring_.data() + static_cast<std::size_t>(r) * capacity_ * k_;
        for (std::size_t i = 0; i < n; ++i) dst[i] = routing.experts[i];
    }

    /// The token's k experts at `layer` in this step, or empty when not observed, not recorded,
    /// or already out of the ring.
    std::span<const ExpertId> row(std::uint32_t layer, std::size_t token) const noexcept {
        if (depth_ == 0) return {};
        const std::uint32_t r = layer % depth_;
        if (ring_layer_[r] != layer) return {};
        const ExpertId* p = ring_.data() + (static_cast<std::size_t>(r) * capacity_ + token) * k_;
        if (p[0] == not_recorded) return {};
        return {p, k_};
    }

    std::size_t tokens() const noexcept { return tokens_; }
    std::uint32_t depth() const noexcept { return depth_; }

private:
    static constexpr std::uint32_t no_layer = std::numeric_limits<std::uint32_t>::max();

    std::uint32_t depth_ = 0;
    std::uint32_t k_ = 0;
    std::size_t tokens_ = 0;
    std::size_t capacity_ = 0;
    std::vector<ExpertId> ring_;  // depth x capacity x k
    std::vector<std::uint32_t> ring_layer_;
};

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
