// Each predictor's forecasts on a tiny trace, worked out by hand in the comments (fractions), so a
// change in any formula shows up as a wrong number, not just a different one.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "expertcast/predictors/activation_match.hpp"
#include "expertcast/predictors/baselines.hpp"
#include "expertcast/predictors/frequency_decay.hpp"
#include "expertcast/predictors/markov.hpp"
#include "expertcast/predictors/mixture.hpp"
#include "expertcast/predictors/ngram.hpp"
#include "expertcast/predictors/paper_heatmap.hpp"

using namespace expertcast;

namespace {

// E = 4, k = 2, three MoE layers. One sequence (id 7) decodes the same token route twice:
// layer 0 {0,1}, layer 1 {2,3}, layer 2 {1,3}.
const ModelShape tiny{4, 2, {0, 1, 2}};
const SequenceId seq7[1] = {7};
const ExpertId route[3][2] = {{0, 1}, {2, 3}, {1, 3}};

template <class P>
void step(P& p, std::uint32_t layers = 3) {
    p.begin_step(TokenBatch{seq7, {}});
    for (std::uint32_t l = 0; l < layers; ++l) p.observe(LayerRouting{l, route[l], {}});
}

std::vector<float> forecast(auto& p, ForecastTarget target) {
    std::vector<float> out(4);
    p.forecast(target, out);
    return out;
}

void check_row(const std::vector<float>& got, std::initializer_list<double> want) {
    REQUIRE(got.size() == want.size());
    std::size_t e = 0;
    for (double w : want) {
        INFO("expert " << e);
        CHECK(got[e++] == Approx(w).epsilon(1e-6));
    }
}

}  // namespace

