// "What did this sequence's previous token pick at layer l?": per live sequence, the k experts of
// its most recent routed token at every MoE layer. Several predictors condition on it; they read
// it before a layer's routing is remembered, so that every token of a prefill step (which pass a
// layer together) sees only what its sequence did before the step.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/detail/sequence_table.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

class SequenceHistory {
public:
    SequenceHistory() = default;
    explicit SequenceHistory(const ModelShape& shape)
        : k_(shape.top_k),
          store_(std::size_t{shape.num_moe_layers()} * shape.top_k, not_recorded) {}

    /// Maps the step's tokens to their sequences (allocates only past the largest batch or the
    /// most live sequences seen so far).
    void begin_step(const TokenBatch& batch) { store_.resolve(batch.sequences, token_slots_); }

    /// The previous token's k experts at `layer` for token t of the step, or empty.
    std::span<const ExpertId> previous(std::size_t t, std::uint32_t layer) const noexcept {
        const ExpertId* r = store_.record(token_slots_[t]) + std::size_t{layer} * k_;
        return r[0] == not_recorded ? std::span<const ExpertId>{}
                                    : std::span<const ExpertId>{r, k_};
    }

    /// Records the layer's routing as the sequences' latest (the last token of a prefill wins).
    void remember(const LayerRouting& routing) noexcept {
        for (std::size_t t = 0; t < token_slots_.size(); ++t) {
            auto row = routing.row(t, k_);
            if (row.empty()) continue;
            std::copy(row.begin(), row.end(),
                      store_.record(token_slots_[t]) + std::size_t{routing.layer} * k_);
        }
    }

    void end_sequence(SequenceId sequence) noexcept { store_.release(sequence); }
    std::size_t tokens() const noexcept { return token_slots_.size(); }
    std::size_t live_sequences() const noexcept { return store_.live(); }

private:
    std::uint32_t k_ = 0;
    SequenceStore<ExpertId> store_;  // per sequence: layers x k
    std::vector<std::uint32_t> token_slots_;
};

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
