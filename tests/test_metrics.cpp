// The accuracy metrics of ../shared/spec/evaluation.md section 4 on forecasts worked out by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "expertcast/eval/metrics.hpp"

using namespace expertcast;

TEST_CASE("pair scores match the protocol's definitions", "[metrics]") {
    // E = 4, k = 2. Ranking by p: 1 (0.4), 2 (0.3), 3 (0.2), 0 (0.1). Truth {2, 0}.
    const std::vector<float> p{0.1f, 0.4f, 0.3f, 0.2f};
    const std::vector<ExpertId> truth{2, 0};
    const PairScore s = score_forecast(p, truth);
    CHECK(s.recall_at_k == Approx(0.5));   // top-2 {1, 2} holds 2
    CHECK(s.recall_at_2k == Approx(1.0));  // top-4 is everything
    CHECK(s.hit_at_1 == 0.0);              // argmax 1 was not chosen
    // q = min(1, 2p) = [0.2 0.8 0.6 0.4]; ((0.2-1)^2 + 0.8^2 + (0.6-1)^2 + 0.4^2) / 4 = 0.4
    CHECK(s.brier == Approx(0.4).epsilon(1e-6));
    // -(log 0.3 + log 0.1) / 2
    CHECK(s.nll == Approx(-(std::log(0.3) + std::log(0.1)) / 2).epsilon(1e-6));
}

TEST_CASE("ties rank the smaller expert id first", "[metrics]") {
    const std::vector<float> p(4, 0.25f);
    const std::vector<ExpertId> truth{3, 1};
    const PairScore s = score_forecast(p, truth);
    CHECK(s.recall_at_k == Approx(0.5));  // top-2 is {0, 1}
    CHECK(s.hit_at_1 == 0.0);             // argmax is expert 0
    CHECK(forecast_rank(p, 0) == 0);
    CHECK(forecast_rank(p, 3) == 3);
    const std::vector<ExpertId> with_zero{0, 2};
    CHECK(score_forecast(p, with_zero).hit_at_1 == 1.0);
}

TEST_CASE("recall@2k is capped at E and a zero probability costs log(1e-12)", "[metrics]") {
    // E = 3, k = 2: 2k = 4 is capped at 3, so every expert is in the top-2k.
    const std::vector<float> p{1.0f, 0.0f, 0.0f};
    const std::vector<ExpertId> truth{1, 2};
    const PairScore s = score_forecast(p, truth);
    CHECK(s.recall_at_k == Approx(0.5));  // top-2 {0, 1}
    CHECK(s.recall_at_2k == Approx(1.0));
    CHECK(s.nll == Approx(-std::log(1e-12)));
    // q = [1 0 0]: (1 - 0)^2 + (0 - 1)^2 + (0 - 1)^2 = 3, / 3
    CHECK(s.brier == Approx(1.0));
}

TEST_CASE("totals are micro-averages that add up", "[metrics]") {
    MetricTotals a, b;
    a.add(PairScore{1.0, 1.0, 1.0, 0.1, 0.5});
    b.add(PairScore{0.0, 0.5, 0.0, 0.3, 1.5});
    b.add(PairScore{0.5, 1.0, 1.0, 0.2, 1.0});
    a += b;
    CHECK(a.pairs == 3);
    const PairScore m = a.mean();
    CHECK(m.recall_at_k == Approx(0.5));
    CHECK(m.recall_at_2k == Approx(2.5 / 3));
    CHECK(m.hit_at_1 == Approx(2.0 / 3));
    CHECK(m.brier == Approx(0.2));
    CHECK(m.nll == Approx(1.0));
    CHECK(MetricTotals{}.mean().recall_at_k == 0.0);
}
