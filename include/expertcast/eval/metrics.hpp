// Accuracy of one forecast against the k experts the router then chose, and micro-averages over
// many, exactly as ../shared/spec/evaluation.md section 4 defines them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "expertcast/core/forecast.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Rank of expert e in p: how many experts come before it when sorting by p descending, ties
/// broken by the smaller id. e is in top_m(p) exactly when its rank is below m.
inline std::size_t forecast_rank(std::span<const float> p, ExpertId e) noexcept {
    const float pe = p[static_cast<std::size_t>(e)];
    std::size_t rank = 0;
    for (std::size_t j = 0; j < p.size(); ++j)
        rank += (p[j] > pe) || (p[j] == pe && j < static_cast<std::size_t>(e));
    return rank;
}

/// |top_m(p) ∩ truth| / k.
inline double recall_at(std::span<const float> p, std::span<const ExpertId> truth,
                        std::size_t m) noexcept {
    std::size_t hits = 0;
    for (const ExpertId e : truth) hits += forecast_rank(p, e) < m;
    return static_cast<double>(hits) / static_cast<double>(truth.size());
}

/// Scores of one (token, layer) pair.
struct PairScore {
    double recall_at_k = 0;   ///< recall@k
    double recall_at_2k = 0;  ///< recall@2k, 2k capped at E
    double hit_at_1 = 0;      ///< 1 if the argmax of p (smallest id on ties) was chosen
    double brier = 0;         ///< (1/E) sum_e (min(1, k p_e) - [e chosen])^2
    double nll = 0;           ///< -(1/k) sum_{e chosen} log(max(p_e, 1e-12))
};

/// Scores one pair; when `ranks` is given it receives each chosen expert's rank in p.
inline PairScore score_forecast(std::span<const float> p, std::span<const ExpertId> truth,
                                std::size_t* ranks = nullptr) noexcept {
    const std::size_t E = p.size();
    const std::size_t k = truth.size();
    const std::size_t m2 = std::min(2 * k, E);
    PairScore s;
    double brier = 0;
    for (std::size_t e = 0; e < E; ++e) {
        const auto q =
            static_cast<double>(inclusion_probability(p[e], static_cast<std::uint32_t>(k)));
        brier += q * q;  // the chosen experts are corrected below
    }
    std::size_t in_k = 0, in_2k = 0;
    for (std::size_t j = 0; j < truth.size(); ++j) {
        const ExpertId e = truth[j];
        const std::size_t rank = forecast_rank(p, e);
        if (ranks != nullptr) ranks[j] = rank;
        in_k += rank < k;
        in_2k += rank < m2;
        if (rank == 0) s.hit_at_1 = 1;
        const auto q = static_cast<double>(
            inclusion_probability(p[static_cast<std::size_t>(e)], static_cast<std::uint32_t>(k)));
        brier += (q - 1) * (q - 1) - q * q;
        s.nll -= std::log(std::max(static_cast<double>(p[static_cast<std::size_t>(e)]), 1e-12));
    }
    s.recall_at_k = static_cast<double>(in_k) / static_cast<double>(k);
    s.recall_at_2k = static_cast<double>(in_2k) / static_cast<double>(k);
    s.brier = brier / static_cast<double>(E);
    s.nll /= static_cast<double>(k);
    return s;
}

/// Micro-average of PairScores: sums and a count, so that cells (per layer, per phase) add up.
struct MetricTotals {
    double recall_at_k = 0, recall_at_2k = 0, hit_at_1 = 0, brier = 0, nll = 0;
    std::size_t pairs = 0;

    void add(const PairScore& s) noexcept {
        recall_at_k += s.recall_at_k;
        recall_at_2k += s.recall_at_2k;
        hit_at_1 += s.hit_at_1;
        brier += s.brier;
        nll += s.nll;
        ++pairs;
    }
    MetricTotals& operator+=(const MetricTotals& o) noexcept {
        recall_at_k += o.recall_at_k;
        recall_at_2k += o.recall_at_2k;
        hit_at_1 += o.hit_at_1;
        brier += o.brier;
        nll += o.nll;
        pairs += o.pairs;
        return *this;
    }
    /// The averages (all zero when there are no pairs).
    PairScore mean() const noexcept {
        if (pairs == 0) return {};
        const double n = static_cast<double>(pairs);
        return {recall_at_k / n, recall_at_2k / n, hit_at_1 / n, brier / n, nll / n};
    }
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