TEST_CASE("uniform forecasts 1/E", "[golden]") {
    UniformPredictor p(tiny);
    step(p);
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, ForecastTarget::next_token(1)), {0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("frequency forecasts add-one smoothed counts", "[golden]") {
    // After two tokens, layer 2 counts: e1 = 2, e3 = 2 (total 4): (c + 1) / (4 + 4).
    FrequencyPredictor p(tiny);
    step(p);
    step(p);
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, ForecastTarget::next_token(2)), {1.0 / 8, 3.0 / 8, 1.0 / 8, 3.0 / 8});
    // Before anything: uniform.
    FrequencyPredictor fresh(tiny);
    fresh.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(fresh, ForecastTarget::next_token(0)), {0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("previous-token repeats the sequence's last choice at the layer", "[golden]") {
    // u = 0.2: u / E = 0.05 everywhere, plus (1 - u) / k = 0.4 on layer 1's {2, 3}.
    PreviousTokenPredictor p(tiny, PreviousTokenConfig{0.2f});
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, ForecastTarget::next_token(1)), {0.25, 0.25, 0.25, 0.25});
    step(p);
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, ForecastTarget::next_token(1)), {0.05, 0.05, 0.45, 0.45});
    // Another sequence has no history.
    const SequenceId other[1] = {8};
    p.begin_step(TokenBatch{other, {}});
    check_row(forecast(p, ForecastTarget::next_token(1)), {0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("markov forecasts smoothed transition rows", "[golden]") {
    MarkovPredictor p(tiny);  // smoothing a = 4
    step(p);
    // Second token: layers 0 and 1 routed, forecast layer 2 from {2, 3}.
    step(p, 2);
    // Layer 2 popularity after one token: c = [0 1 0 1], pi = (c + 1) / (2 + 4) = [1 2 1 2] / 6.
    // Rows 2 and 3 of T(1->2) = [0 1 0 1], n = 2: (T + 4 pi) / (2 + 4):
    //   e0 = (4/6) / 6 = 1/9,  e1 = (1 + 8/6) / 6 = 7/18.  Both rows equal, so is their mean.
    check_row(forecast(p, ForecastTarget::next_layer(2)), {1.0 / 9, 7.0 / 18, 1.0 / 9, 7.0 / 18});
    // Horizon 2 from layer 0's {0, 1} (layer 1 was observed too, but the forecast chains):
    // hop 0->1: both tokens went {0,1} -> {2,3}: rows 0, 1 of T(0->1) = [0 0 2 2], n = 4;
    //   pi1 = (c + 1) / (4 + 4) = [1 1 3 3] / 8; (T + 4 pi1) / 8 = [1/16 1/16 7/16 7/16] = v1.
    // hop 1->2: rows 0, 1 unseen -> pi2 = [1/6 1/3 1/6 1/3]; rows 2, 3 = [1/9 7/18 1/9 7/18]:
    //   v2 = (1/8) pi2 + (7/8) [1/9 7/18 1/9 7/18] = [17/144 55/144 17/144 55/144].
    check_row(forecast(p, ForecastTarget::next_layer(2, 2)),
              {17.0 / 144, 55.0 / 144, 17.0 / 144, 55.0 / 144});
    // Without this step's context (next-token), the layer's popularity.
    check_row(forecast(p, ForecastTarget::next_token(2)), {1.0 / 6, 2.0 / 6, 1.0 / 6, 2.0 / 6});
    // The transition table itself.
    CHECK(p.transition_counts(1)(2, 1) == 1.0f);
    CHECK(p.transition_counts(1)(2, 0) == 0.0f);
    CHECK(p.transition_counts(0)(1, 3) == 2.0f);  // two tokens went 1 -> 3 from layer 0 to 1
}

TEST_CASE("ngram interpolates its context levels (Witten-Bell)", "[golden]") {
    NGramPredictor p(tiny);  // order 3, previous token on
    step(p);
    step(p, 2);
    // Forecast layer 2 for the second token, for i in {2, 3} (layer 1): contexts
    //   (i) and (i, a = 0, layer 0's first expert) were each seen once with targets {1, 3}
    //   (C = 2, N = 2); (i, 0, b = 1, previous token's first at layer 2) is new.
    // pi2 = [1/6 1/3 1/6 1/3].
    // level 1: (c + 2 pi) / 4 = [1/12 5/12 1/12 5/12]
    // level 2: (c + 2 level1) / 4 = [1/24 11/24 1/24 11/24]
    check_row(forecast(p, ForecastTarget::next_layer(2)),
              {1.0 / 24, 11.0 / 24, 1.0 / 24, 11.0 / 24});
    p.observe(LayerRouting{2, route[2], {}});
    // Next token, layer 2, from the previous token alone: contexts b in {1, 3} were seen once each
    // (the second token, whose previous token had {1, 3}) with targets {1, 3}; layer 2's counts
    // are now [0 2 0 2], pi2 = (c + 1) / 8 = [1 3 1 3] / 8; (c + 2 pi) / 4 = [1/16 7/16 ...].
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, ForecastTarget::next_token(2)), {1.0 / 16, 7.0 / 16, 1.0 / 16, 7.0 / 16});
    CHECK(p.dropped_updates() == 0);
}

TEST_CASE("frequency-decay mixes decayed global and sequence counts", "[golden]") {
    // Half-lives of one token: each token weighs twice the one before. Prior 1 token.
    FrequencyDecayPredictor p(ModelShape{4, 2, {0}}, FrequencyDecayConfig{1.0f, 1.0f, 1.0f});
    const ExpertId first[2] = {0, 1}, second[2] = {1, 2};
    p.begin_step(TokenBatch{seq7, {}});
    p.observe(LayerRouting{0, first, {}});
    p.begin_step(TokenBatch{seq7, {}});
    p.observe(LayerRouting{0, second, {}});
    // Weights 1 then 2: g = [1 3 2 0], total 6, next scale 4.
    // global: (g + 4) / (6 + 4 * 4) = [5 7 6 4] / 22.
    // sequence: same counts; n = 6 / (2 * 4) = 3/4 tokens; w = (3/4) / (3/4 + 1) = 3/7.
    // p = 3/7 [1 3 2 0] / 6 + 4/7 [5 7 6 4] / 22 = [31 61 46 16] / 154.
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, ForecastTarget::next_token(0)),
              {31.0 / 154, 61.0 / 154, 46.0 / 154, 16.0 / 154});
    // A new sequence sees the global part only.
    const SequenceId other[1] = {8};
    p.begin_step(TokenBatch{other, {}});
    check_row(forecast(p, ForecastTarget::next_token(0)), {5.0 / 22, 7.0 / 22, 6.0 / 22, 4.0 / 22});
}

