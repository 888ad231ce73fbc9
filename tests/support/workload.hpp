// A small, deterministic continuous-batching workload for predictor tests: steps that mix a
// prefill of one sequence with decode tokens of others, sequences that finish and are replaced,
// routing with some structure (an expert at one layer makes related experts likelier at the next)
// and a few holes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"

namespace expertcast_test {

struct WorkloadStep {
    std::vector<expertcast::SequenceId> sequences;
    std::vector<expertcast::Phase> phases;
    std::vector<std::vector<expertcast::ExpertId>> experts;  // per MoE layer: tokens x k
    std::vector<expertcast::SequenceId> finished;            // end_sequence after the step
};

/// `steps` steps; at most `live` sequences at once, ids starting at `first_id`.
inline std::vector<WorkloadStep> make_workload(const expertcast::ModelShape& shape,
                                               std::size_t steps, std::size_t live,
                                               expertcast::SequenceId first_id,
                                               std::uint64_t seed = 1) {
    using namespace expertcast;
    std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
    auto next = [&state](std::uint32_t bound) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>((state >> 33) % bound);
    };
    struct Live {
        SequenceId id;
        std::size_t generated;
        bool prefilled;
    };
    std::vector<Live> sequences;
    SequenceId next_id = first_id;
    std::vector<WorkloadStep> out;
    const std::uint32_t E = shape.num_experts, k = shape.top_k;
    for (std::size_t s = 0; s < steps; ++s) {
        while (sequences.size() < live) sequences.push_back({next_id++, 0, false});
        WorkloadStep step;
        for (auto& seq : sequences) {
            const std::size_t tokens = seq.prefilled ? 1 : 2 + next(4);
            for (std::size_t t = 0; t < tokens; ++t) {
                step.sequences.push_back(seq.id);
                step.phases.push_back(seq.prefilled ? Phase::decode : Phase::prefill);
            }
            seq.prefilled = true;
            ++seq.generated;
        }
        const std::size_t n = step.sequences.size();
        step.experts.assign(shape.num_moe_layers(), std::vector<ExpertId>(n * k));
        for (std::size_t t = 0; t < n; ++t) {
            std::uint32_t anchor = next(E);
            for (std::uint32_t l = 0; l < shape.num_moe_layers(); ++l) {
                ExpertId* row = step.experts[l].data() + t * k;
                if (next(23) == 0) {  // a lost row
                    for (std::uint32_t j = 0; j < k; ++j) row[j] = not_recorded;
                    continue;
                }
                anchor = (anchor * 3 + l + next(2)) % E;  // structure between layers
                for (std::uint32_t j = 0; j < k; ++j) {
                    ExpertId e;
                    bool duplicate;
                    do {  // distinct ids within a row
                        e = static_cast<ExpertId>(j == 0 ? anchor : next(E));
                        duplicate = false;
                        for (std::uint32_t i = 0; i < j; ++i) duplicate |= row[i] == e;
                        if (duplicate && j == 0) anchor = (anchor + 1) % E;
                    } while (duplicate);
                    row[j] = e;
                }
            }
        }
        const bool last = s + 1 == steps;  // the workload ends every sequence it started
        for (std::size_t i = 0; i < sequences.size();) {
            if (last || sequences[i].generated > 3 + next(6)) {
                step.finished.push_back(sequences[i].id);
                sequences.erase(sequences.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        out.push_back(std::move(step));
    }
    return out;
}

}  // namespace expertcast_test
