// First-order inter-layer transitions: the experts a token picks at MoE layer l predict its experts
// at layer l+1 (arXiv:2510.05497, observation 1; ExFlow's inter-layer affinity). One dense E x E
// count table per pair of consecutive MoE layers, all in one contiguous arena laid out
// [layer][from][to], so the row "next layer given expert i" is contiguous.
#pragma once

#include <Eigen/Core>
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
#include "expertcast/detail/fast_math.hpp"
#include "expertcast/detail/pooling.hpp"
#include "expertcast/detail/step_context.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Options of MarkovPredictor.
struct MarkovConfig {
    /// Pseudo-selections of the target layer's popularity added to every transition row: a row
    /// seen n times forecasts (T_ij + a * pop_j) / (n + a). Larger trusts popularity longer.
    float smoothing = 4.0f;
    /// Deepest horizon served by chaining; the step keeps this many layers of routing.
    std::uint32_t max_horizon = 4;
    /// Transition tables kept: from layer m to m + d for every d in [1, max_distance]. With 1
    /// (the classic chain) a horizon h > 1 is forecast by chaining; with more, every layer of the
    /// step between l - max_distance and l - h is evidence for layer l through its own table.
    std::uint32_t max_distance = 1;
    /// How the context rows are combined. 0: their mean (a mixture). g > 0: a normalised product,
    /// log p = (1 - g) log pop + (g / n) sum of the n rows' logs; g = 1 is the geometric mean,
    /// g = n naive Bayes (each context expert independent evidence about the target).
    float sharpness = 0.0f;

    void validate() const {
        if (!(smoothing > 0.0f) || !std::isfinite(smoothing))
            throw ConfigError("markov: smoothing must be a positive number, got " +
                              std::to_string(smoothing));
        if (max_horizon == 0) throw ConfigError("markov: max_horizon must be at least 1");
        if (max_distance == 0 || max_distance > 64)
            throw ConfigError("markov: max_distance must be in [1, 64]");
        if (!(sharpness >= 0.0f) || !std::isfinite(sharpness))
            throw ConfigError("markov: sharpness must be a non-negative number");
    }
};

/// Forecasts layer l from the token's experts at layer l - h of the same step:
/// p = v R_{l-h} R_{l-h+1} ... R_{l-1}, with v uniform over the k context experts and R_m the
/// smoothed, row-normalised transition table from MoE layer m to m + 1. Without context (the
/// first MoE layer, the next-token forecast, a lost row) it forecasts the layer's popularity.
class MarkovPredictor {
public:
    explicit MarkovPredictor(ModelShape shape, MarkovConfig config = {})
        : shape_(validated(std::move(shape))),
          config_(validated(config)),
          distances_(std::min(config_.max_distance, shape_.num_moe_layers() - 1)),
          transitions_(std::size_t{distances_} * table_rows() * shape_.num_experts),
          row_totals_(std::size_t{distances_} * table_rows()),
          popularity_(shape_.num_moe_layers(), shape_.num_experts),
          step_(std::max(config_.max_horizon, config_.max_distance), shape_.top_k),
          mixing_(shape_.num_experts),
          next_(shape_.num_experts),
          prior_(shape_.num_experts) {}

    std::string_view name() const noexcept { return "markov"; }
    const ModelShape& shape() const noexcept { return shape_; }
    std::size_t step_tokens() const noexcept { return step_.tokens(); }
    const MarkovConfig& config() const noexcept { return config_; }

    void begin_step(const TokenBatch& batch) {
        step_.begin(batch.size());
        // Tokens of a batch share context experts, so a product-pooled forecast keeps each
        // transition row's logarithms for the other tokens (distances x E x E floats, 1 MiB for
        // DeepSeek-V3 at distance 4), allocated with the first batch of more than one token.
        if (batch.size() > 1 && config_.sharpness > 0.0f && row_logs_.size() == 0) {
            const std::size_t rows = std::size_t{distances_} * shape_.num_experts;
            row_logs_ = detail::Arena<float>(rows * shape_.num_experts);
            row_log_epoch_.assign(rows, 0);
        }
    }