TEST_CASE("frequency-decay seeds a sequence's decode forecasts with its prefill", "[golden]") {
    // E = 4, k = 1, one MoE layer, half-lives of one token, prior 1 token. Sequence 7 prefills
    // two prompt tokens routed to 3 and 3 (one step), then decodes.
    const ModelShape shape{4, 1, {0}};
    const SequenceId prompt[2] = {7, 7};
    const Phase phases[2] = {Phase::prefill, Phase::prefill};
    const ExpertId routed[2] = {3, 3};
    auto after_prefill = [&](bool seed) {
        FrequencyDecayConfig c{1.0f, 1.0f, 1.0f};
        c.seed_from_prefill = seed;
        FrequencyDecayPredictor p(shape, c);
        p.begin_step(TokenBatch{prompt, phases});
        p.observe(LayerRouting{0, routed, {}});
        p.begin_step(TokenBatch{seq7, {}});  // the first decode step
        return forecast(p, ForecastTarget::next_token(0));
    };
    // Both ways the global counts see weights 1 and 2: g = [0 0 0 3], next scale 4:
    // (g + 4) / (3 + 4 * 4) = [4 4 4 7] / 19.
    // Seeded: the sequence's counts are the same, n = 3 / (1 * 4) = 3/4 token, w = 3/7:
    // p = 3/7 [0 0 0 1] + 4/7 [4 4 4 7] / 19 = [16 16 16 85] / 133.
    check_row(after_prefill(true), {16.0 / 133, 16.0 / 133, 16.0 / 133, 85.0 / 133});
    // Not seeded: the sequence has nothing yet, the global part alone.
    check_row(after_prefill(false), {4.0 / 19, 4.0 / 19, 4.0 / 19, 7.0 / 19});
}

TEST_CASE("paper-heatmap forecasts the union of the top 20% of its rows", "[golden]") {
    // E = 10: n = ceil(0.2 * 10) = 2. One MoE layer, k = 1. Sequence 1 routes 3 5 3 7 3 5:
    // next-token transitions 3->5, 5->3, 3->7, 7->3, 3->5, so row 3 = {5: 2, 7: 1} (total 3).
    const ModelShape shape{10, 1, {0}};
    PaperHeatmapPredictor p(shape);
    CHECK(p.top_n() == 2);
    const SequenceId one[1] = {1}, two[1] = {2};
    for (const ExpertId e : {3, 5, 3, 7, 3, 5}) {
        const ExpertId row[1] = {e};
        p.begin_step(TokenBatch{one, {}});
        p.observe(LayerRouting{0, row, {}});
    }
    std::vector<float> out(10);
    // Sequence 2 has no previous token: the top 2 of popularity, counts {3: 3, 5: 2, 7: 1},
    // (c + 1) / 16 = 4/16 and 3/16: shares 4/7 and 3/7 of 0.99, plus 0.01 / 10 everywhere.
    p.begin_step(TokenBatch{two, {}});
    p.forecast(ForecastTarget::next_token(0), out);
    CHECK(out[3] == Approx(0.001 + 0.99 * 4 / 7));
    CHECK(out[5] == Approx(0.001 + 0.99 * 3 / 7));
    CHECK(out[7] == Approx(0.001));
    // After sequence 2 routes 3: row 3 gives {5: 2/3, 7: 1/3}, both in its top 2.
    const ExpertId three[1] = {3};
    p.observe(LayerRouting{0, three, {}});
    p.begin_step(TokenBatch{two, {}});
    p.forecast(ForecastTarget::next_token(0), out);
    CHECK(out[5] == Approx(0.001 + 0.99 * 2 / 3));
    CHECK(out[7] == Approx(0.001 + 0.99 / 3));
    CHECK(out[3] == Approx(0.001));
    // It ignores layer context: the next-layer forecast is the same.
    std::vector<float> same(10);
    p.forecast(ForecastTarget::next_layer(0, 1), same);
    CHECK(same == out);
}

