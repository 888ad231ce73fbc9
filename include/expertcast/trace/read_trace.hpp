// One entry point for reading a trace of any supported format, chosen from the path, so that
// tools take a trace path without a format flag.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "expertcast/core/error.hpp"
#include "expertcast/trace/csv_reader.hpp"
#include "expertcast/trace/paper_json_reader.hpp"
#include "expertcast/trace/read_options.hpp"
#include "expertcast/trace/trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Reads a trace, choosing the reader from the path:
/// * a directory, or a `.json` file that is not a `.meta.json`: the paper's JSON format
///   (read_paper_json_trace);
/// * a `.csv` file: the CSV format with its meta file (read_csv_trace).
/// Anything else is an InputError that lists the known formats.
inline Trace read_trace(const std::filesystem::path& path, const TraceReadOptions& options = {}) {
    std::error_code error;
    if (!std::filesystem::exists(path, error))
        throw InputError(path.string(), 0, "", "no such file or directory");
    const bool csv = path.extension() == ".csv";
    if (options.meta && !csv)
        throw InputError(path.string(), 0, "",
                         "a meta file is only read with a CSV trace (.csv); this path is not one");
    if (std::filesystem::is_directory(path, error)) return read_paper_json_trace(path, options);
    const std::string name = path.filename().string();
    constexpr std::string_view meta_suffix = ".meta.json";
    if (name.size() > meta_suffix.size() && name.ends_with(meta_suffix))
        throw InputError(path.string(), 0, "",
                         "this is the meta file of a CSV trace; pass the .csv file beside it");
    if (csv) return read_csv_trace(path, options);
    if (path.extension() == ".json") return read_paper_json_trace(path, options);
    throw InputError(path.string(), 0, "",
                     "unknown trace format; known formats: a .csv file with its <stem>.meta.json "
                     "beside it, and the paper's JSON traces (a directory of <index>.json files, "
                     "one per request, or one such file)");
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
