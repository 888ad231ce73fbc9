// Version of the library and the versioned inline namespace that every public name lives in, so
// that two copies of expertcast of different versions linked into one engine cannot be confused.
#pragma once

#define EXPERTCAST_VERSION_MAJOR 0
#define EXPERTCAST_VERSION_MINOR 1
#define EXPERTCAST_VERSION_PATCH 0

#define EXPERTCAST_BEGIN_NAMESPACE inline namespace v0_1_0 {
#define EXPERTCAST_END_NAMESPACE }

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// "major.minor.patch" of this copy of the headers.
inline constexpr const char* version_string = "0.1.0";

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
