// Accuracy benchmark: every predictor, with its defaults, on every trace given, printed as the
// Markdown table the README carries. Usage: accuracy_table TRACE... (warm-up 0.5, horizon 1).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "expertcast/tools.hpp"

int main(int argc, char** argv) {
    using namespace expertcast;
    if (argc < 2) {
        std::fprintf(stderr, "usage: accuracy_table TRACE...\n");
        return 2;
    }
    try {
        fmt::print(
            "| trace | E/k | predictor | recall@k | recall@2k | hit@1 | brier | nll | "
            "pairs | next-token recall@k |\n");
        fmt::print("|---|---|---|---|---|---|---|---|---|---|\n");
        for (int i = 1; i < argc; ++i) {
            const Trace trace = read_trace(argv[i]);
            std::vector<AnyPredictor> predictors;
            for (auto name : predictor_names)
                predictors.push_back(make_predictor(name, trace.shape));
            const Evaluation e = evaluate(trace, std::span<AnyPredictor>(predictors));
            // The trace's name: its file stem, or "model/subject" for a paper-format directory.
            const std::filesystem::path path(argv[i]);
            const std::string name =
                trace.format == "csv"
                    ? path.stem().string()
                    : path.parent_path().filename().string() + "/" + path.filename().string();
            for (const auto& p : e.predictors) {
                const PairScore m = p.next_layer.total.mean();
                fmt::print(
                    "| {} | {}/{} | {} | {:.4f} | {:.4f} | {:.4f} | {:.5f} | {:.4f} | {} | {:.4f} "
                    "|\n",
                    name, trace.shape.num_experts, trace.shape.top_k, p.name, m.recall_at_k,
                    m.recall_at_2k, m.hit_at_1, m.brier, m.nll, p.next_layer.total.pairs,
                    p.next_token.total.mean().recall_at_k);
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "accuracy_table: %s\n", e.what());
        return 1;
    }
    return 0;
}
