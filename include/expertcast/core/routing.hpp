// What a router decided for one forward step: which tokens are in the batch (their sequences and
// phases) and, per MoE layer, the k experts each token picked. All views over caller memory, so an
// engine hands its router's topk_ids buffer over without copying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "expertcast/core/error.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// An expert id as routers emit it (vLLM's and SGLang's topk_ids are int32).
using ExpertId = std::int32_t;

/// The engine's id of a sequence (request). Any value; predictors key per-sequence context by it.
using SequenceId = std::uint64_t;

/// Marks a token's routing row as not recorded (a trace recorder lost it). Only the first id of
/// the row is inspected. Engines never need it; trace replay uses it for holes.
inline constexpr ExpertId not_recorded = -1;

/// Whether a token is part of a prompt being prefilled or one generated token being decoded.
enum class Phase : std::uint8_t { prefill = 0, decode = 1 };

/// The tokens of one forward step, in the order of the router's rows. Tokens of many sequences
/// share a step (continuous batching); a prefill contributes many tokens of one sequence.
struct TokenBatch {
    std::span<const SequenceId> sequences;  ///< one entry per token
    std::span<const Phase> phases;          ///< one entry per token, or empty: all decode

    std::size_t size() const noexcept { return sequences.size(); }
    Phase phase(std::size_t token) const noexcept {
        return phases.empty() ? Phase::decode : phases[token];
    }
};

/// One MoE layer's routing for the tokens of the current step.
struct LayerRouting {
    std::uint32_t layer = 0;  ///< MoE ordinal (see ModelShape)
    std::span<const ExpertId>
        experts;                     ///< tokens x k, row-major, router order (highest gate first)
    std::span<const float> weights;  ///< tokens x k gate weights, or empty

    /// The k experts of one token, or an empty span when the row is marked not_recorded.
    std::span<const ExpertId> row(std::size_t token, std::uint32_t k) const noexcept {
        auto r = experts.subspan(token * k, k);
        return r[0] == not_recorded ? std::span<const ExpertId>{} : r;
    }
};

/// Checks a step's routing against the model shape; throws ConfigError naming the token and the
/// field. Predictors trust their input on the hot path, so an engine calls this where its data is
/// untrusted (tests, debug builds, a new router kernel).
inline void validate_routing(const ModelShape& shape, const TokenBatch& batch,
                             const LayerRouting& routing) {
    const std::size_t tokens = batch.size();
    const std::uint32_t k = shape.top_k;
    auto fail = [](const std::string& what) { throw ConfigError("routing: " + what); };
    if (!batch.phases.empty() && batch.phases.size() != tokens)
        fail("phases has " + std::to_string(batch.phases.size()) + " entries for " +
             std::to_string(tokens) + " tokens");
    if (routing.layer >= shape.num_moe_layers())
        fail("layer " + std::to_string(routing.layer) + " is not a MoE ordinal (model has " +
             std::to_string(shape.num_moe_layers()) + " MoE layers)");
    if (routing.experts.size() != tokens * k)
        fail("experts has " + std::to_string(routing.experts.size()) + " ids; expected tokens (" +
             std::to_string(tokens) + ") x k (" + std::to_string(k) + ")");
    if (!routing.weights.empty() && routing.weights.size() != routing.experts.size())
        fail("weights has " + std::to_string(routing.weights.size()) + " entries; expected " +
             std::to_string(routing.experts.size()) + " or none");
    for (std::size_t t = 0; t < tokens; ++t) {
        auto row = routing.experts.subspan(t * k, k);
        if (row[0] == not_recorded) continue;
        for (std::uint32_t j = 0; j < k; ++j) {
            const ExpertId e = row[j];
            if (e < 0 || static_cast<std::uint32_t>(e) >= shape.num_experts)
                fail("token " + std::to_string(t) + " expert[" + std::to_string(j) +
                     "] = " + std::to_string(e) + " is outside [0, " +
                     std::to_string(shape.num_experts) + ")");
            for (std::uint32_t i = 0; i < j; ++i)
                if (row[i] == e)
                    fail("token " + std::to_string(t) + " selects expert " + std::to_string(e) +
                         " twice");
        }
    }
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
