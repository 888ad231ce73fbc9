// The engine side links expertcast::expertcast only: predictors, no readers, no fmt, no JSON.
#include <expertcast/expertcast.hpp>

#include <vector>

int main() {
    using namespace expertcast;
    const ModelShape shape{8, 2, {0, 2, 4}};
    MarkovPredictor predictor(shape);
    const std::vector<SequenceId> sequences{1};
    const std::vector<ExpertId> routed{3, 5};
    std::vector<float> forecast(shape.num_experts);
    predictor.begin_step({sequences, {}});
    predictor.observe({0, routed, {}});
    predictor.forecast(ForecastTarget::next_layer(1), forecast);
    float sum = 0;
    for (float p : forecast) sum += p;
    return sum > 0.999f && sum < 1.001f ? 0 : 1;
}
