// Expert popularity that follows the workload: per-layer selection counts that decay with a
// half-life in tokens, kept globally (what the whole service routes to lately) and per sequence
// (what this request has routed to, its prefill included: arXiv:2510.05497, insight 1), mixed by
// how much the sequence has shown so far.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/core/forecast.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/arena.hpp"
#include "expertcast/detail/contract_checks.hpp"
#include "expertcast/detail/sequence_table.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Options of FrequencyDecayPredictor.
struct FrequencyDecayConfig {
    /// Half-life of the global counts, in tokens observed at the layer (all sequences).
    float half_life_tokens = 2048.0f;
    /// Half-life of a sequence's own counts, in that sequence's tokens.
    float sequence_half_life_tokens = 64.0f;
    /// The sequence's share of the mix is n / (n + this), n its decayed token count at the layer.
    float sequence_prior_tokens = 4.0f;
    /// Count the prefill's routing into the sequence's own popularity, so that its decode
    /// forecasts start from what its prompt routed to (arXiv:2510.05497, insight 1). Off: the
    /// sequence's counts start at its first decode token (prefill tokens still count globally).
    bool seed_from_prefill = true;

    void validate() const {
        auto positive = [](float v, const char* field) {
            if (!(v > 0.0f) || !std::isfinite(v))
                throw ConfigError(std::string("frequency-decay: ") + field +
                                  " must be a positive number, got " + std::to_string(v));
        };
        positive(half_life_tokens, "half_life_tokens");
        positive(sequence_half_life_tokens, "sequence_half_life_tokens");
        positive(sequence_prior_tokens, "sequence_prior_tokens");
    }
};

/// p = w s / |s| + (1 - w) g, where g is the layer's decayed global popularity (add-one smoothed),
/// s the sequence's decayed counts at the layer and w = n / (n + sequence_prior_tokens). It uses no
/// inter-layer context, so every horizon gives the same forecast.
///
/// Decay is a running scale: each new token adds weight `scale` (which grows by 2^(1/half-life)
/// per token) instead of every entry being multiplied down; all entries are rescaled only when the
/// scale grows past 2^64.
class FrequencyDecayPredictor {
public:
    explicit FrequencyDecayPredictor(ModelShape shape, FrequencyDecayConfig config = {})
        : shape_(validated(std::move(shape))),
          config_(validated(config)),
          global_growth_(std::exp2(1.0f / config_.half_life_tokens)),
          sequence_growth_(std::exp2(1.0f / config_.sequence_half_life_tokens)),
          global_(std::size_t{shape_.num_moe_layers()} * stride()),
          sequences_(std::size_t{shape_.num_moe_layers()} * stride(), 0.0f) {
        for (std::uint32_t l = 0; l < shape_.num_moe_layers(); ++l) global(l)[scale_at()] = 1.0f;
    }

    std::string_view name() const noexcept { return "frequency-decay"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return token_slots_.size(); }
    const FrequencyDecayConfig& config() const noexcept { return config_; }

    void begin_step(const TokenBatch& batch) {
        sequences_.resolve(batch.sequences, token_slots_);
        counts_for_sequence_.resize(batch.size());  // allocates only for a larger batch
        for (std::size_t t = 0; t < batch.size(); ++t)
            counts_for_sequence_[t] = config_.seed_from_prefill || batch.phase(t) != Phase::prefill;
    }

    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        const std::uint32_t k = shape_.top_k;
        for (std::size_t t = 0; t < token_slots_.size(); ++t) {
            auto row = routing.row(t, k);
            if (row.empty()) continue;
            if (!frozen_) add(global(routing.layer), global_growth_, row);
            // A sequence's own counts are context, not learnt statistics: kept even when frozen.
            if (counts_for_sequence_[t]) add(sequence(t, routing.layer), sequence_growth_, row);
        }
    }

    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const std::uint32_t E = shape_.num_experts;
        const std::uint32_t k = shape_.top_k;
        const float* g = global(target.layer);
        const float g_inv = 1.0f / (g[total_at()] + static_cast<float>(E) * g[scale_at()]);
        for (std::size_t t = 0; t < token_slots_.size(); ++t) {
            float* row = out.data() + t * E;
            const float* s = sequence(t, target.layer);
            const float s_total = s[total_at()];
            float w = 0.0f;
            if (s_total > 0.0f) {
                const float n = s_total / (static_cast<float>(k) * s[scale_at()]);
                w = n / (n + config_.sequence_prior_tokens);
            }
            const float gw = (1.0f - w) * g_inv;
            const float sw = s_total > 0.0f ? w / s_total : 0.0f;
            for (std::uint32_t e = 0; e < E; ++e) row[e] = gw * (g[e] + g[scale_at()]) + sw * s[e];
        }
    }

    void end_sequence(SequenceId sequence_id) noexcept { sequences_.release(sequence_id); }
    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }
    bool frozen() const noexcept { return frozen_; }

private:
    // Per layer: E counts, their total, and the weight the next token will add (the scale).
    std::size_t stride() const noexcept { return std::size_t{shape_.num_experts} + 2; }
    std::size_t total_at() const noexcept { return shape_.num_experts; }
    std::size_t scale_at() const noexcept { return std::size_t{shape_.num_experts} + 1; }

    float* global(std::uint32_t layer) noexcept { return global_.data() + layer * stride(); }
    float* sequence(std::size_t token, std::uint32_t layer) noexcept {
        return sequences_.record(token_slots_[token]) + layer * stride();
    }

    void add(float* counts, float growth, std::span<const ExpertId> selected) noexcept {
        float& scale = counts[scale_at()];
        if (scale == 0.0f) scale = 1.0f;  // a fresh sequence record
        for (const ExpertId e : selected) counts[e] += scale;
        counts[total_at()] += static_cast<float>(selected.size()) * scale;
        scale *= growth;
        if (scale > 1.8e19f) {  // 2^64: far from float's range, and the relative precision is kept
            const float inv = 1.0f / scale;
            // Entries this far below the newest token are noise; zero them before they reach
            // float's slow denormal range.
            for (std::size_t i = 0; i <= total_at(); ++i)
                counts[i] = counts[i] * inv < 1e-30f ? 0.0f : counts[i] * inv;
            scale = 1.0f;
        }
    }

    ModelShape shape_;
    FrequencyDecayConfig config_;
    float global_growth_;
    float sequence_growth_;
    detail::Arena<float> global_;             // layers x (E + 2)
    detail::SequenceStore<float> sequences_;  // per sequence: layers x (E + 2)
    std::vector<std::uint32_t> token_slots_;
    std::vector<std::uint8_t> counts_for_sequence_;  // per token of the step
    bool frozen_ = false;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
