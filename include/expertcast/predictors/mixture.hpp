// A predictor made of predictors: each member forecasts, the mixture pools their forecasts with
// weights it learns online, per MoE layer and per kind of forecast, from the log loss each member
// would have had on the router's actual choice. The best signal differs by model (inter-layer on
// gpt-oss, temporal on Llama-4) and by layer; the weights find it without being told.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/contract_checks.hpp"
#include "expertcast/detail/fast_math.hpp"
#include "expertcast/detail/pooling.hpp"
#include "expertcast/predictors/any_predictor.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Options of MixturePredictor.
struct MixtureConfig {
    enum class Pooling {
        /// p = sum_m w_m p_m, w on the simplex, learnt by Hedge (exponential weights) on log loss.
        linear,
        /// p proportional to prod_m p_m^(w_m), w >= 0 (their sum sets the sharpness), learnt by
        /// exponentiated gradient on log loss.
        log_linear,
    };
    Pooling pooling = Pooling::log_linear;
    /// Step size of the weight updates (per scored token and layer).
    float learning_rate = 0.05f;
    /// Share of each update pulled back toward the initial weights, so a member that was bad on
    /// one workload can recover on the next (fixed-share).
    float recovery = 0.001f;
    /// Horizons within the step that have weights of their own; deeper ones share the deepest
    /// one's. The next-token forecast (before the step) always has its own. A kind's weights
    /// learn only in steps where that kind was forecast for the layer (observe then recomputes
    /// the members' forecasts for it, unless it was the last one asked).
    std::uint32_t learned_horizons = 1;
    /// The name the mixture reports (tables, JSON).
    std::string name = "mixture";

    void validate() const {
        if (!(learning_rate >= 0.0f) || !std::isfinite(learning_rate))
            throw ConfigError("mixture: learning_rate must be a non-negative number");
        if (!(recovery >= 0.0f && recovery < 1.0f))
            throw ConfigError("mixture: recovery must be in [0, 1)");
        if (learned_horizons == 0)
            throw ConfigError("mixture: learned_horizons must be at least 1");
        if (name.empty()) throw ConfigError("mixture: name must not be empty");
    }
};

class MixturePredictor {
public:
    MixturePredictor(ModelShape shape, std::vector<AnyPredictor> members, MixtureConfig config = {})
        : shape_(validated(std::move(shape))),
          config_(validated(std::move(config))),
          members_(std::move(members)),
          kinds_(config_.learned_horizons + 1),
          weights_(std::size_t{shape_.num_moe_layers()} * kinds_ * members_.size(),
                   initial_weight()),
          gradient_(members_.size()),
          pooled_(shape_.num_experts),
          asked_(shape_.num_moe_layers(), 0) {
        if (members_.empty()) throw ConfigError("mixture: needs at least one member");
        for (const auto& m : members_)
            if (!(m.shape() == shape_))
                throw ConfigError("mixture: member '" + std::string(m.name()) +
                                  "' has a different model shape");
    }

    std::string_view name() const noexcept { return config_.name; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return tokens_; }
    const MixtureConfig& config() const noexcept { return config_; }
    std::span<const AnyPredictor> members() const noexcept { return members_; }

    /// Current weights of the members for a layer and a kind of forecast.
    std::span<const float> weights(std::uint32_t layer, ForecastTarget target) const noexcept {
        return {weights_.data() + weight_index(layer, kind_of(target)), members_.size()};
    }

    void begin_step(const TokenBatch& batch) {
        tokens_ = batch.size();
        std::fill(asked_.begin(), asked_.end(), std::uint8_t{0});
        for (auto& m : members_) m.begin_step(batch);
        const std::size_t needed = members_.size() * tokens_ * shape_.num_experts;
        if (scratch_.size() < needed) scratch_.resize(needed);
        if (log_linear() && logs_.size() < needed) logs_.resize(needed);
        cached_ = false;
    }

    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        const std::uint32_t l = routing.layer;
        if (!frozen_ && config_.learning_rate > 0.0f) {
            // The weights of a kind of forecast learn from this layer's truth when that kind was
            // asked for this layer in this step: an engine that only forecasts the next layer
            // pays for no other kind.
            const std::uint8_t asked = asked_[l];
            if (asked & 1u) learn(routing, ForecastTarget::next_token(l));
            for (std::uint32_t h = 1; h <= config_.learned_horizons && h <= l; ++h)
                if (asked & (1u << kind_of(ForecastTarget::next_layer(l, h))))
                    learn(routing, ForecastTarget::next_layer(l, h));
        }
        for (auto& m : members_) m.observe(routing);
        cached_ = false;
    }

    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        asked_[target.layer] |= static_cast<std::uint8_t>(1u << kind_of(target));
        member_forecasts(target);
        const std::uint32_t E = shape_.num_experts;
        const float* w = weights_.data() + weight_index(target.layer, kind_of(target));
        for (std::size_t t = 0; t < tokens_; ++t) pool(w, t, out.data() + t * E);
    }

    void end_sequence(SequenceId sequence) noexcept {
        for (auto& m : members_) m.end_sequence(sequence);
    }
    void set_frozen(bool frozen) noexcept {
        frozen_ = frozen;
        for (auto& m : members_) m.set_frozen(frozen);
    }
    bool frozen() const noexcept { return frozen_; }

