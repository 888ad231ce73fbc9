// Contract checks on the hot path, for debug builds. observe/forecast trust their input in release
// builds (they are noexcept and must stay cheap); with assertions on (the default unless NDEBUG is
// defined, or forced with EXPERTCAST_ASSERTS=1) a caller's mistake such as a decoder-layer index
// passed where a MoE ordinal belongs, an expert id out of range or a buffer of the wrong size stops
// the program with a message instead of corrupting memory.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "expertcast/version.hpp"

#if !defined(EXPERTCAST_ASSERTS)
#if defined(NDEBUG)
#define EXPERTCAST_ASSERTS 0
#else
#define EXPERTCAST_ASSERTS 1
#endif
#endif

#if EXPERTCAST_ASSERTS
#define EXPERTCAST_ASSERT(condition, message) \
    ((condition)                              \
         ? static_cast<void>(0)               \
         : ::expertcast::detail::assertion_failed(#condition, message, __FILE__, __LINE__))
#else
#define EXPERTCAST_ASSERT(condition, message) static_cast<void>(0)
#endif

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

[[noreturn]] inline void assertion_failed(const char* condition, const char* message,
                                          const char* file, int line) noexcept {
    std::fprintf(stderr, "expertcast: %s (%s) at %s:%d\n", message, condition, file, line);
    std::abort();
}

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
