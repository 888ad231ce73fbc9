// The offline side links expertcast::tools: the version check of the inline namespace and the
// registry, which pulls in fmt through the target's usage requirements.
#include <expertcast/tools.hpp>

#include <type_traits>

static_assert(std::is_same_v<expertcast::MarkovPredictor, expertcast::v0_1_0::MarkovPredictor>);

int main() {
    const expertcast::ModelShape shape{8, 2, {0, 1}};
    auto predictor = expertcast::make_predictor("ngram", shape);
    return predictor.name() == "ngram" ? 0 : 1;
}
