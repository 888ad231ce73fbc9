// Longer contexts than Markov: the token's experts at its previous n-1 MoE layers, optionally with
// what its sequence's previous token picked at the target layer, stored sparsely (one row per
// context that occurs, under a memory cap) and interpolated down to popularity (Witten-Bell).
#pragma once

#include <algorithm>
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
#include "expertcast/detail/context_table.hpp"
#include "expertcast/detail/contract_checks.hpp"
#include "expertcast/detail/counts.hpp"
#include "expertcast/detail/pooling.hpp"
#include "expertcast/detail/sequence_history.hpp"
#include "expertcast/detail/step_context.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Options of NGramPredictor.
struct NGramConfig {
    /// n: the context is the token's experts at its previous n - 1 MoE layers (n >= 2; 2 is a
    /// Markov chain). At most 5, or 4 with previous_token.
    std::uint32_t order = 3;
    /// Also condition on the expert the sequence's previous token ranked first at the target
    /// layer, and forecast from the previous token alone when no layer of this step is known
    /// (the next-token forecast).
    bool previous_token = true;
    /// Cap on the sparse context rows and their hash index. Rows are reserved up front as untouched
    /// virtual memory and used in order; the index grows with the contexts seen (observe
    /// allocates only when their number doubles). Contexts beyond the cap are not stored
    /// (NGramPredictor::dropped_updates()).
    std::size_t memory_limit_bytes = std::size_t{256} << 20;
    /// How the k contexts (one per expert at layer l-1) are combined: 0, their mean; g > 0, a
    /// normalised product with exponent g / k each (see MarkovConfig::sharpness).
    float sharpness = 0.0f;
    /// Deepest horizon served from this step's routing (the step keeps this many layers); a
    /// deeper forecast uses the previous token alone.
    std::uint32_t max_horizon = 4;

    void validate() const {
        const std::uint32_t max_order = previous_token ? 4 : 5;
        if (order < 2 || order > max_order)
            throw ConfigError("ngram: order must be in [2, " + std::to_string(max_order) +
                              "], got " + std::to_string(order));
        if (memory_limit_bytes < (std::size_t{1} << 16))
            throw ConfigError("ngram: memory_limit_bytes must be at least 64 KiB");
        if (max_horizon == 0) throw ConfigError("ngram: max_horizon must be at least 1");
    }
};

/// Forecast for layer l, for a token whose experts at layer l-1 are S:
///
///     p = (1/k) sum_{i in S} P_n(. | i, a_2, ..., a_{n-1}[, b])
///
/// where a_m is the token's first-ranked expert at layer l-m (or "none" before the step's first
/// layer or where it was not recorded), b the first-ranked expert of the sequence's previous token
/// at layer l, and each level interpolates with the one below it (Witten-Bell):
/// P_m(j) = (c_m(j) + N_m P_{m-1}(j)) / (C_m + N_m), with C_m the context's count, N_m its number
/// of distinct targets, and P_0 the layer's add-one popularity. The first context expert iterates
/// over all k, deeper ones use the strongest choice only: k contexts per token, not k^(n-1).
///
/// Without layer l-1 (the next-token forecast, the first MoE layer, a lost row) and with
/// previous_token it forecasts (1/k) sum_{b in B} P(. | b), B the previous token's k experts at
/// layer l; with nothing at all, popularity. Horizons h > 1 chain the order-2 rows from layer l-h,
/// the last hop backing off to the previous-token forecast rather than to popularity.
class NGramPredictor {
public:
    explicit NGramPredictor(ModelShape shape, NGramConfig config = {})
        : shape_(validated(std::move(shape))),
          config_(validated(config)),
          table_(shape_.num_experts, config_.memory_limit_bytes),
          popularity_(shape_.num_moe_layers(), shape_.num_experts),
          history_(shape_),
          step_(std::max<std::uint32_t>(config_.order - 1, config_.max_horizon), shape_.top_k),
          prior_(shape_.num_experts),
          level_(shape_.num_experts),
          mixing_(shape_.num_experts),
          next_(shape_.num_experts),
          base_(shape_.num_experts),
          hop_prior_(shape_.num_experts) {
        if (shape_.num_moe_layers() > 4096)
            throw ConfigError("ngram: at most 4096 MoE layers fit in a context key");
    }

    std::string_view name() const noexcept { return "ngram"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return step_.tokens(); }
    const NGramConfig& config() const noexcept { return config_; }

