// Count rows kept as floats (so tables can be read through Eigen maps and mixed with smoothing
// without conversion) that stay exact: a float adds 1 exactly only below 2^24, so a row whose total
// would pass `count_limit` is halved first. Ratios survive; very old evidence fades slowly, which
// a long-running engine wants anyway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "expertcast/core/routing.hpp"
#include "expertcast/detail/arena.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

inline constexpr float count_limit = 8388608.0f;  // 2^23: every cell stays exactly countable

/// Adds one to `row[e]` for each e in `targets` and |targets| to `total`.
inline void add_counts(float* row, float& total, std::span<const ExpertId> targets,
                       std::size_t width) noexcept {
    if (total + static_cast<float>(targets.size()) > count_limit) {
        for (std::size_t e = 0; e < width; ++e) row[e] *= 0.5f;
        total *= 0.5f;
    }
    for (const ExpertId e : targets) row[e] += 1.0f;
    total += static_cast<float>(targets.size());
}

/// Cumulative per-layer expert popularity: how often each expert was selected at each MoE layer.
class LayerPopularity {
public:
    LayerPopularity() = default;
    LayerPopularity(std::uint32_t layers, std::uint32_t experts)
        : experts_(experts), counts_(static_cast<std::size_t>(layers) * experts), totals_(layers) {}

    void add(std::uint32_t layer, std::span<const ExpertId> selected) noexcept {
        add_counts(counts_.data() + static_cast<std::size_t>(layer) * experts_, totals_[layer],
                   selected, experts_);
    }

    /// Add-one smoothed share of selections: (c_e + 1) / (C + E). Uniform before any data.
    void distribution(std::uint32_t layer, std::span<float> out) const noexcept {
        const float* c = counts_.data() + static_cast<std::size_t>(layer) * experts_;
        const float inv = 1.0f / (totals_[layer] + static_cast<float>(experts_));
        for (std::uint32_t e = 0; e < experts_; ++e) out[e] = (c[e] + 1.0f) * inv;
    }

    std::span<const float> counts(std::uint32_t layer) const noexcept {
        return counts_.span(static_cast<std::size_t>(layer) * experts_, experts_);
    }
    float total(std::uint32_t layer) const noexcept { return totals_[layer]; }

private:
    std::uint32_t experts_ = 0;
    Arena<float> counts_;  // layers x experts
    Arena<float> totals_;
};

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
