// Combining several forecasts of one layer (one per context expert, or one per predictor) into
// one: linear pooling (the mean, a mixture) or log-linear pooling (a normalised product, which
// lets independent pieces of evidence sharpen each other instead of diluting).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "expertcast/detail/fast_math.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

/// Log-linear pooling in three steps: log_row = (1 - g) log prior; log_row += w_i log p_i for each
/// forecast; row = softmax(log_row). With the w_i summing to g, g = 1 is a weighted geometric
/// mean and g = k treats k forecasts as independent evidence about the same prior (naive Bayes).
inline void log_pool_begin(float* log_row, const float* prior, std::uint32_t n, float g) noexcept {
    for (std::uint32_t e = 0; e < n; ++e) log_row[e] = (1.0f - g) * fast_log(prior[e]);
}

inline void log_pool_add(float* log_row, const float* p, std::uint32_t n, float w) noexcept {
    for (std::uint32_t e = 0; e < n; ++e) log_row[e] += w * fast_log(p[e]);
}

/// row := exp(log_row) / sum, in place, shifted by the maximum so nothing overflows.
inline void log_pool_finish(float* row, std::uint32_t n) noexcept {
    const float top = *std::max_element(row, row + n);
    for (std::uint32_t e = 0; e < n; ++e) row[e] = fast_exp(row[e] - top);  // vectorises
    float sum = 0.0f;
    for (std::uint32_t e = 0; e < n; ++e) sum += row[e];
    const float inv = 1.0f / sum;
    for (std::uint32_t e = 0; e < n; ++e) row[e] *= inv;
}

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
