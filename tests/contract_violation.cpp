// A caller's mistake stops a debug build with a message instead of corrupting memory: passing the
// decoder-layer index 7 of a Llama-4-like model (MoE on odd layers) where the MoE ordinal 3
// belongs. Run by ctest, which expects the message (tests/CMakeLists.txt).
#include <expertcast/expertcast.hpp>

#include <csignal>
#include <cstdlib>
#include <vector>

int main(int argc, char**) {
    using namespace expertcast;
    // The check aborts after printing; exit quietly so that ctest judges the printed message.
    std::signal(SIGABRT, [](int) { std::_Exit(0); });
    const ModelShape shape{8, 1, {1, 3, 5, 7}};
    MarkovPredictor predictor(shape);
    const std::vector<SequenceId> sequences{1};
    const std::vector<ExpertId> routed{2};
    predictor.begin_step({sequences, {}});
    if (argc > 1) {  // a forecast buffer sized for two tokens in a one-token step
        std::vector<float> out(2 * shape.num_experts);
        predictor.forecast(ForecastTarget::next_layer(1), out);
    } else {
        predictor.observe({7, routed, {}});
    }
    return 0;
}