    void observe(const LayerRouting& routing) noexcept {
        detail::check_observe(shape_, step_tokens(), routing);
        const std::uint32_t k = shape_.top_k;
        const std::uint32_t E = shape_.num_experts;
        const std::uint32_t l = routing.layer;
        if (!frozen_) {
            for (std::size_t t = 0; t < step_.tokens(); ++t) {
                auto to = routing.row(t, k);
                if (to.empty()) continue;
                popularity_.add(l, to);
                for (std::uint32_t d = 1; d <= distances_ && d <= l; ++d)
                    for (const ExpertId i : step_.row(l - d, t)) {
                        const std::size_t r = row_index(d, l - d, static_cast<std::uint32_t>(i));
                        detail::add_counts(transitions_.data() + r * E, row_totals_[r], to, E);
                    }
            }
        }
        step_.record(routing);
    }

    void forecast(ForecastTarget target, std::span<float> out) noexcept {
        detail::check_forecast(shape_, step_tokens(), target, out);
        const std::uint32_t E = shape_.num_experts;
        if (++epoch_ == 0) {  // rows' logarithms kept from earlier calls are stale
            std::fill(row_log_epoch_.begin(), row_log_epoch_.end(), 0u);
            epoch_ = 1;
        }
        for (std::size_t t = 0; t < step_.tokens(); ++t) {
            std::span<float> row = out.subspan(t * E, E);
            auto context = target.within_step() && target.horizon <= step_.depth()
                               ? step_.row(target.context_layer(), t)
                               : std::span<const ExpertId>{};
            if (context.empty()) {
                popularity_.distribution(target.layer, row);
            } else if (target.horizon <= distances_) {
                from_tables(target, t, row);
            } else {
                chain(target, context, row);
            }
        }
    }

    void end_sequence(SequenceId) noexcept {}  // all its context lives in the step
    void set_frozen(bool frozen) noexcept { frozen_ = frozen; }
    bool frozen() const noexcept { return frozen_; }

    /// Count table from MoE ordinal `from_layer` to `from_layer + distance` (E x E, row-major
    /// [from][to]).
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>
    transition_counts(std::uint32_t from_layer, std::uint32_t distance = 1) const noexcept {
        const std::uint32_t E = shape_.num_experts;
        return {transitions_.data() + row_index(distance, from_layer, 0) * E, E, E};
    }
    const detail::LayerPopularity& popularity() const noexcept { return popularity_; }

private:
    using Vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;

    // Tables [distance - 1][from layer][from expert][to expert]; distance d uses its first L - d
    // layers (a few unused rows keep the indexing simple).
    std::size_t table_rows() const noexcept {
        return std::size_t{shape_.num_moe_layers()} * shape_.num_experts;
    }
    std::size_t row_index(std::uint32_t distance, std::uint32_t from_layer,
                          std::uint32_t from_expert) const noexcept {
        return std::size_t{distance - 1} * table_rows() +
               std::size_t{from_layer} * shape_.num_experts + from_expert;
    }
    std::size_t row_index(std::uint32_t from_layer, std::uint32_t from_expert) const noexcept {
        return row_index(1, from_layer, from_expert);
    }