private:
    float initial_weight() const noexcept { return 1.0f / static_cast<float>(members_.size()); }

    // Kinds: 0 = before the step (next-token), h = within the step at horizon h (capped).
    std::uint32_t kind_of(ForecastTarget target) const noexcept {
        if (!target.within_step()) return 0;
        return std::min(target.horizon, config_.learned_horizons);
    }
    std::size_t weight_index(std::uint32_t layer, std::uint32_t kind) const noexcept {
        return (std::size_t{layer} * kinds_ + kind) * members_.size();
    }
    bool log_linear() const noexcept {
        return config_.pooling == MixtureConfig::Pooling::log_linear;
    }
    float* member_rows(std::size_t m) noexcept {
        return scratch_.data() + m * tokens_ * shape_.num_experts;
    }
    // log of member_rows(m), kept beside it with log-linear pooling: pooling and learning read
    // every member's logarithms, once per forecast and again per update.
    float* member_logs(std::size_t m) noexcept {
        return logs_.data() + m * tokens_ * shape_.num_experts;
    }

    // Fills the scratch with every member's forecast for `target`, unless it already holds it.
    void member_forecasts(ForecastTarget target) noexcept {
        if (cached_ && cached_target_.layer == target.layer &&
            cached_target_.horizon == target.horizon)
            return;
        const std::size_t n = tokens_ * shape_.num_experts;
        for (std::size_t m = 0; m < members_.size(); ++m) {
            members_[m].forecast(target, {member_rows(m), n});
            if (!log_linear()) continue;
            const float* p = member_rows(m);
            float* log_p = member_logs(m);
            for (std::size_t i = 0; i < n; ++i) log_p[i] = detail::fast_log(p[i]);
        }
        cached_ = true;
        cached_target_ = target;
    }

    void pool(const float* w, std::size_t t, float* row) noexcept {
        const std::uint32_t E = shape_.num_experts;
        const std::size_t offset = t * E;
        if (config_.pooling == MixtureConfig::Pooling::linear) {
            std::fill_n(row, E, 0.0f);
            for (std::size_t m = 0; m < members_.size(); ++m) {
                const float* p = member_rows(m) + offset;
                for (std::uint32_t e = 0; e < E; ++e) row[e] += w[m] * p[e];
            }
            return;
        }
        std::fill_n(row, E, 0.0f);
        for (std::size_t m = 0; m < members_.size(); ++m) {
            const float* log_p = member_logs(m) + offset;
            for (std::uint32_t e = 0; e < E; ++e) row[e] += w[m] * log_p[e];
        }
        detail::log_pool_finish(row, E);
    }

    // One weight update per token whose truth at this layer is recorded.
    void learn(const LayerRouting& routing, ForecastTarget target) noexcept {
        const std::uint32_t E = shape_.num_experts, k = shape_.top_k;
        const std::size_t M = members_.size();
        member_forecasts(target);
        float* w = weights_.data() + weight_index(routing.layer, kind_of(target));
        const float eta = config_.learning_rate;
        const float keep = 1.0f - config_.recovery;
        const float restore = config_.recovery * initial_weight();
        for (std::size_t t = 0; t < tokens_; ++t) {
            auto truth = routing.row(t, k);
            if (truth.empty()) continue;
            const std::size_t offset = t * E;
            if (config_.pooling == MixtureConfig::Pooling::linear) {
                // Hedge: w_m *= exp(-eta * loss_m), loss_m = -(1/k) sum_{e in S} log p_m(e).
                float total = 0.0f;
                for (std::size_t m = 0; m < M; ++m) {
                    const float* p = member_rows(m) + offset;
                    float loss = 0.0f;
                    for (const ExpertId e : truth) loss -= detail::fast_log(std::max(p[e], 1e-12f));
                    w[m] *= std::exp(-eta * loss / static_cast<float>(k));
                    total += w[m];
                }
                for (std::size_t m = 0; m < M; ++m) w[m] = keep * (w[m] / total) + restore;
                continue;
            }
            // Log-linear: dL/dw_m = -(1/k) sum_{e in S} log p_m(e) + sum_e p(e) log p_m(e),
            // with p the pooled forecast; exponentiated gradient keeps w >= 0.
            // log max(p, 1e-12) = max(log p, log 1e-12): the logarithm is increasing.
            const float floor = detail::fast_log(1e-12f);
            pool(w, t, pooled_.data());
            for (std::size_t m = 0; m < M; ++m) {
                const float* log_p = member_logs(m) + offset;
                float expected = 0.0f, chosen = 0.0f;
                for (std::uint32_t e = 0; e < E; ++e)
                    expected += pooled_[e] * std::max(log_p[e], floor);
                for (const ExpertId e : truth) chosen += std::max(log_p[e], floor);
                gradient_[m] = expected - chosen / static_cast<float>(k);
            }
            for (std::size_t m = 0; m < M; ++m) {
                const float step = std::clamp(-eta * gradient_[m], -1.0f, 1.0f);
                w[m] = std::clamp(keep * w[m] * std::exp(step) + restore, 1e-4f, 16.0f);
            }
        }
    }

    ModelShape shape_;
    MixtureConfig config_;
    std::vector<AnyPredictor> members_;
    std::uint32_t kinds_;
    std::vector<float> weights_;  // layers x kinds x members
    std::vector<float> gradient_;
    std::vector<float> pooled_;
    std::vector<std::uint8_t> asked_;  // per layer: bit k set when kind k was forecast this step
    std::vector<float> scratch_;       // members x tokens x E: the members' last forecasts
    std::vector<float> logs_;          // their logarithms (log-linear pooling only)
    std::size_t tokens_ = 0;
    bool cached_ = false;
    ForecastTarget cached_target_;
    bool frozen_ = false;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