    void begin_step(const TokenBatch& batch) {
        step_.begin(batch.size());
        if (config_.previous_token) history_.begin_step(batch);
    }

    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        const std::uint32_t k = shape_.top_k;
        const std::uint32_t l = routing.layer;
        if (!frozen_) {
            for (std::size_t t = 0; t < step_.tokens(); ++t) {
                auto truth = routing.row(t, k);
                if (truth.empty()) continue;
                popularity_.add(l, truth);
                const ExpertId previous = previous_first(t, l);
                if (auto from = l > 0 ? step_.row(l - 1, t) : std::span<const ExpertId>{};
                    !from.empty()) {
                    std::uint64_t ids[max_ids];
                    const std::uint32_t length = chain(t, l, previous, ids);
                    for (const ExpertId i : from) {
                        ids[0] = packed(i);
                        for (std::uint32_t level = 1; level <= length; ++level)
                            if (float* r = table_.find_or_insert(key(layer_chain, l, ids, level)))
                                table_.add(r, truth);
                    }
                }
                if (config_.previous_token && previous != not_recorded) {
                    for (const ExpertId b : history_.previous(t, l)) {
                        const std::uint64_t ids[1] = {packed(b)};
                        if (float* r = table_.find_or_insert(key(previous_token_only, l, ids, 1)))
                            table_.add(r, truth);
                    }
                }
            }
        }
        step_.record(routing);
        // After learning, so that every token of a prefill learnt from the same (causal) context
        // it was forecast from.
        if (config_.previous_token) history_.remember(routing);
    }

    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const std::uint32_t E = shape_.num_experts;
        const std::uint32_t l = target.layer;
        popularity_.distribution(l, {prior_.data(), E});
        for (std::size_t t = 0; t < step_.tokens(); ++t) {
            float* row = out.data() + t * E;
            std::span<const ExpertId> from;
            if (target.within_step() && target.horizon <= step_.depth())
                from = step_.row(target.context_layer(), t);
            if (!from.empty() && target.horizon == 1) {
                forecast_from_layers(t, l, from, row);
                continue;
            }
            // What the sequence's previous token says about layer l (popularity without one):
            // the next-token forecast, and what a chain over a deeper horizon backs off to.
            float* previous_token = from.empty() ? row : base_.data();
            forecast_from_previous_token(t, l, previous_token);
            if (!from.empty()) forecast_by_chaining(target, from, previous_token, row);
        }
    }

    void end_sequence(SequenceId sequence) noexcept { history_.end_sequence(sequence); }
    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }
    bool frozen() const noexcept { return frozen_; }

    /// Contexts stored, and context occurrences not stored because the memory cap was reached.
    std::size_t contexts() const noexcept { return table_.rows(); }
    std::size_t dropped_updates() const noexcept { return table_.dropped(); }
    std::size_t memory_used_bytes() const noexcept { return table_.bytes_used(); }

