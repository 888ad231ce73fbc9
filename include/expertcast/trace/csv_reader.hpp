// Reads the project's CSV routing traces (one row per recorded request, token and MoE layer; see
// ../shared/traces/README.md) together with the <stem>.meta.json beside each, into a Trace.
// The files are large (gpt-oss-20b.csv: 31 MB, 480k rows), so the CSV is read whole and parsed by
// hand with std::from_chars. Every malformed row is reported by file, line and field: a trace that
// is silently misread would skew every metric computed from it.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "expertcast/core/error.hpp"
#include "expertcast/core/model_shape.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/trace/read_options.hpp"
#include "expertcast/trace/reader_support.hpp"
#include "expertcast/trace/trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail::csv_trace {

using trace_input::fail;

inline constexpr std::string_view expected_header = "request,token,layer,experts,weights";
inline constexpr std::size_t field_count = 5;
inline constexpr std::string_view field_names[field_count] = {"request", "token", "layer",
                                                              "experts", "weights"};

/// A request the meta file lists.
struct MetaRequest {
    std::int64_t id = 0;
    std::optional<std::uint32_t> prompt_tokens;
    std::size_t meta_index = 0;  ///< position in the meta's requests list, for messages
};

/// What the meta file (or, without one, the options and the CSV) says about the trace.
struct TraceMeta {
    std::filesystem::path path;  ///< the meta file; empty when the CSV is read without one
    ModelShape shape;
    std::vector<MetaRequest> requests;  ///< sorted by id; unused without a meta file
    std::optional<std::uint64_t> rows;  ///< the number of data rows the meta file announces
    std::vector<std::string> notes;
    bool top_k_given = false;  ///< top_k came from the read options, not the meta file
};

/// `<stem>.meta.json` beside the CSV.
inline std::filesystem::path default_meta_path(const std::filesystem::path& csv) {
    std::filesystem::path meta = csv;
    meta.replace_extension(".meta.json");
    return meta;
}

/// "0..23" for a contiguous list, else the first few entries, for messages.
inline std::string describe_layers(const std::vector<std::uint32_t>& layers) {
    if (layers.empty()) return "none";
    if (layers.back() - layers.front() + 1 == layers.size())
        return std::to_string(layers.front()) + ".." + std::to_string(layers.back());
    std::string text;
    constexpr std::size_t shown = 8;
    for (std::size_t i = 0; i < layers.size() && i < shown; ++i)
        text += (i == 0 ? "" : ", ") + std::to_string(layers[i]);
    if (layers.size() > shown) text += ", ... (" + std::to_string(layers.size()) + " layers)";
    return text;
}

