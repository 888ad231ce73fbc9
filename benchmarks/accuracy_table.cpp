// Accuracy benchmark: every predictor, with its defaults, on every trace given, printed as the
// Markdown tables the README carries (warm-up 0.5):
//   1. next-layer forecast: recall@k, recall@2k, hit@1, brier, nll, pairs, next-token recall@k;
//   2. recall@k by horizon (1..4) and for the next-token forecast;
//   3. recall@k per MoE layer of one predictor (--per-layer NAME, default mixture);
// and, with --svg-dir DIR, a recall@m-against-m chart per trace.
// Usage: accuracy_table [--per-layer NAME] [--svg-dir DIR] TRACE...
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "expertcast/tools.hpp"

namespace {

using namespace expertcast;

// "gpt-oss-20b" for a CSV, "model/subject" for a paper-format directory.
std::string trace_name(const Trace& trace, const std::filesystem::path& path) {
    return trace.format == "csv"
               ? path.stem().string()
               : path.parent_path().filename().string() + "/" + path.filename().string();
}

}  // namespace

int main(int argc, char** argv) {
    std::string per_layer = "mixture";
    std::filesystem::path svg_dir;
    std::vector<std::filesystem::path> paths;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--per-layer" && i + 1 < argc) {
            per_layer = argv[++i];
        } else if (a == "--svg-dir" && i + 1 < argc) {
            svg_dir = argv[++i];
        } else if (a.starts_with("-")) {
            std::fprintf(stderr,
                         "usage: accuracy_table [--per-layer NAME] [--svg-dir DIR] TRACE...\n");
            return 2;
        } else {
            paths.emplace_back(a);
        }
    }
    if (paths.empty()) {
        std::fprintf(stderr, "usage: accuracy_table [--per-layer NAME] [--svg-dir DIR] TRACE...\n");
        return 2;
    }
    try {
        check_predictor_name(per_layer);
        std::string main_table =
            "| trace | E/k | predictor | recall@k | recall@2k | hit@1 | brier | nll | pairs | "
            "next-token recall@k |\n|---|---|---|---|---|---|---|---|---|---|\n";
        std::string horizon_table =
            "| trace | predictor | h = 1 | h = 2 | h = 3 | h = 4 | next token |\n"
            "|---|---|---|---|---|---|---|\n";
        std::vector<std::string> names;
        std::vector<std::vector<std::string>> layer_cells;  // per trace: "layer: recall"
        for (const auto& path : paths) {
            const Trace trace = read_trace(path);
            const std::string name = trace_name(trace, path);
            // Every default, made to serve horizons up to 4.
            const PredictorOptions options = serving_horizons(PredictorOptions{}, 4);
            EvaluationOptions evaluation;
            evaluation.horizons = {1, 2, 3, 4};
            std::vector<AnyPredictor> predictors;
            for (auto p : predictor_names)
                predictors.push_back(make_predictor(p, trace.shape, options));
            const Evaluation e = evaluate(trace, std::span<AnyPredictor>(predictors), evaluation);
            double best = 0;
            for (const auto& p : e.predictors)
                best = std::max(best, p.next_layer.total.mean().recall_at_k);
            for (const auto& p : e.predictors) {
                const PairScore m = p.next_layer.total.mean();
                const std::string recall = m.recall_at_k == best
                                               ? fmt::format("**{:.4f}**", m.recall_at_k)
                                               : fmt::format("{:.4f}", m.recall_at_k);
                main_table += fmt::format(
                    "| {} | {}/{} | {} | {} | {:.4f} | {:.4f} | {:.5f} | {:.4f} | {} | {:.4f} |\n",
                    name, trace.shape.num_experts, trace.shape.top_k, p.name, recall,
                    m.recall_at_2k, m.hit_at_1, m.brier, m.nll, p.next_layer.total.pairs,
                    p.next_token.total.mean().recall_at_k);
                horizon_table += fmt::format("| {} | {} |", name, p.name);
                for (std::size_t h = 0; h < 4; ++h)
                    horizon_table +=
                        fmt::format(" {:.4f} |", p.at_horizon(h).total.mean().recall_at_k);
                horizon_table += fmt::format(" {:.4f} |\n", p.next_token.total.mean().recall_at_k);
                if (p.name == per_layer) {
                    std::vector<std::string> cells;
                    for (std::uint32_t l = 0; l < trace.shape.num_moe_layers(); ++l)
                        cells.push_back(
                            p.next_layer.per_layer[l].pairs == 0
                                ? fmt::format("{}: -", trace.shape.moe_layers[l])
                                : fmt::format("{}: {:.3f}", trace.shape.moe_layers[l],
                                              p.next_layer.per_layer[l].mean().recall_at_k));
                    layer_cells.push_back(std::move(cells));
                }
            }
            names.push_back(name);
            if (!svg_dir.empty()) {
                std::filesystem::create_directories(svg_dir);
                const std::string file_name =
                    "recall_" + std::string(name.substr(0, name.find('/'))) + ".svg";
                std::ofstream(svg_dir / file_name)
                    << svg_line_chart(recall_chart(e, ForecastKind::next_layer(0),
                                                   name + ": recall@m of the next-layer forecast"));
            }
        }
        fmt::print("{}\n{}\n", main_table, horizon_table);
        fmt::print(
            "{} next-layer recall@k per MoE layer (decoder layer: recall@k; the first MoE "
            "layer is not scored)\n\n| MoE ordinal |",
            per_layer);
        for (const auto& n : names) fmt::print(" {} |", n);
        fmt::print("\n|---|");
        for (std::size_t i = 0; i < names.size(); ++i) fmt::print("---|");
        fmt::print("\n");
        std::size_t rows = 0;
        for (const auto& cells : layer_cells) rows = std::max(rows, cells.size());
        for (std::size_t r = 0; r < rows; ++r) {
            fmt::print("| {} |", r);
            for (const auto& cells : layer_cells)
                fmt::print(" {} |", r < cells.size() ? cells[r] : "");
            fmt::print("\n");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "accuracy_table: %s\n", e.what());
        return 1;
    }
    return 0;
}