private:
    static constexpr std::uint32_t max_ids = 4;
    static constexpr std::uint64_t layer_chain = 0;
    static constexpr std::uint64_t previous_token_only = 1;

    static std::uint64_t packed(ExpertId e) noexcept { return static_cast<std::uint64_t>(e) + 1; }

    // bit 63 set (0 marks an empty bucket) | kind (1 bit) | length - 1 (2 bits) | layer (12 bits)
    // | up to 4 ids (12 bits each, id + 1, 0 for "none"). The length keeps (i, none) apart from
    // (i).
    static std::uint64_t key(std::uint64_t kind, std::uint32_t layer, const std::uint64_t* ids,
                             std::uint32_t length) noexcept {
        std::uint64_t k = (std::uint64_t{1} << 63) | (kind << 62) |
                          (std::uint64_t{length - 1} << 60) | (std::uint64_t{layer} << 48);
        for (std::uint32_t i = 0; i < length; ++i) k |= ids[i] << (12 * i);
        return k;
    }

    ExpertId previous_first(std::size_t t, std::uint32_t layer) const noexcept {
        if (!config_.previous_token) return not_recorded;
        const auto previous = history_.previous(t, layer);
        return previous.empty() ? not_recorded : previous[0];
    }

    // Fills ids[1..] with the deeper context of token t at layer l; returns the chain length.
    std::uint32_t chain(std::size_t t, std::uint32_t l, ExpertId previous,
                        std::uint64_t* ids) const noexcept {
        std::uint32_t length = 1;
        for (std::uint32_t m = 2; m < config_.order; ++m) {
            auto deeper = l >= m ? step_.row(l - m, t) : std::span<const ExpertId>{};
            ids[length++] = deeper.empty() ? 0 : packed(deeper[0]);
        }
        if (config_.previous_token) ids[length++] = previous == not_recorded ? 0 : packed(previous);
        return length;
    }

    // level := (c + N level) / (C + N) for a seen context; unchanged for an unseen one.
    void interpolate(const float* r, float* level) const noexcept {
        if (r == nullptr || r[0] == 0.0f) return;
        const float total = r[0];
        const float distinct = r[1];
        const float inv = 1.0f / (total + distinct);
        const float* counts = r + detail::ContextTable::header;
        for (std::uint32_t e = 0; e < shape_.num_experts; ++e)
            level[e] = (counts[e] + distinct * level[e]) * inv;
    }

    void forecast_from_layers(std::size_t t, std::uint32_t l, std::span<const ExpertId> from,
                              float* row) noexcept {
        const std::uint32_t E = shape_.num_experts;
        const float g = config_.sharpness;
        std::uint64_t ids[max_ids];
        const std::uint32_t length = chain(t, l, previous_first(t, l), ids);
        const float share = 1.0f / static_cast<float>(from.size());
        if (g > 0.0f)
            detail::log_pool_begin(row, prior_.data(), E, g);
        else
            std::fill_n(row, E, 0.0f);
        for (const ExpertId i : from) {
            ids[0] = packed(i);
            std::copy_n(prior_.data(), E, level_.data());
            for (std::uint32_t level = 1; level <= length; ++level) {
                const float* r = table_.find(key(layer_chain, l, ids, level));
                if (r == nullptr) break;  // longer contexts of an unseen one are unseen too
                interpolate(r, level_.data());
            }
            if (g > 0.0f)
                detail::log_pool_add(row, level_.data(), E, g * share);
            else
                for (std::uint32_t e = 0; e < E; ++e) row[e] += share * level_[e];
        }
        if (g > 0.0f) detail::log_pool_finish(row, E);
    }

    // (1/k) sum_{b in B} P(. | b), B the previous token's experts at layer l; prior_ without B.
    void forecast_from_previous_token(std::size_t t, std::uint32_t l, float* out) noexcept {
        const std::uint32_t E = shape_.num_experts;
        if (previous_first(t, l) == not_recorded) {
            std::copy_n(prior_.data(), E, out);
            return;
        }
        std::fill_n(out, E, 0.0f);
        const auto previous = history_.previous(t, l);
        const float share = 1.0f / static_cast<float>(previous.size());
        for (const ExpertId b : previous) {
            const std::uint64_t ids[1] = {packed(b)};
            std::copy_n(prior_.data(), E, level_.data());
            interpolate(table_.find(key(previous_token_only, l, ids, 1)), level_.data());
            for (std::uint32_t e = 0; e < E; ++e) out[e] += share * level_[e];
        }
    }

    // v over layer m's experts -> v' over layer m+1's: v'_j = sum_i v_i P_1(j | i at m), where
    // P_1 backs off to layer m+1's popularity, and on the last hop to `last_base` instead.
    void forecast_by_chaining(ForecastTarget target, std::span<const ExpertId> from,
                              const float* last_base, float* row) noexcept {
        const std::uint32_t E = shape_.num_experts;
        std::fill_n(mixing_.data(), E, 0.0f);
        for (const ExpertId i : from) mixing_[i] = 1.0f / static_cast<float>(from.size());
        for (std::uint32_t m = target.context_layer(); m < target.layer; ++m) {
            const bool last = m + 1 == target.layer;
            float* next = last ? row : next_.data();
            const float* base = last_base;
            if (!last) {
                popularity_.distribution(m + 1, {hop_prior_.data(), E});
                base = hop_prior_.data();
            }
            std::fill_n(next, E, 0.0f);
            for (std::uint32_t i = 0; i < E; ++i) {
                if (mixing_[i] == 0.0f) continue;
                const std::uint64_t ids[1] = {packed(static_cast<ExpertId>(i))};
                std::copy_n(base, E, level_.data());
                interpolate(table_.find(key(layer_chain, m + 1, ids, 1)), level_.data());
                for (std::uint32_t e = 0; e < E; ++e) next[e] += mixing_[i] * level_[e];
            }
            if (!last) std::copy_n(next, E, mixing_.data());
        }
    }

    ModelShape shape_;
    NGramConfig config_;
    detail::ContextTable table_;
    detail::LayerPopularity popularity_;
    detail::SequenceHistory history_;
    detail::StepContext step_;
    detail::Arena<float> prior_, level_, mixing_, next_, base_, hop_prior_;  // E each
    bool frozen_ = false;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
