// What moving an expert costs: its bytes, from the model's published configuration, and the time
// the link takes to carry them. Presets for the models of arXiv:2510.05497 and of the shared
// traces, each with the source of its numbers.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "expertcast/core/error.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// One routed expert's weights: `matrices` matrices of hidden_size x expert_intermediate_size
/// (3 for the gated FFNs of every model here: gate, up, down projections), at a storage cost per
/// parameter (2 for bf16, 1 for fp8, 4.25 / 8 for MXFP4: 4-bit values plus an 8-bit scale per 32).
struct ExpertShape {
    std::uint32_t hidden_size = 0;
    std::uint32_t expert_intermediate_size = 0;
    std::uint32_t matrices = 3;
    double bytes_per_parameter = 2.0;

    double parameters() const noexcept {
        return static_cast<double>(matrices) * hidden_size * expert_intermediate_size;
    }
    double bytes() const noexcept { return parameters() * bytes_per_parameter; }
};

/// A published model's routed-expert facts.
struct ModelPreset {
    std::string_view name;  ///< also what a trace's file name is matched against
    ExpertShape expert;
    std::uint32_t num_experts = 0, top_k = 0, moe_layers = 0;
    std::string_view dtype;   ///< as the checkpoint ships
    std::string_view source;  ///< where the numbers come from
};

inline constexpr std::array<ModelPreset, 7> model_presets = {{
    {"gpt-oss-20b",
     {2880, 2880, 3, 4.25 / 8},
     32,
     4,
     24,
     "mxfp4",
     "openai/gpt-oss-20b config.json: hidden_size 2880, intermediate_size 2880, "
     "num_local_experts 32, num_experts_per_tok 4, 24 layers; MoE weights in MXFP4"},
    {"mixtral-8x7b",
     {4096, 14336, 3, 1.0},
     8,
     2,
     32,
     "fp8",
     "mistralai/Mixtral-8x7B-v0.1 config.json: hidden_size 4096, intermediate_size 14336, "
     "8 experts, top-2, 32 layers; FP8 as in the shared trace (neuralmagic FP8 checkpoint)"},
    {"flame-moe-290m",
     {1024, 704, 3, 2.0},
     64,
     6,
     8,
     "bf16",
     "cmu-flame/FLAME-MoE scripts/release/flame-moe-290m.sh: HIDDEN_SIZE 1024, "
     "MOE_FFN_HIDDEN_SIZE 704, 64 experts, top-6, MoE layers 2-9 (checkpoint iter 5473)"},
    {"llama4-maverick",
     {5120, 8192, 3, 2.0},
     128,
     1,
     24,
     "bf16",
     "meta-llama/Llama-4-Maverick-17B-128E config: hidden_size 5120, intermediate_size 8192, "
     "128 experts, top-1, MoE on every second of 48 layers"},
    {"deepseek-v3",
     {7168, 2048, 3, 1.0},
     256,
     8,
     58,
     "fp8",
     "deepseek-ai/DeepSeek-V3 config.json: hidden_size 7168, moe_intermediate_size 2048, "
     "n_routed_experts 256, num_experts_per_tok 8, 61 layers of which the first 3 dense; FP8"},
    {"qwen3-235b",
     {4096, 1536, 3, 2.0},
     128,
     8,
     94,
     "bf16",
     "Qwen/Qwen3-235B-A22B config.json: hidden_size 4096, moe_intermediate_size 1536, "
     "128 experts, top-8, 94 layers"},
    {"kimi-k2",
     {7168, 2048, 3, 1.0},
     384,
     8,
     60,
     "fp8",
     "moonshotai/Kimi-K2-Instruct config.json: hidden_size 7168, moe_intermediate_size 2048, "
     "n_routed_experts 384, num_experts_per_tok 8, 61 layers of which the first dense; FP8"},
}};

/// The preset of that name, or nothing.
inline std::optional<ModelPreset> find_model_preset(std::string_view name) {
    for (const auto& p : model_presets)
        if (p.name == name) return p;
    return std::nullopt;
}

/// The preset whose name (or, for Llama-4, "llama4") appears in `text` (a trace's path), if any.
inline std::optional<ModelPreset> guess_model_preset(std::string_view text) {
    for (const auto& p : model_presets)
        if (text.find(p.name) != std::string_view::npos) return p;
    if (text.find("llama4") != std::string_view::npos) return find_model_preset("llama4-maverick");
    return std::nullopt;
}

/// The link and the compute it overlaps with.
struct CostModel {
    double expert_bytes = 0;          ///< bytes of one routed expert
    double bandwidth = 25e9;          ///< bytes/s host to device (PCIe 4.0 x16, effective)
    double layer_compute_s = 0.5e-3;  ///< time a MoE layer computes (the prefetch window)

    double load_seconds() const noexcept { return expert_bytes / bandwidth; }

    void validate() const {
        auto positive = [](double v, const char* what) {
            if (!(v > 0) || !std::isfinite(v))
                throw ConfigError(std::string("cost model: ") + what + " must be positive");
        };
        positive(expert_bytes, "expert_bytes");
        positive(bandwidth, "bandwidth");
        if (!(layer_compute_s >= 0) || !std::isfinite(layer_compute_s))
            throw ConfigError("cost model: layer_compute_s must be non-negative");
    }
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
