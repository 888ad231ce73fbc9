// The facts about a MoE model that forecasting needs: how many experts each MoE layer has, how
// many each token picks, and which decoder layers are MoE layers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Shape of a MoE model as seen by its routers.
///
/// Predictors address MoE layers by their *ordinal*: 0 for the first MoE layer, 1 for the next, up
/// to num_moe_layers() - 1, whatever their decoder-layer indices are (Llama-4 routes only on odd
/// decoder layers; its MoE ordinal 3 is decoder layer 7). `moe_layers` maps ordinals to
/// decoder-layer indices for reporting.
struct ModelShape {
    std::uint32_t num_experts = 0;          ///< E: routed experts per MoE layer
    std::uint32_t top_k = 0;                ///< k: experts each token selects per MoE layer
    std::vector<std::uint32_t> moe_layers;  ///< decoder-layer index of each MoE layer, increasing

    std::uint32_t num_moe_layers() const noexcept {
        return static_cast<std::uint32_t>(moe_layers.size());
    }

    /// The MoE ordinal of a decoder layer, or nothing when that layer is dense.
    std::optional<std::uint32_t> ordinal_of(std::uint32_t decoder_layer) const {
        auto it = std::lower_bound(moe_layers.begin(), moe_layers.end(), decoder_layer);
        if (it == moe_layers.end() || *it != decoder_layer) return std::nullopt;
        return static_cast<std::uint32_t>(it - moe_layers.begin());
    }

    /// Throws ConfigError naming the first field that makes the shape unusable.
    void validate() const {
        if (num_experts == 0) throw ConfigError("model shape: num_experts must be at least 1");
        if (num_experts > max_experts)
            throw ConfigError("model shape: num_experts = " + std::to_string(num_experts) +
                              " exceeds the supported maximum " + std::to_string(max_experts));
        if (top_k == 0 || top_k > num_experts)
            throw ConfigError("model shape: top_k = " + std::to_string(top_k) +
                              " must be in [1, num_experts = " + std::to_string(num_experts) + "]");
        if (moe_layers.empty()) throw ConfigError("model shape: moe_layers is empty");
        for (std::size_t i = 1; i < moe_layers.size(); ++i)
            if (moe_layers[i] <= moe_layers[i - 1])
                throw ConfigError("model shape: moe_layers must be strictly increasing (entry " +
                                  std::to_string(i) + ")");
    }

    /// Sparse context keys (predictors/ngram.hpp) pack id + 1 into 12 bits.
    static constexpr std::uint32_t max_experts = 4095;

    friend bool operator==(const ModelShape&, const ModelShape&) = default;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
