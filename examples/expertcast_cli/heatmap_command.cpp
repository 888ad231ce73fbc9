// `expertcast heatmap TRACE --layer L`: the inter-layer transition heatmap of one MoE layer (from
// the previous MoE layer's expert to this layer's, row-normalised), learnt from every request of
// the trace, as SVG: the shape of arXiv:2510.05497's Figure 4.
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "expertcast/core/error.hpp"
#include "expertcast/eval/fit.hpp"
#include "expertcast/eval/svg.hpp"
#include "expertcast/predictors/markov.hpp"
#include "expertcast/trace/read_trace.hpp"

namespace expertcast_cli {

using namespace expertcast;

int run_heatmap(Arguments& args) {
    std::string trace_path, out_path;
    std::optional<std::uint32_t> decoder_layer;
    TraceReadOptions read;
    while (!args.done()) {
        const std::string_view a = args.next();
        if (parse_trace_flag(a, args, read)) continue;
        if (a == "--layer")
            decoder_layer = parse_number<std::uint32_t>(a, args.value(a));
        else if (a == "--out")
            out_path = std::string(args.value(a));
        else if (a.starts_with("-"))
            throw UsageError(fmt::format("unknown option '{}'", a));
        else if (trace_path.empty())
            trace_path = std::string(a);
        else
            throw UsageError(fmt::format("unexpected argument '{}'", a));
    }
    if (trace_path.empty() || !decoder_layer || out_path.empty())
        throw UsageError("heatmap needs TRACE, --layer L and --out FILE");
    const Trace trace = read_trace(trace_path, read);
    const auto ordinal = trace.shape.ordinal_of(*decoder_layer);
    if (!ordinal || *ordinal == 0)
        throw ConfigError(
            fmt::format("--layer {}: not a MoE layer with a MoE layer before it (MoE layers: {})",
                        *decoder_layer, describe_layers(trace.shape.moe_layers)));
    MarkovPredictor markov(trace.shape);
    fit(markov, trace);
    const std::uint32_t E = trace.shape.num_experts;
    const auto counts = markov.transition_counts(*ordinal - 1);
    std::vector<float> rows(std::size_t{E} * E, 0.0f);
    for (std::uint32_t i = 0; i < E; ++i) {
        const float total = counts.row(i).sum();
        for (std::uint32_t j = 0; j < E; ++j)
            rows[std::size_t{i} * E + j] = total > 0 ? counts(i, j) / total : 0.0f;
    }
    ReportFile out(out_path);
    out.write(svg_heatmap(fmt::format("{}: P(expert at layer {} | expert at layer {})",
                                      std::filesystem::path(trace.source).stem().string(),
                                      *decoder_layer, trace.shape.moe_layers[*ordinal - 1]),
                          fmt::format("expert at layer {}", trace.shape.moe_layers[*ordinal - 1]),
                          fmt::format("expert at layer {}", *decoder_layer), rows, E, E));
    return 0;
}

}  // namespace expertcast_cli