/// Reads and checks the meta file; options.num_experts and options.top_k win over its values.
inline TraceMeta read_meta(const std::filesystem::path& path, const TraceReadOptions& options) {
    using nlohmann::json;
    using trace_input::describe_json_value;
    using trace_input::json_non_negative_integer;
    using trace_input::json_path_index;

    const json document =
        trace_input::parse_json_document(trace_input::read_whole_file(path), path);
    if (!document.is_object())
        fail(path, 0, "$", "expected an object, found " + describe_json_value(document));

    TraceMeta meta;
    meta.path = path;

    auto model_fact = [&](const char* key,
                          const std::optional<std::uint32_t>& option) -> std::uint32_t {
        const std::string json_path = std::string("$.") + key;
        std::optional<std::uint32_t> from_file;
        if (const auto it = document.find(key); it != document.end()) {
            const auto value = json_non_negative_integer(*it);
            if (!value || *value > std::numeric_limits<std::uint32_t>::max())
                fail(path, 0, json_path,
                     "expected a non-negative integer, found " + describe_json_value(*it));
            from_file = static_cast<std::uint32_t>(*value);
        }
        if (option) {
            if (from_file && *from_file != *option)
                meta.notes.push_back(std::string(key) + " = " + std::to_string(*option) +
                                     " given explicitly (read options, --" +
                                     (std::string_view(key) == "top_k" ? "top-k" : "num-experts") +
                                     ") overrides " + std::to_string(*from_file) + " in " +
                                     path.filename().string());
            return *option;
        }
        if (!from_file) fail(path, 0, json_path, "missing; expected a non-negative integer");
        return *from_file;
    };
    meta.shape.num_experts = model_fact("num_experts", options.num_experts);
    meta.shape.top_k = model_fact("top_k", options.top_k);
    meta.top_k_given = options.top_k.has_value();

    const auto layers = document.find("moe_layers");
    if (layers == document.end())
        fail(path, 0, "$.moe_layers", "missing; expected the list of MoE decoder-layer indices");
    if (!layers->is_array())
        fail(path, 0, "$.moe_layers",
             "expected a list of decoder-layer indices, found " + describe_json_value(*layers));
    for (std::size_t i = 0; i < layers->size(); ++i) {
        const json& entry = (*layers)[i];
        const auto value = json_non_negative_integer(entry);
        if (!value || *value > std::numeric_limits<std::uint32_t>::max())
            fail(path, 0, "$.moe_layers" + json_path_index(i),
                 "expected a decoder-layer index (a non-negative integer), found " +
                     describe_json_value(entry));
        if (i > 0 && *value <= meta.shape.moe_layers.back())
            fail(path, 0, "$.moe_layers" + json_path_index(i),
                 "moe_layers must be strictly increasing; " + std::to_string(*value) + " follows " +
                     std::to_string(meta.shape.moe_layers.back()));
        meta.shape.moe_layers.push_back(static_cast<std::uint32_t>(*value));
    }

    const auto requests = document.find("requests");
    if (requests == document.end())
        fail(path, 0, "$.requests",
             "missing; expected a list of {\"id\", \"prompt_tokens\"} objects");
    if (!requests->is_array())
        fail(path, 0, "$.requests",
             "expected a list of request objects, found " + describe_json_value(*requests));
    meta.requests.reserve(requests->size());
    for (std::size_t i = 0; i < requests->size(); ++i) {
        const json& request = (*requests)[i];
        const std::string request_path = "$.requests" + json_path_index(i);
        if (!request.is_object())
            fail(path, 0, request_path,
                 "expected an object with \"id\" and \"prompt_tokens\", found " +
                     describe_json_value(request));
        MetaRequest entry;
        entry.meta_index = i;
        const auto id = request.find("id");
        if (id == request.end())
            fail(path, 0, request_path + ".id", "missing; expected an integer");
        if (!id->is_number_integer() ||
            (id->is_number_unsigned() &&
             id->get<std::uint64_t>() >
                 static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
            fail(path, 0, request_path + ".id",
                 "expected an integer, found " + describe_json_value(*id));
        entry.id = id->get<std::int64_t>();
        if (const auto prompt = request.find("prompt_tokens");
            prompt != request.end() && !prompt->is_null()) {
            const auto value = json_non_negative_integer(*prompt);
            if (!value || *value > std::numeric_limits<std::uint32_t>::max())
                fail(path, 0, request_path + ".prompt_tokens",
                     "expected a non-negative integer or null, found " +
                         describe_json_value(*prompt));
            entry.prompt_tokens = static_cast<std::uint32_t>(*value);
        }
        meta.requests.push_back(entry);
    }
    std::sort(meta.requests.begin(), meta.requests.end(),
              [](const MetaRequest& a, const MetaRequest& b) {
                  return a.id != b.id ? a.id < b.id : a.meta_index < b.meta_index;
              });
    for (std::size_t i = 1; i < meta.requests.size(); ++i)
        if (meta.requests[i].id == meta.requests[i - 1].id)
            fail(path, 0, "$.requests" + json_path_index(meta.requests[i].meta_index) + ".id",
                 "request id " + std::to_string(meta.requests[i].id) + " is also $.requests" +
                     json_path_index(meta.requests[i - 1].meta_index) + ".id");

    // Not part of the documented format, but where the recorder wrote it, it catches a CSV cut
    // exactly at a line end, which no row-level check can see.
    if (const auto rows = document.find("rows"); rows != document.end())
        meta.rows = json_non_negative_integer(*rows);
    return meta;
}

/// The distinct values of the layer column, sorted: the MoE layers of a CSV read without its meta
/// file. Lines whose layer field does not parse are skipped here; the row parser reports them.
inline std::vector<std::uint32_t> layers_present(std::string_view text) {
    std::set<std::uint32_t> layers;
    std::size_t line_begin = text.find('\n');  // past the header
    while (line_begin != std::string_view::npos && line_begin + 1 < text.size()) {
        ++line_begin;
        const std::size_t line_end = text.find('\n', line_begin);
        const std::string_view line = text.substr(
            line_begin, line_end == std::string_view::npos ? line_end : line_end - line_begin);
        const std::size_t first_comma = line.find(',');
        const std::size_t second_comma =
            first_comma == std::string_view::npos ? first_comma : line.find(',', first_comma + 1);
        if (second_comma != std::string_view::npos) {
            const std::size_t third_comma = line.find(',', second_comma + 1);
            const std::string_view field =
                line.substr(second_comma + 1, third_comma == std::string_view::npos
                                                  ? third_comma
                                                  : third_comma - second_comma - 1);
            std::uint32_t layer = 0;
            const auto [end, error] =
                std::from_chars(field.data(), field.data() + field.size(), layer);
            if (error == std::errc{} && end == field.data() + field.size() && !field.empty())
                layers.insert(layer);
        }
        line_begin = line_end;
    }
    return {layers.begin(), layers.end()};
}

/// Parses the rows of a CSV trace into a Trace whose shape is already set. Rows arrive sorted,
/// so tokens and requests are appended as they appear and every cell is written in place.
class CsvTraceParser {
public:
    CsvTraceParser(const std::filesystem::path& file, std::string_view text, const TraceMeta& meta,
                   Trace& trace)
        : file_(file),
          text_(text),
          meta_(meta),
          trace_(trace),
          num_layers_(trace.shape.num_moe_layers()),
          top_k_(trace.shape.top_k),
          num_experts_(trace.shape.num_experts) {}

    /// Parses every line; returns the number of data rows (= recorded cells).
    std::size_t run() {
        if (text_.empty())
            fail(file_, 1, "header",
                 "the file is empty; expected the header " + std::string(expected_header));
        std::size_t offset = 0;
        std::string_view header = next_line(offset);
        if (header.starts_with("\xEF\xBB\xBF")) header.remove_prefix(3);  // UTF-8 byte order mark
        if (header != expected_header)
            fail_here("header",
                      "expected " + std::string(expected_header) + ", found " + quoted(header));

        // Without holes a token takes one row per MoE layer; holes only make the vectors grow.
        const auto newlines =
            static_cast<std::size_t>(std::count(text_.begin(), text_.end(), '\n'));
        const std::size_t expected_tokens = newlines / std::max<std::size_t>(num_layers_, 1) + 1;
        trace_.positions.reserve(expected_tokens);
        trace_.phases.reserve(expected_tokens);
        trace_.experts.reserve(expected_tokens * cells_per_token());

        while (offset < text_.size()) {
            const std::string_view line = next_line(offset);
            // Blank lines that end the file (an editor's trailing newline) are not rows.
            if (line.empty() && text_.find_first_not_of("\r\n", offset) == std::string_view::npos)
                break;
            parse_row(line);
        }
        if (data_rows_ == 0) fail(file_, line_ + 1, "", "no data rows after the header");
        trace_.requests.back().token_end = trace_.num_tokens();
        return data_rows_;
    }

private:
    std::string top_k_origin() const {
        return meta_.top_k_given ? " (given explicitly, not the meta file's)" : "";
    }

    std::size_t cells_per_token() const noexcept { return std::size_t{num_layers_} * top_k_; }

    std::string_view next_line(std::size_t& offset) {
        ++line_;
        const std::size_t newline = text_.find('\n', offset);
        std::string_view line;
        if (newline == std::string_view::npos) {
            line = text_.substr(offset);
            offset = text_.size();
            line_unterminated_ = true;
        } else {
            line = text_.substr(offset, newline - offset);
            offset = newline + 1;
        }
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return line;
    }

    /// Throws for the current line. A last line without its newline that does not parse is most
    /// likely a file cut short, and the message says so.
    [[noreturn]] void fail_here(std::string_view field, std::string what) const {
        if (line_unterminated_) what += " (the last line has no newline: the file looks truncated)";
        fail(file_, line_, std::string(field), what);
    }

    static std::string quoted(std::string_view text) {
        constexpr std::size_t longest = 60;
        if (text.size() > longest) return "'" + std::string(text.substr(0, longest)) + "...'";
        return "'" + std::string(text) + "'";
    }

    template <class Integer>
    Integer parse_integer(std::string_view text, std::string_view field,
                          const char* expected) const {
        if (text.empty()) fail_here(field, std::string("missing; expected ") + expected);
        Integer value{};
        const char* const end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (error == std::errc::result_out_of_range)
            fail_here(field, quoted(text) + " is out of range");
        if (error != std::errc{} || stop != end)
            fail_here(field, quoted(text) + " is not " + expected);
        return value;
    }

    void parse_row(std::string_view line) {
        if (line.empty())
            fail_here("", "empty line; expected a row " + std::string(expected_header));
        std::string_view fields[field_count];
        std::size_t count = 0;
        for (std::size_t start = 0;;) {
            const std::size_t comma = line.find(',', start);
            if (count < field_count)
                fields[count] =
                    line.substr(start, comma == std::string_view::npos ? comma : comma - start);
            ++count;
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        if (count != field_count) {
            const std::string what = "the row has " + std::to_string(count) +
                                     " fields; expected 5 (" + std::string(expected_header) + ")";
            if (count < field_count) fail_here(field_names[count], "missing: " + what);
            fail_here("", what);
        }

        const auto request = parse_integer<std::int64_t>(fields[0], "request", "an integer");
        const auto token =
            parse_integer<std::uint32_t>(fields[1], "token", "a non-negative integer");
        const auto layer =
            parse_integer<std::uint32_t>(fields[2], "layer", "a non-negative integer");
        const std::optional<std::uint32_t> ordinal = trace_.shape.ordinal_of(layer);
        if (!ordinal)
            fail_here(
                "layer",
                "layer " + std::to_string(layer) + " is not a MoE layer (moe_layers" +
                    (meta_.path.empty() ? std::string() : " in " + meta_.path.filename().string()) +
                    ": " + describe_layers(trace_.shape.moe_layers) + ")");

        const bool new_request = data_rows_ == 0 || request != previous_request_;
        const bool new_token = new_request || token != previous_token_;
        if (data_rows_ != 0) check_order(request, token, layer, new_token);

        const bool row_has_weights = !fields[4].empty();
        if (data_rows_ == 0) {
            trace_has_weights_ = row_has_weights;
            if (trace_has_weights_) trace_.weights.reserve(trace_.experts.capacity());
        } else if (row_has_weights != trace_has_weights_) {
            fail_here("weights", row_has_weights
                                     ? "this row has weights but the rows before it have none"
                                     : "empty, but the rows before it have weights (a trace "
                                       "records weights on every row or on none)");
        }

        if (new_request) start_request(request);
        if (new_token) start_token(token);
        const std::size_t cell =
            ((trace_.num_tokens() - 1) * num_layers_ + std::size_t{*ordinal}) * top_k_;
        parse_experts(fields[3], trace_.experts.data() + cell);
        if (trace_has_weights_) parse_weights(fields[4], trace_.weights.data() + cell);

        previous_request_ = request;
        previous_token_ = token;
        previous_layer_ = layer;
        ++data_rows_;
    }

    void check_order(std::int64_t request, std::uint32_t token, std::uint32_t layer,
                     bool new_token) const {
        // Runs on every row: nothing here may allocate until a check fails.
        constexpr const char* sorted_by = " (rows must be sorted by request, token, layer)";
        if (request < previous_request_)
            fail_here("request", "rows are out of order: request " + std::to_string(request) +
                                     " follows request " + std::to_string(previous_request_) +
                                     sorted_by);
        if (request == previous_request_ && token < previous_token_)
            fail_here("token", "rows are out of order: token " + std::to_string(token) +
                                   " follows token " + std::to_string(previous_token_) +
                                   " of request " + std::to_string(request) + sorted_by);
        if (new_token) return;
        if (layer < previous_layer_)
            fail_here("layer", "rows are out of order: layer " + std::to_string(layer) +
                                   " follows layer " + std::to_string(previous_layer_) +
                                   " of request " + std::to_string(request) + " token " +
                                   std::to_string(token) + sorted_by);
        if (layer == previous_layer_)
            fail_here("layer", "duplicate row: (request " + std::to_string(request) + ", token " +
                                   std::to_string(token) + ", layer " + std::to_string(layer) +
                                   ") is also on line " + std::to_string(line_ - 1));
    }

    void start_request(std::int64_t request) {
        TraceRequest entry;
        entry.id = request;
        entry.token_begin = trace_.num_tokens();
        if (!meta_.path.empty()) {
            const auto it = std::lower_bound(
                meta_.requests.begin(), meta_.requests.end(), request,
                [](const MetaRequest& listed, std::int64_t id) { return listed.id < id; });
            if (it == meta_.requests.end() || it->id != request)
                fail_here("request", "request " + std::to_string(request) +
                                         " is not listed in $.requests of " +
                                         meta_.path.filename().string());
            entry.prompt_tokens = it->prompt_tokens;
        }
        if (!trace_.requests.empty()) trace_.requests.back().token_end = trace_.num_tokens();
        trace_.requests.push_back(entry);
    }

    void start_token(std::uint32_t token) {
        const auto& prompt_tokens = trace_.requests.back().prompt_tokens;
        trace_.positions.push_back(token);
        trace_.phases.push_back(prompt_tokens && token < *prompt_tokens ? Phase::prefill
                                                                        : Phase::decode);
        // Cells the file lacks stay not_recorded (and NaN-weighted): the holes.
        trace_.experts.resize(trace_.experts.size() + cells_per_token(), not_recorded);
        if (trace_has_weights_)
            trace_.weights.resize(trace_.weights.size() + cells_per_token(),
                                  std::numeric_limits<float>::quiet_NaN());
    }

    /// The word starting at `begin` (up to the next space), for messages.
    static std::string_view word_at(const char* begin, const char* end) {
        return {begin, static_cast<std::size_t>(std::find(begin, end, ' ') - begin)};
    }

    /// Calls parse(word_begin, word_end) for every space-separated word of a field; returns the
    /// number of words.
    template <class Parse>
    static std::size_t for_each_word(std::string_view field, Parse&& parse) {
        std::size_t count = 0;
        const char* cursor = field.data();
        const char* const end = cursor + field.size();
        while (cursor != end) {
            if (*cursor == ' ') {
                ++cursor;
                continue;
            }
            cursor = parse(cursor, end, count++);
        }
        return count;
    }

    void parse_experts(std::string_view field, ExpertId* row) const {
        const std::size_t count = for_each_word(field, [&](const char* cursor, const char* end,
                                                           std::size_t index) {
            std::int64_t id = 0;
            const auto [stop, error] = std::from_chars(cursor, end, id);
            if (error == std::errc::result_out_of_range)
                fail_here("experts", "expert id " + std::string(word_at(cursor, end)) +
                                         " is outside [0, " + std::to_string(num_experts_) + ")");
            if (error != std::errc{} || (stop != end && *stop != ' '))
                fail_here("experts", quoted(word_at(cursor, end)) + " is not an expert id");
            if (id < 0 || id >= num_experts_)
                fail_here("experts", "expert id " + std::to_string(id) + " is outside [0, " +
                                         std::to_string(num_experts_) + ")");
            if (index < top_k_) row[index] = static_cast<ExpertId>(id);
            return stop;
        });
        if (count != top_k_)
            fail_here("experts", (count == 0 ? std::string("missing")
                                             : "has " + std::to_string(count) + " expert ids") +
                                     "; expected top_k = " + std::to_string(top_k_) +
                                     top_k_origin());
        for (std::size_t j = 1; j < top_k_; ++j)
            for (std::size_t i = 0; i < j; ++i)
                if (row[i] == row[j])
                    fail_here("experts",
                              "expert id " + std::to_string(row[j]) + " appears twice in one row");
    }

    void parse_weights(std::string_view field, float* row) const {
        const std::size_t count = for_each_word(field, [&](const char* cursor, const char* end,
                                                           std::size_t index) {
            float weight = 0;
            const auto [stop, error] = std::from_chars(cursor, end, weight);
            if (error == std::errc::result_out_of_range)
                fail_here("weights", "weight " + quoted(word_at(cursor, end)) +
                                         " is out of the range of a float");
            if (error != std::errc{} || (stop != end && *stop != ' '))
                fail_here("weights", quoted(word_at(cursor, end)) + " is not a number");
            if (!std::isfinite(weight))
                fail_here("weights", "weight " + quoted(word_at(cursor, end)) + " is not finite");
            if (index < top_k_) row[index] = weight;
            return stop;
        });
        if (count != top_k_)
            fail_here("weights", "has " + std::to_string(count) +
                                     " weights; expected top_k = " + std::to_string(top_k_) +
                                     top_k_origin() + " (or none on every row)");
    }

    const std::filesystem::path& file_;
    std::string_view text_;
    const TraceMeta& meta_;
    Trace& trace_;
    std::uint32_t num_layers_;
    std::uint32_t top_k_;
    std::int64_t num_experts_;

    std::size_t line_ = 0;  // 1-based number of the line being parsed
    bool line_unterminated_ = false;
    std::size_t data_rows_ = 0;
    bool trace_has_weights_ = false;
    std::int64_t previous_request_ = 0;
    std::uint32_t previous_token_ = 0;
    std::uint32_t previous_layer_ = 0;
};

/// Facts about the trace a user should see before trusting results computed from it.
inline void add_notes(const TraceMeta& meta, std::size_t recorded_cells, Trace& trace) {
    const std::size_t cells = trace.num_tokens() * trace.shape.num_moe_layers();
    if (recorded_cells != cells)
        trace.notes.push_back(std::to_string(cells - recorded_cells) + " of " +
                              std::to_string(cells) +
                              " (token, MoE layer) cells are not recorded (holes)");

    const auto unknown_prompt = static_cast<std::size_t>(
        std::count_if(trace.requests.begin(), trace.requests.end(),
                      [](const TraceRequest& request) { return !request.prompt_tokens; }));
    if (unknown_prompt == trace.requests.size())
        trace.notes.push_back(
            "no request has a prompt length; every token is replayed as a decode step");
    else if (unknown_prompt != 0)
        trace.notes.push_back(std::to_string(unknown_prompt) + " of " +
                              std::to_string(trace.requests.size()) +
                              " requests have no prompt length; their tokens are replayed as "
                              "decode steps");

    if (!meta.path.empty() && meta.requests.size() > trace.requests.size()) {
        // Both lists are sorted by id and every trace request is listed.
        std::string ids;
        std::size_t unused = 0;
        auto present = trace.requests.begin();
        for (const MetaRequest& listed : meta.requests) {
            if (present != trace.requests.end() && present->id == listed.id) {
                ++present;
                continue;
            }
            if (++unused <= 10) ids += (unused == 1 ? "" : ", ") + std::to_string(listed.id);
        }
        if (unused > 10) ids += ", ...";
        trace.notes.push_back(std::to_string(unused) + " requests listed in " +
                              meta.path.filename().string() +
                              " have no rows and are left out (ids " + ids + ")");
    }
}

}  // namespace detail::csv_trace

/// Reads a CSV routing trace (header `request,token,layer,experts,weights`, rows sorted by
/// request, token and layer) and its meta file (`<stem>.meta.json` beside it, or options.meta)
/// into a Trace. Cells the CSV lacks become not_recorded rows. A token below its request's
/// prompt_tokens is prefill; with no prompt length every token is decode.
///
/// Without a meta file, options.num_experts and options.top_k must both be given; the MoE layers
/// are then the layers the CSV contains and prompt lengths are unknown. Options override the
/// meta file's num_experts and top_k.
///
/// Throws InputError naming the file, line (or JSON path) and field of the first problem.
inline Trace read_csv_trace(const std::filesystem::path& csv,
                            const TraceReadOptions& options = {}) {
    namespace csv_trace = detail::csv_trace;
    const std::string text = detail::trace_input::read_whole_file(csv);

    const std::filesystem::path meta_path =
        options.meta ? *options.meta : csv_trace::default_meta_path(csv);
    std::error_code exists_error;
    csv_trace::TraceMeta meta;
    if (options.meta || std::filesystem::exists(meta_path, exists_error)) {
        meta = csv_trace::read_meta(meta_path, options);
    } else if (options.num_experts && options.top_k) {
        meta.shape.num_experts = *options.num_experts;
        meta.shape.top_k = *options.top_k;
        meta.top_k_given = true;
        meta.shape.moe_layers = csv_trace::layers_present(text);
        meta.notes.push_back("no meta file " + meta_path.filename().string() +
                             ": the MoE layers are the " +
                             std::to_string(meta.shape.moe_layers.size()) +
                             " layers the CSV contains and prompt lengths are unknown");
    } else {
        detail::trace_input::fail(
            meta_path, 0, "",
            "no such file: the CSV trace " + csv.filename().string() +
                " needs its meta file for num_experts, top_k, moe_layers and the requests' "
                "prompt lengths (or give both num_experts and top_k, --num-experts and --top-k "
                "in expertcast eval, to read it without one)");
    }

    // Without a meta file and without a single readable layer the row parser reports the cause.
    if (!meta.path.empty() || !meta.shape.moe_layers.empty()) {
        try {
            meta.shape.validate();
        } catch (const ConfigError& error) {
            detail::trace_input::fail(meta.path.empty() ? csv : meta.path, 0, "", error.what());
        }
    }

    Trace trace;
    trace.source = csv.string();
    trace.format = "csv";
    trace.shape = meta.shape;
    const std::size_t recorded_cells = csv_trace::CsvTraceParser(csv, text, meta, trace).run();

    if (meta.rows && *meta.rows != recorded_cells)
        detail::trace_input::fail(
            csv, 0, "",
            "the file has " + std::to_string(recorded_cells) + " data rows but " +
                meta.path.filename().string() + " says $.rows = " + std::to_string(*meta.rows) +
                (recorded_cells < *meta.rows ? "; the file looks truncated" : ""));

    trace.notes = std::move(meta.notes);
    csv_trace::add_notes(meta, recorded_cells, trace);
    return trace;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
