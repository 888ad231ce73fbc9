// Internals the trace readers share: reading a whole file into memory, parsing JSON so that a
// syntax error names the file, line and column, and describing JSON values in error messages.
// Kept beside the readers (not in the library's detail/) because only they use it and it needs
// nlohmann_json, which the engine-facing core must not.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ios>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "expertcast/core/error.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail::trace_input {

// Throw sites live out of line so the readers' per-row loops stay small.
[[noreturn]] inline void fail(const std::filesystem::path& file, std::size_t line,
                              std::string field, const std::string& what) {
    throw InputError(file.string(), line, std::move(field), what);
}

/// The whole content of a file; InputError naming it when it is missing, a directory or unreadable.
inline std::string read_whole_file(const std::filesystem::path& file) {
    std::error_code status_error;
    const auto status = std::filesystem::status(file, status_error);
    if (status.type() == std::filesystem::file_type::not_found) fail(file, 0, "", "no such file");
    if (status_error) fail(file, 0, "", "cannot be accessed: " + status_error.message());
    if (std::filesystem::is_directory(status)) fail(file, 0, "", "is a directory; expected a file");

    errno = 0;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        const int error = errno;
        fail(file, 0, "",
             std::string("cannot be opened for reading") +
                 (error != 0 ? std::string(": ") + std::strerror(error) : ""));
    }
    std::string bytes;
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size >= 0) {
        bytes.resize(static_cast<std::size_t>(size));
        in.seekg(0, std::ios::beg);
        in.read(bytes.data(), static_cast<std::streamsize>(size));
        // A file that shrank while being read comes back short rather than failing.
        if (in.bad()) fail(file, 0, "", "read error");
        bytes.resize(static_cast<std::size_t>(in.gcount()));
    } else {
        // Not seekable (a pipe): stream it.
        in.clear();
        std::ostringstream buffer;
        buffer << in.rdbuf();
        bytes = std::move(buffer).str();
    }
    return bytes;
}

/// "list" for JSON arrays (the formats' documentation says list), nlohmann's name otherwise.
inline std::string json_type_name(const nlohmann::json& value) {
    return value.is_array() ? "list" : value.type_name();
}

/// A short description of a JSON value for "expected X, found Y" messages.
inline std::string describe_json_value(const nlohmann::json& value) {
    if (value.is_array()) return "a list";
    if (value.is_object()) return "an object";
    if (value.is_null()) return "null";
    std::string text = value.dump();
    constexpr std::size_t longest = 40;
    if (text.size() > longest) text = text.substr(0, longest) + "...";
    return json_type_name(value) + " " + text;
}

/// The value as a non-negative integer, or nothing when it is anything else (a float, a string).
inline std::optional<std::uint64_t> json_non_negative_integer(const nlohmann::json& value) {
    if (value.is_number_unsigned()) return value.get<std::uint64_t>();
    if (value.is_number_integer() && value.get<std::int64_t>() >= 0)
        return static_cast<std::uint64_t>(value.get<std::int64_t>());
    return std::nullopt;
}

/// Parses a JSON document; a syntax error becomes an InputError naming the file and carrying
/// nlohmann's line and column.
inline nlohmann::json parse_json_document(const std::string& text,
                                          const std::filesystem::path& file) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& error) {
        // Drop nlohmann's "[json.exception.parse_error.101] " prefix; keep "parse error at line..".
        std::string_view message = error.what();
        if (const auto close = message.find("] ");
            !message.empty() && message.front() == '[' && close != std::string_view::npos)
            message.remove_prefix(close + 2);
        fail(file, 0, "", "invalid JSON: " + std::string(message));
    }
}

// Appending rather than `"[" + std::to_string(index)` sidesteps a false -Wrestrict in GCC 12 -O3.

/// `["17"]` step of a JSON path, for member keys that are not identifiers.
inline std::string json_path_key(std::string_view key) {
    std::string step = "[\"";
    step += key;
    step += "\"]";
    return step;
}

/// `[3]` step of a JSON path.
inline std::string json_path_index(std::size_t index) {
    std::string step = "[";
    step += std::to_string(index);
    step += ']';
    return step;
}

}  // namespace detail::trace_input
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
