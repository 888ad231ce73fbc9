// MoE-Infinity's activation matching, as a baseline: every finished request leaves its expert
// activation matrix (selection counts per MoE layer and expert); a running request is matched to
// the stored matrix most similar to its own so far (cosine), and that matrix's row for the target
// layer is the forecast.
#pragma once

#include <algorithm>
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
#include "expertcast/detail/counts.hpp"
#include "expertcast/detail/sequence_table.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Options of ActivationMatchPredictor.
struct ActivationMatchConfig {
    /// Finished requests' matrices kept; the oldest is dropped first.
    std::uint32_t capacity = 1000;
    /// Pseudo-selections of the layer's popularity added to the matched row (keeps nll finite).
    float smoothing = 1.0f;

    void validate() const {
        if (capacity == 0) throw ConfigError("activation-match: capacity must be at least 1");
        if (!(smoothing > 0.0f) || !std::isfinite(smoothing))
            throw ConfigError("activation-match: smoothing must be a positive number");
    }
};

/// The running request's matrix A (counts of its tokens so far, all layers, so the layers of the
/// current token not yet routed hold only earlier tokens) is compared with each stored matrix M
/// by cos(A, M); the best (the newest among equals) gives p = (M[l] + a pop_l) / (|M[l]| + a).
/// Before any request has finished, or for a request with no routing yet, p = pop_l.
///
/// Dot products A.M are kept up to date as A grows (k additions per stored matrix per routed
/// token and layer), so a forecast costs one pass over the stored matrices, not over their
/// entries. Stored matrices are laid out [layer][expert][matrix] so that those additions read
/// contiguous memory.
class ActivationMatchPredictor {
public:
    explicit ActivationMatchPredictor(ModelShape shape, ActivationMatchConfig config = {})
        : shape_(validated(std::move(shape))),
          config_(validated(config)),
          cells_(std::size_t{shape_.num_moe_layers()} * shape_.num_experts),
          stored_(cells_ * config_.capacity),
          stored_norms_(config_.capacity),
          stored_order_(config_.capacity),
          popularity_(shape_.num_moe_layers(), shape_.num_experts),
          sequences_(record_size(), 0.0f) {}

    std::string_view name() const noexcept { return "activation-match"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return token_slots_.size(); }
    /// Matrices stored so far (at most the capacity).
    std::uint32_t stored() const noexcept { return count_; }

    void begin_step(const TokenBatch& batch) { sequences_.resolve(batch.sequences, token_slots_); }

    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        const std::uint32_t k = shape_.top_k, E = shape_.num_experts, C = config_.capacity;
        for (std::size_t t = 0; t < token_slots_.size(); ++t) {
            auto row = routing.row(t, k);
            if (row.empty()) continue;
            if (!frozen_) popularity_.add(routing.layer, row);
            float* record = sequences_.record(token_slots_[t]);
            float* matrix = record;
            float& norm = record[cells_];
            float* dots = record + cells_ + 1;
            for (const ExpertId e : row) {
                const std::size_t cell =
                    std::size_t{routing.layer} * E + static_cast<std::size_t>(e);
                norm += 2.0f * matrix[cell] + 1.0f;  // (x + 1)^2 - x^2
                matrix[cell] += 1.0f;
                const float* column = stored_.data() + cell * C;
                for (std::uint32_t m = 0; m < count_; ++m) dots[m] += column[m];
            }
        }
    }

    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const std::uint32_t E = shape_.num_experts, C = config_.capacity, l = target.layer;
        const float a = config_.smoothing;
        for (std::size_t t = 0; t < token_slots_.size(); ++t) {
            float* row = out.data() + t * E;
            popularity_.distribution(l, {row, E});
            const float* record = sequences_.record(token_slots_[t]);
            if (count_ == 0 || record[cells_] == 0.0f) continue;
            const float* dots = record + cells_ + 1;
            // The stored matrix of the best cosine; ||A|| is common to all and left out.
            std::uint32_t best = 0;
            float best_score = -1.0f;
            for (std::uint32_t i = 0; i < count_; ++i) {
                const std::uint32_t m = stored_order_[count_ - 1 - i];  // newest first
                const float score =
                    stored_norms_[m] > 0.0f ? dots[m] / std::sqrt(stored_norms_[m]) : 0.0f;
                if (score > best_score) best_score = score, best = m;
            }
            float total = 0.0f;
            for (std::uint32_t e = 0; e < E; ++e)
                total += stored_[(std::size_t{l} * E + e) * C + best];
            const float inv = 1.0f / (total + a);
            for (std::uint32_t e = 0; e < E; ++e)
                row[e] = (stored_[(std::size_t{l} * E + e) * C + best] + a * row[e]) * inv;
        }
    }

    /// Stores the finished request's matrix (unless frozen) and frees its context. Updates every
    /// live sequence's dot product with the new matrix: O(live x L x E), once per request.
    void end_sequence(SequenceId sequence) noexcept {
        const std::uint32_t slot = sequences_.find(sequence);
        if (slot == detail::SequenceSlots::npos) return;
        const float* finished = sequences_.record(slot);
        if (!frozen_ && finished[cells_] > 0.0f) store(finished);
        sequences_.release(sequence);
    }

    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }
    bool frozen() const noexcept { return frozen_; }

private:
    // Per sequence: its matrix (L x E), its squared norm, its dot product with each stored matrix.
    std::size_t record_size() const noexcept { return cells_ + 1 + config_.capacity; }

    void store(const float* matrix) noexcept {
        const std::uint32_t C = config_.capacity;
        // The slot to (over)write: the next free one, else the oldest.
        const std::uint32_t m = count_ < C ? count_ : stored_order_[0];
        if (count_ < C) {
            stored_order_[count_++] = m;
        } else {
            std::rotate(stored_order_.begin(), stored_order_.begin() + 1, stored_order_.end());
            stored_order_[C - 1] = m;
        }
        float norm = 0.0f;
        for (std::size_t cell = 0; cell < cells_; ++cell) {
            stored_[cell * C + m] = matrix[cell];
            norm += matrix[cell] * matrix[cell];
        }
        stored_norms_[m] = norm;
        sequences_.for_each_live([&](float* record) {
            float dot = 0.0f;
            for (std::size_t cell = 0; cell < cells_; ++cell) dot += record[cell] * matrix[cell];
            record[cells_ + 1 + m] = dot;
        });
    }

    ModelShape shape_;
    ActivationMatchConfig config_;
    std::size_t cells_;                        // L x E
    detail::Arena<float> stored_;              // [layer][expert][matrix]
    detail::Arena<float> stored_norms_;        // squared norms
    std::vector<std::uint32_t> stored_order_;  // matrix slots, oldest first
    std::uint32_t count_ = 0;
    detail::LayerPopularity popularity_;
    detail::SequenceStore<float> sequences_;
    std::vector<std::uint32_t> token_slots_;
    bool frozen_ = false;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
