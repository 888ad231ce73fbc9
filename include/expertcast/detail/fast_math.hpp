// log and exp for the pooling loops: log-linear pooling takes E logarithms per context row and
// per member, which made std::log the largest cost of a forecast. These are plain float
// arithmetic on the bit pattern (no table, no branch), so loops over them vectorise, and they
// agree with std::log / std::exp to about 2e-7 relative on the ranges used (probabilities in
// (0, 1], exponents in [-87, 0]).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

// No float comparison anywhere: without -fno-trapping-math a compiler may not turn one into a
// select, and a branch stops the loops around these from vectorising.

/// Natural logarithm of a positive float. Zero and denormals give about -88 (log 2^-127), which
/// is what the pooling wants of "impossible": very unlikely, still finite.
inline float fast_log(float x) noexcept {
    std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    // x = 2^e * m with m in [sqrt(1/2), sqrt(2)): the series below converges fastest there.
    // C++20 defines >> of a negative int as arithmetic, which gives e for x < sqrt(1/2) too.
    const std::int32_t e = std::bit_cast<std::int32_t>(bits - 0x3f3504f3u) >> 23;
    bits -= std::bit_cast<std::uint32_t>(e) << 23;
    const float m = std::bit_cast<float>(bits);
    // log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172: 2 (s + s^3/3 + s^5/5 + s^7/7 + ...)
    const float s = (m - 1.0f) / (m + 1.0f);
    const float s2 = s * s;
    const float series =
        s * (2.0f + s2 * (0.666666667f + s2 * (0.4f + s2 * (0.285714286f + s2 * 0.222222222f))));
    return static_cast<float>(e) * 0.693147181f + series;
}

/// e^x for x <= 0; below about -87 (where float underflows) it returns about 1e-38.
inline float fast_exp(float x) noexcept {
    // e^x = 2^(x log2 e) = 2^n * 2^f, n integer, f in [-1/2, 1/2]. Adding and subtracting
    // 1.5 * 2^23 rounds to the nearest integer in float arithmetic.
    const float t = x * 1.44269504f;
    const float n = (t + 12582912.0f) - 12582912.0f;
    const float f = (t - n) * 0.693147181f;  // e^f with |f| <= ln2 / 2
    const float p =
        1.0f +
        f * (1.0f +
             f * (0.5f + f * (0.166666667f +
                              f * (0.0416666667f + f * (0.00833333333f + f * 0.00138888889f)))));
    // The exponent is clamped as an integer (no float comparison) to stay a normal float.
    const std::int32_t exponent = std::max(static_cast<std::int32_t>(n), -126) + 127;
    return p * std::bit_cast<float>(std::bit_cast<std::uint32_t>(exponent) << 23);
}

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
