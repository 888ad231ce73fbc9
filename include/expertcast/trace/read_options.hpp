// What a caller can tell the trace readers that the files themselves may not say (the expert count
// of a format that does not record it, an explicit meta file). Its own header so that each reader
// needs only this, not the other readers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Overrides for reading a trace. Every member is optional; an unset one is taken from the files.
struct TraceReadOptions {
    /// E. Needed where the format does not record it (the paper's JSON traces, where it is
    /// otherwise inferred from the largest expert id), and for a CSV trace without its meta file.
    std::optional<std::uint32_t> num_experts;
    /// k. Needed for a CSV trace without its meta file; elsewhere it is checked against the data.
    std::optional<std::uint32_t> top_k;
    /// The meta file of a CSV trace, when it is not `<stem>.meta.json` beside the CSV.
    std::optional<std::filesystem::path> meta;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
