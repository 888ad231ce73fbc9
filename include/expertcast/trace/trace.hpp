// The in-memory trace model every reader produces: recorded routing of whole requests, one model
// shape, struct of arrays. Nothing downstream knows which file format a trace came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// One recorded request: a contiguous range of the trace's tokens, in position order.
struct TraceRequest {
    std::int64_t id = 0;  ///< the request id the file gives
    /// Prompt length when the trace knows it (tokens at positions below it are prefill); nothing
    /// when unknown, and then every recorded token is replayed as a decode step.
    std::optional<std::uint32_t> prompt_tokens;
    std::size_t token_begin = 0;  ///< first token index into the Trace arrays
    std::size_t token_end = 0;    ///< one past the last

    std::size_t num_tokens() const noexcept { return token_end - token_begin; }
};

/// Recorded routing: for every recorded token and every MoE layer, k expert ids in router order,
/// or a not_recorded row where the recorder lost that cell. Requests are sorted by id; a request's
/// tokens are sorted by position. Prefill tokens of a request come first and form its first step;
/// every decode token is a step of its own (see eval/replay.hpp).
struct Trace {
    std::string source;  ///< file or directory it was read from
    std::string format;  ///< "csv" or "paper-json"
    ModelShape shape;
    std::vector<TraceRequest> requests;
    /// Human-readable facts about how the reader interpreted the file that a user should see
    /// (a value it inferred, holes, requests without a prompt length), one sentence each.
    std::vector<std::string> notes;

    // Per token, all requests concatenated.
    std::vector<std::uint32_t> positions;  ///< token index as the file counts it
    std::vector<Phase> phases;
    /// tokens x num_moe_layers x k; a row whose first id is not_recorded is a hole.
    std::vector<ExpertId> experts;
    /// Same layout as experts, or empty when the trace records no gate weights.
    std::vector<float> weights;

    std::size_t num_tokens() const noexcept { return positions.size(); }
    bool has_weights() const noexcept { return !weights.empty(); }

    /// The k experts of (token, MoE ordinal), including a not_recorded row.
    std::span<const ExpertId> row(std::size_t token, std::uint32_t layer) const noexcept {
        const std::size_t k = shape.top_k;
        return {experts.data() + (token * shape.num_moe_layers() + layer) * k, k};
    }
    std::span<const float> weight_row(std::size_t token, std::uint32_t layer) const noexcept {
        if (weights.empty()) return {};
        const std::size_t k = shape.top_k;
        return {weights.data() + (token * shape.num_moe_layers() + layer) * k, k};
    }
    bool recorded(std::size_t token, std::uint32_t layer) const noexcept {
        return row(token, layer)[0] != not_recorded;
    }
    /// Number of recorded (token, layer) cells.
    std::size_t recorded_cells() const noexcept {
        std::size_t n = 0;
        for (std::size_t i = 0; i < experts.size(); i += shape.top_k)
            n += experts[i] != not_recorded;
        return n;
    }
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