    // Every layer m of the step with l - max_distance <= m <= l - h is evidence for layer l through
    // the distance-(l - m) table: one row per context expert, pooled (mean or product).
    void from_tables(ForecastTarget target, std::size_t t, std::span<float> row) noexcept {
        const std::uint32_t E = shape_.num_experts, l = target.layer;
        const float a = config_.smoothing, g = config_.sharpness;
        popularity_.distribution(l, {prior_.data(), E});
        std::uint32_t rows = 0;
        for (std::uint32_t d = target.horizon; d <= distances_ && d <= l; ++d)
            rows += static_cast<std::uint32_t>(step_.row(l - d, t).size());
        const float weight = (g > 0.0f ? g : 1.0f) / static_cast<float>(rows);
        if (g > 0.0f)
            detail::log_pool_begin(row.data(), prior_.data(), E, g);
        else
            std::fill(row.begin(), row.end(), 0.0f);
        for (std::uint32_t d = target.horizon; d <= distances_ && d <= l; ++d) {
            for (const ExpertId i : step_.row(l - d, t)) {
                const std::size_t r = row_index(d, l - d, static_cast<std::uint32_t>(i));
                const float inv = 1.0f / (row_totals_[r] + a);
                const float* T = transitions_.data() + r * E;
                const float* prior = prior_.data();
                float* out = row.data();
                // One pass per row: the smoothed row is never stored; its logarithms are, for
                // the other tokens of the batch.
                if (g > 0.0f && row_logs_.size() != 0) {
                    const std::size_t slot = std::size_t{d - 1} * E + static_cast<std::size_t>(i);
                    float* logs = row_logs_.data() + slot * E;
                    if (row_log_epoch_[slot] != epoch_) {
                        for (std::uint32_t e = 0; e < E; ++e)
                            logs[e] = detail::fast_log((T[e] + a * prior[e]) * inv);
                        row_log_epoch_[slot] = epoch_;
                    }
                    for (std::uint32_t e = 0; e < E; ++e) out[e] += weight * logs[e];
                } else if (g > 0.0f)
                    for (std::uint32_t e = 0; e < E; ++e)
                        out[e] += weight * detail::fast_log((T[e] + a * prior[e]) * inv);
                else
                    for (std::uint32_t e = 0; e < E; ++e)
                        out[e] += weight * ((T[e] + a * prior[e]) * inv);
            }
        }
        if (g > 0.0f) detail::log_pool_finish(row.data(), E);
    }

    // Beyond the tables' reach: chain the distance-1 table from the context layer,
    // p = v R_{l-h} ... R_{l-1} with v uniform over the context experts.
    void chain(ForecastTarget target, std::span<const ExpertId> context,
               std::span<float> row) noexcept {
        const std::uint32_t E = shape_.num_experts;
        // Hop 1 starts from k experts: k row reads rather than a dense E x E product.
        const float share = 1.0f / static_cast<float>(context.size());
        Vector::MapType v(mixing_.data(), E);
        v.setZero();
        for (const ExpertId i : context) v[i] = share;
        for (std::uint32_t m = target.context_layer(); m < target.layer; ++m) {
            Vector::MapType next(m + 1 == target.layer ? row.data() : next_.data(), E);
            hop(m, v, next);
            if (m + 1 != target.layer) v = next;
        }
    }

    // next = v R_m: next_j = sum_i v_i (T_ij + a pop_j) / (n_i + a)
    //                      = sum_i w_i T_ij + a pop_j sum_i w_i,   with w_i = v_i / (n_i + a).
    void hop(std::uint32_t m, const Vector::MapType& v, Vector::MapType& next) noexcept {
        const std::uint32_t E = shape_.num_experts;
        const float a = config_.smoothing;
        popularity_.distribution(m + 1, {prior_.data(), E});
        next.setZero();
        float mass = 0.0f;
        for (std::uint32_t i = 0; i < E; ++i) {
            if (v[i] == 0.0f) continue;
            const std::size_t r = row_index(m, i);
            const float w = v[i] / (row_totals_[r] + a);
            mass += w;
            next += w * Vector::ConstMapType(transitions_.data() + r * E, E);
        }
        next += (a * mass) * Vector::ConstMapType(prior_.data(), E);
    }

    ModelShape shape_;
    MarkovConfig config_;
    std::uint32_t distances_;           // tables kept: 1 .. distances_
    detail::Arena<float> transitions_;  // distances x L x E x E counts
    detail::Arena<float> row_totals_;   // distances x L x E
    detail::LayerPopularity popularity_;
    detail::StepContext step_;
    detail::Arena<float> mixing_, next_, prior_;  // E each: scratch for chaining
    // Product pooling over batches: each transition row's logarithms, valid while its epoch is
    // the current forecast call's.
    detail::Arena<float> row_logs_;             // distances x E x E, or empty
    std::vector<std::uint32_t> row_log_epoch_;  // distances x E
    std::uint32_t epoch_ = 0;
    bool frozen_ = false;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
