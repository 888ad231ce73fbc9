// The predictor of arXiv:2510.05497 (section "Their results" in ../shared/spec/paper.md), as a
// baseline: a per-layer, same-layer, cross-token heatmap H[l][i][j] = how often expert j served a
// sequence's next token at layer l after expert i served its current one; the experts to prefetch
// are the union of the top n = ceil(0.2 E) entries of the rows of the current experts.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/arena.hpp"
#include "expertcast/detail/contract_checks.hpp"
#include "expertcast/detail/counts.hpp"
#include "expertcast/detail/sequence_history.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// The paper gives a set, not probabilities. As a forecast: for the previous token's experts P at
/// layer l, U = union over i in P of the n largest entries of row H[l][i] (ties to the smaller
/// id); experts in U share (1 - u) in proportion to sum_{i in P} H[l][i][j] / |row i|, the rest
/// share u = 1% uniformly. With no previous token at the layer (a sequence's first token), the
/// same rule on the layer's popularity. It is a same-layer, cross-token predictor: for the
/// next-layer task it forecasts layer l from the sequence's previous token at layer l and ignores
/// the current token's routing at layer l-1, so its next-layer and next-token forecasts coincide.
class PaperHeatmapPredictor {
public:
    explicit PaperHeatmapPredictor(ModelShape shape)
        : shape_(validated(std::move(shape))),
          top_n_((shape_.num_experts * 2 + 9) / 10),  // ceil(0.2 E)
          heat_(std::size_t{shape_.num_moe_layers()} * shape_.num_experts * shape_.num_experts),
          row_totals_(std::size_t{shape_.num_moe_layers()} * shape_.num_experts),
          popularity_(shape_.num_moe_layers(), shape_.num_experts),
          history_(shape_),
          score_(shape_.num_experts),
          sorted_(shape_.num_experts),
          in_union_(shape_.num_experts) {}

    std::string_view name() const noexcept { return "paper-heatmap"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return history_.tokens(); }
    std::uint32_t top_n() const noexcept { return top_n_; }

    void begin_step(const TokenBatch& batch) { history_.begin_step(batch); }

    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        const std::uint32_t k = shape_.top_k, E = shape_.num_experts, l = routing.layer;
        if (!frozen_) {
            for (std::size_t t = 0; t < history_.tokens(); ++t) {
                auto now = routing.row(t, k);
                if (now.empty()) continue;
                popularity_.add(l, now);
                for (const ExpertId i : history_.previous(t, l)) {
                    const std::size_t r = std::size_t{l} * E + static_cast<std::size_t>(i);
                    detail::add_counts(heat_.data() + r * E, row_totals_[r], now, E);
                }
            }
        }
        // Learning used the pre-step history, as forecasts do.
        history_.remember(routing);
    }

    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const std::uint32_t E = shape_.num_experts, l = target.layer;
        for (std::size_t t = 0; t < history_.tokens(); ++t) {
            float* row = out.data() + t * E;
            std::fill_n(score_.data(), E, 0.0f);
            std::fill_n(in_union_.data(), E, std::uint8_t{0});
            bool seen = false;
            for (const ExpertId i : history_.previous(t, l)) {
                const std::size_t r = std::size_t{l} * E + static_cast<std::size_t>(i);
                const float total = row_totals_[r];
                if (total == 0.0f) continue;  // never seen before a next token at this layer
                seen = true;
                const float* h = heat_.data() + r * E;
                for (std::uint32_t e = 0; e < E; ++e) row[e] = h[e] / total;
                add_top_n(row);
                for (std::uint32_t e = 0; e < E; ++e) score_[e] += row[e];
            }
            if (!seen) {
                popularity_.distribution(l, {score_.data(), E});
                add_top_n(score_.data());
            }
            distribute(row);
        }
    }

    void end_sequence(SequenceId sequence) noexcept { history_.end_sequence(sequence); }
    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }
    bool frozen() const noexcept { return frozen_; }

private:
    static constexpr float outside_share = 0.01f;

    // Marks the n largest entries of `values` (ties to the smaller id) as members of the union:
    // the n-th largest value by selection (linear time), then one pass in id order.
    void add_top_n(const float* values) noexcept {
        const std::uint32_t E = shape_.num_experts;
        std::copy_n(values, E, sorted_.begin());
        std::nth_element(sorted_.begin(), sorted_.begin() + (top_n_ - 1), sorted_.end(),
                         std::greater<float>());
        const float threshold = sorted_[top_n_ - 1];
        std::uint32_t above = 0;  // strictly above the threshold: all members
        for (std::uint32_t e = 0; e < E; ++e) above += values[e] > threshold;
        std::uint32_t ties = top_n_ - above;  // equal to it: the smallest ids are members
        for (std::uint32_t e = 0; e < E; ++e) {
            if (values[e] > threshold) {
                in_union_[e] = 1;
            } else if (values[e] == threshold && ties > 0) {
                in_union_[e] = 1;
                --ties;
            }
        }
    }

    // row := (1 - u) score / sum(score) on the union (uniform there if all scores are 0) + u / E.
    void distribute(float* row) const noexcept {
        const std::uint32_t E = shape_.num_experts;
        float mass = 0.0f, members = 0.0f;
        for (std::uint32_t e = 0; e < E; ++e)
            if (in_union_[e]) mass += score_[e], members += 1.0f;
        const float base = outside_share / static_cast<float>(E);
        for (std::uint32_t e = 0; e < E; ++e) {
            float share = 0.0f;
            if (in_union_[e]) share = mass > 0.0f ? score_[e] / mass : 1.0f / members;
            row[e] = base + (1.0f - outside_share) * share;
        }
    }

    ModelShape shape_;
    std::uint32_t top_n_;
    detail::Arena<float> heat_;        // layers x E x E counts, [layer][from][to]
    detail::Arena<float> row_totals_;  // layers x E
    detail::LayerPopularity popularity_;
    detail::SequenceHistory history_;
    std::vector<float> score_;
    std::vector<float> sorted_;
    std::vector<std::uint8_t> in_union_;
    bool frozen_ = false;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
