// The baselines every table shows beside the real predictors, as predictors of the same concept:
// uniform (knows nothing), cumulative frequency (static placement: Fiddler, ktransformers) and
// previous-token (the "repeat what this sequence did last step at this layer" strategy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/contract_checks.hpp"
#include "expertcast/detail/counts.hpp"
#include "expertcast/detail/sequence_history.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// p_e = 1/E at every layer, whatever happened.
class UniformPredictor {
public:
    explicit UniformPredictor(ModelShape shape) : shape_(validated(std::move(shape))) {}

    std::string_view name() const noexcept { return "uniform"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return tokens_; }
    void begin_step(const TokenBatch& batch) noexcept { tokens_ = batch.size(); }
    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
    }
    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const float p = 1.0f / static_cast<float>(shape_.num_experts);
        for (std::size_t i = 0; i < tokens_ * shape_.num_experts; ++i) out[i] = p;
    }
    void end_sequence(SequenceId) noexcept {}
    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }  // nothing to learn either way
    bool frozen() const noexcept { return frozen_; }

private:
    ModelShape shape_;
    std::size_t tokens_ = 0;
    bool frozen_ = false;
};

/// Cumulative popularity of each expert at the target layer over everything observed:
/// p_e = (c_e + 1) / (C + E), the same for every token.
class FrequencyPredictor {
public:
    explicit FrequencyPredictor(ModelShape shape)
        : shape_(validated(std::move(shape))),
          popularity_(shape_.num_moe_layers(), shape_.num_experts) {}

    std::string_view name() const noexcept { return "frequency"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return tokens_; }
    void begin_step(const TokenBatch& batch) noexcept { tokens_ = batch.size(); }
    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        if (frozen_) return;
        for (std::size_t t = 0; t < tokens_; ++t)
            if (auto row = routing.row(t, shape_.top_k); !row.empty())
                popularity_.add(routing.layer, row);
    }
    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const std::uint32_t E = shape_.num_experts;
        if (tokens_ == 0) return;
        popularity_.distribution(target.layer, out.first(E));
        for (std::size_t t = 1; t < tokens_; ++t)
            for (std::uint32_t e = 0; e < E; ++e) out[t * E + e] = out[e];
    }
    void end_sequence(SequenceId) noexcept {}
    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }
    bool frozen() const noexcept { return frozen_; }

    const detail::LayerPopularity& popularity() const noexcept { return popularity_; }

private:
    ModelShape shape_;
    detail::LayerPopularity popularity_;
    std::size_t tokens_ = 0;
    bool frozen_ = false;
};

/// Options of PreviousTokenPredictor.
struct PreviousTokenConfig {
    /// Share of probability spread uniformly over all experts, so that experts the previous token
    /// did not pick keep a finite log loss. The ranking does not depend on it.
    float uniform_share = 0.01f;
};

/// The token's experts at a layer are those its sequence's previous token picked at that layer:
/// p = (1 - u) / k on those k experts + u / E everywhere; uniform when the sequence has no earlier
/// token at that layer. It learns nothing across sequences, so freezing changes nothing.
class PreviousTokenPredictor {
public:
    explicit PreviousTokenPredictor(ModelShape shape, PreviousTokenConfig config = {})
        : shape_(validated(std::move(shape))), config_(config), history_(shape_) {
        if (!(config_.uniform_share > 0.0f && config_.uniform_share <= 1.0f))
            throw ConfigError("previous-token: uniform_share must be in (0, 1]");
    }

    std::string_view name() const noexcept { return "previous-token"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return history_.tokens(); }
    void begin_step(const TokenBatch& batch) { history_.begin_step(batch); }
    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        history_.remember(routing);
    }
    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const std::uint32_t E = shape_.num_experts;
        const std::uint32_t k = shape_.top_k;
        const float base = config_.uniform_share / static_cast<float>(E);
        const float hit = (1.0f - config_.uniform_share) / static_cast<float>(k);
        for (std::size_t t = 0; t < history_.tokens(); ++t) {
            float* row = out.data() + t * E;
            const auto previous = history_.previous(t, target.layer);
            if (previous.empty()) {
                for (std::uint32_t e = 0; e < E; ++e) row[e] = 1.0f / static_cast<float>(E);
                continue;
            }
            for (std::uint32_t e = 0; e < E; ++e) row[e] = base;
            for (const ExpertId e : previous) row[e] += hit;
        }
    }
    void end_sequence(SequenceId sequence) noexcept { history_.end_sequence(sequence); }
    // Per-sequence context is all it has: it learns no statistics, frozen or not.
    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }
    bool frozen() const noexcept { return frozen_; }

    std::size_t live_sequences() const noexcept { return history_.live_sequences(); }

private:
    ModelShape shape_;
    PreviousTokenConfig config_;
    detail::SequenceHistory history_;
    bool frozen_ = false;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