namespace {
// E = 4, k = 1, two MoE layers. Each request is a list of (layer 0, layer 1) tokens.
void run_request(ActivationMatchPredictor& p, SequenceId id,
                 std::initializer_list<std::pair<ExpertId, ExpertId>> tokens) {
    const SequenceId seq[1] = {id};
    for (auto [first, second] : tokens) {
        const ExpertId a[1] = {first}, b[1] = {second};
        p.begin_step(TokenBatch{seq, {}});
        p.observe(LayerRouting{0, a, {}});
        p.observe(LayerRouting{1, b, {}});
    }
    p.end_sequence(id);
}
std::vector<float> match_after_first_layer(ActivationMatchPredictor& p, SequenceId id,
                                           ExpertId first) {
    const SequenceId seq[1] = {id};
    const ExpertId a[1] = {first};
    std::vector<float> out(4);
    p.begin_step(TokenBatch{seq, {}});
    p.observe(LayerRouting{0, a, {}});
    p.forecast(ForecastTarget::next_layer(1), out);
    return out;
}
}  // namespace

TEST_CASE("activation-match forecasts the most similar finished request's row", "[golden]") {
    // A = [[2 0 0 0], [0 2 0 0]] (two tokens 0 -> 1), B = [[0 0 1 0], [0 0 0 1]] (one token 2 ->
    // 3). Layer-1 popularity: {1: 2, 3: 1}, (c + 1) / (3 + 4) = [1 3 1 2] / 7. Smoothing a = 1.
    const ModelShape shape{4, 1, {0, 1}};
    ActivationMatchPredictor p(shape);
    run_request(p, 1, {{0, 1}, {0, 1}});
    run_request(p, 2, {{2, 3}});
    CHECK(p.stored() == 2);
    // A request that routed 2 at layer 0: cos with B = 1/sqrt(2), with A = 0. B's row 1 = [0 0 0
    // 1]:
    // ([0 0 0 1] + [1 3 1 2] / 7) / (1 + 1) = [1 3 1 9] / 14.
    check_row(match_after_first_layer(p, 3, 2), {1.0 / 14, 3.0 / 14, 1.0 / 14, 9.0 / 14});
    // One that routed 0: cos with A = 2 / sqrt(8), with B = 0. ([0 2 0 0] + pop) / 3 = [1 17 1 2]
    // / 21.
    check_row(match_after_first_layer(p, 4, 0), {1.0 / 21, 17.0 / 21, 1.0 / 21, 2.0 / 21});
}

TEST_CASE("activation-match drops the oldest matrix beyond its capacity", "[golden]") {
    const ModelShape shape{4, 1, {0, 1}};
    ActivationMatchPredictor p(shape, ActivationMatchConfig{1, 1.0f});
    run_request(p, 1, {{0, 1}, {0, 1}});
    run_request(p, 2, {{2, 3}});
    CHECK(p.stored() == 1);
    // Only B is left, so even a request that routed 0 (A's pattern) is matched to B.
    check_row(match_after_first_layer(p, 3, 0), {1.0 / 14, 3.0 / 14, 1.0 / 14, 9.0 / 14});
}

TEST_CASE("markov with distance tables and product pooling", "[golden]") {
    MarkovConfig config;
    config.max_distance = 2;
    MarkovPredictor linear(tiny, config);
    config.sharpness = 2.0f;
    MarkovPredictor product(tiny, config);
    for (auto* p : {&linear, &product}) {
        step(*p);
        step(*p, 2);
    }
    // The distance-2 table counts layer 0 -> layer 2 of the first token: {0,1} -> {1,3}.
    CHECK(linear.transition_counts(0, 2)(0, 1) == 1.0f);
    CHECK(linear.transition_counts(0, 2)(1, 3) == 1.0f);
    CHECK(linear.transition_counts(0, 2)(0, 0) == 0.0f);
    // Horizon 1: rows of {2,3} at distance 1 and of {0,1} at distance 2 are all
    // ([0 1 0 1] + 4 pi2) / 6 = [1/9 7/18 1/9 7/18] with pi2 = [1 2 1 2] / 6; their mean is too.
    check_row(forecast(linear, ForecastTarget::next_layer(2)),
              {1.0 / 9, 7.0 / 18, 1.0 / 9, 7.0 / 18});
    // Product with g = 2 over n = 4 rows r: log p = (1 - 2) log pi + (2/4) 4 log r, p ~ r^2 / pi:
    // e0 ~ (1/81) / (1/6) = 8/108, e1 ~ (49/324) / (1/3) = 49/108; normalised [4/57 49/114 ...].
    check_row(forecast(product, ForecastTarget::next_layer(2)),
              {4.0 / 57, 49.0 / 114, 4.0 / 57, 49.0 / 114});
    // Horizon 2 reads the distance-2 table directly instead of chaining (17/144 with chaining).
    check_row(forecast(linear, ForecastTarget::next_layer(2, 2)),
              {1.0 / 9, 7.0 / 18, 1.0 / 9, 7.0 / 18});
}

namespace {
// Two members on one MoE layer (E = 4, k = 2): uniform, and previous-token with u = 0.2.
MixturePredictor two_member_mixture(MixtureConfig::Pooling pooling) {
    const ModelShape shape{4, 2, {0}};
    std::vector<AnyPredictor> members;
    members.emplace_back(UniformPredictor(shape));
    members.emplace_back(PreviousTokenPredictor(shape, PreviousTokenConfig{0.2f}));
    MixtureConfig config;
    config.pooling = pooling;
    config.learning_rate = 1.0f;
    config.recovery = 0.0f;
    return MixturePredictor(shape, std::move(members), config);
}
void route_23(MixturePredictor& p) {
    const ExpertId chosen[2] = {2, 3};
    p.begin_step(TokenBatch{seq7, {}});
    p.observe(LayerRouting{0, chosen, {}});
}
}  // namespace

TEST_CASE("mixture learns Hedge weights from the members' log loss", "[golden]") {
    MixturePredictor p = two_member_mixture(MixtureConfig::Pooling::linear);
    const ForecastTarget next_token = ForecastTarget::next_token(0);
    // Token 1: previous-token has no history and is uniform too: equal losses, weights 1/2 each.
    route_23(p);
    // Token 2 routes {2,3} again. Losses: uniform -log(1/4) = log 4; previous-token
    // -(1/2)(2 log 0.45) = -log 0.45. Hedge with eta = 1: w ~ (1/2)(1/4), (1/2)(0.45) = 5/14, 9/14.
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, next_token), {0.15, 0.15, 0.35, 0.35});  // still 1/2, 1/2
    const ExpertId chosen[2] = {2, 3};
    p.observe(LayerRouting{0, chosen, {}});
    CHECK(p.weights(0, next_token)[0] == Approx(5.0 / 14));
    CHECK(p.weights(0, next_token)[1] == Approx(9.0 / 14));
    // Token 3: (5/14) 0.25 + (9/14) [0.05 0.05 0.45 0.45] = [1.7 1.7 5.3 5.3] / 14.
    p.begin_step(TokenBatch{seq7, {}});
    check_row(forecast(p, next_token), {1.7 / 14, 1.7 / 14, 5.3 / 14, 5.3 / 14});
}

TEST_CASE("log-linear mixture follows the gradient of the log loss", "[golden]") {
    MixturePredictor p = two_member_mixture(MixtureConfig::Pooling::log_linear);
    const ForecastTarget next_token = ForecastTarget::next_token(0);
    route_23(p);  // both members uniform: zero gradient
    p.begin_step(TokenBatch{seq7, {}});
    // Pooled p ~ (1/4)^(1/2) q^(1/2), q = [.05 .05 .45 .45]: [1 1 3 3] / 8.
    check_row(forecast(p, next_token), {0.125, 0.125, 0.375, 0.375});
    const ExpertId chosen[2] = {2, 3};
    p.observe(LayerRouting{0, chosen, {}});
    // Gradient for previous-token: sum_e p(e) log q(e) - log 0.45
    //   = (1/4) log 0.05 + (3/4) log 0.45 - log 0.45 = -(1/4) log 9; for uniform, 0.
    // w *= exp(-eta * gradient): 1/2 and (1/2) 9^(1/4) = sqrt(3) / 2.
    CHECK(p.weights(0, next_token)[0] == Approx(0.5));
    CHECK(p.weights(0, next_token)[1] == Approx(std::sqrt(3.0) / 2));
}
