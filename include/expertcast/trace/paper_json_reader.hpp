// Reads the routing traces published with arXiv:2510.05497 into a Trace: a directory of
// `<index>.json` files, one per request, each a list of steps (step 0 the prefill, then one decode
// token per step) mapping decoder-layer indices to the expert ids each token chose. The format
// records neither the expert count nor which layers are MoE layers, so both are derived from the
// data and checked to be the same in every step of every file; each problem is reported by file
// and JSON path.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <optional>
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
namespace detail::paper_json_trace {

using trace_input::describe_json_value;
using trace_input::fail;
using trace_input::json_path_index;
using trace_input::json_path_key;

/// One request's file and the request id its name gives.
struct RequestFile {
    std::int64_t id = 0;
    std::filesystem::path path;
};

/// The integer of a `<integer>.json` file name, or nothing for any other name.
inline std::optional<std::int64_t> request_id_of(const std::filesystem::path& file) {
    if (file.extension() != ".json") return std::nullopt;
    const std::string stem = file.stem().string();
    std::int64_t id = 0;
    const char* const end = stem.data() + stem.size();
    const auto [stop, error] = std::from_chars(stem.data(), end, id);
    if (stem.empty() || error != std::errc{} || stop != end || id < 0) return std::nullopt;
    return id;
}

/// Up to `shown` names, comma separated, then how many more.
inline std::string list_names(std::vector<std::string> names, std::size_t shown = 10) {
    std::sort(names.begin(), names.end());
    std::string text;
    for (std::size_t i = 0; i < names.size() && i < shown; ++i)
        text += (i == 0 ? "" : ", ") + names[i];
    if (names.size() > shown) text += " and " + std::to_string(names.size() - shown) + " more";
    return text;
}

/// The request files of a trace directory, sorted by id (so 2.json precedes 10.json).
inline std::vector<RequestFile> list_request_files(const std::filesystem::path& directory) {
    std::vector<RequestFile> files;
    std::vector<std::string> subdirectories;
    std::vector<std::filesystem::path> misnamed;
    std::error_code error;
    std::filesystem::directory_iterator it(directory, error);
    if (error) fail(directory, 0, "", "cannot list the directory: " + error.message());
    for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
        if (error) fail(directory, 0, "", "cannot list the directory: " + error.message());
        const std::filesystem::path& path = it->path();
        std::error_code type_error;
        if (it->is_directory(type_error)) {
            subdirectories.push_back(path.filename().string());
            continue;
        }
        if (!it->is_regular_file(type_error)) continue;
        if (const auto id = request_id_of(path))
            files.push_back({*id, path});
        else
            misnamed.push_back(path);
    }
    if (error) fail(directory, 0, "", "cannot list the directory: " + error.message());

    if (files.empty() && misnamed.empty() && subdirectories.empty())
        fail(directory, 0, "",
             "the directory is empty; expected one <index>.json file per request");
    if (files.empty()) {
        std::string what = "the directory has no <index>.json files; expected one per request";
        if (!subdirectories.empty())
            what +=
                ". Its subdirectories: " + list_names(subdirectories) + " (point at one of them)";
        if (!misnamed.empty()) {
            std::vector<std::string> names;
            for (const auto& file : misnamed) names.push_back(file.filename().string());
            what += ". Its files: " + list_names(std::move(names));
        }
        fail(directory, 0, "", what);
    }
    if (!misnamed.empty()) {
        std::sort(misnamed.begin(), misnamed.end());
        fail(misnamed.front(), 0, "",
             "the file name is not <integer>.json; a trace directory holds one <index>.json "
             "file per request and nothing else");
    }
    std::sort(files.begin(), files.end(), [](const RequestFile& a, const RequestFile& b) {
        return a.id != b.id ? a.id < b.id : a.path < b.path;
    });
    for (std::size_t i = 1; i < files.size(); ++i)
        if (files[i].id == files[i - 1].id)
            fail(files[i].path, 0, "",
                 "names request " + std::to_string(files[i].id) + " like " +
                     files[i - 1].path.filename().string());
    return files;
}

/// Builds a Trace one request file at a time. The first file fixes the MoE layers and k; every
/// later step of every file must agree.
class PaperTraceBuilder {
public:
    PaperTraceBuilder(Trace& trace, const TraceReadOptions& options)
        : trace_(trace), options_(options) {}

    void add_request(const RequestFile& request) {
        file_ = &request.path;
        const nlohmann::json steps = trace_input::parse_json_document(
            trace_input::read_whole_file(request.path), request.path);
        if (!steps.is_array())
            fail_at("$", "expected a list of steps, found " + describe_json_value(steps));
        if (steps.empty())
            fail_at("$", "the list of steps is empty; expected the prefill step first");

        TraceRequest entry;
        entry.id = request.id;
        entry.token_begin = trace_.num_tokens();
        for (std::size_t step = 0; step < steps.size(); ++step) {
            const std::size_t tokens = add_step(steps[step], step, entry);
            if (step == 0) entry.prompt_tokens = static_cast<std::uint32_t>(tokens);
        }
        entry.token_end = trace_.num_tokens();
        trace_.requests.push_back(entry);
    }

    /// Sets the shape once every file is read; returns whether num_experts was inferred.
    bool finish(const std::filesystem::path& source) {
        trace_.shape.moe_layers = moe_layers_;
        trace_.shape.top_k = top_k_;
        const bool inferred = !options_.num_experts;
        trace_.shape.num_experts =
            inferred ? static_cast<std::uint32_t>(largest_id_ + 1) : *options_.num_experts;
        try {
            trace_.shape.validate();
        } catch (const ConfigError& error) {
            fail(source, 0, "", error.what());
        }
        return inferred;
    }

    ExpertId largest_id() const noexcept { return largest_id_; }

private:
    [[noreturn]] void fail_at(const std::string& json_path, const std::string& what) const {
        fail(*file_, 0, json_path, what);
    }

    static std::string step_path(std::size_t step) {
        std::string path = "$";
        path += json_path_index(step);
        return path;
    }
    static std::string layer_path(std::size_t step, const std::string& key) {
        return step_path(step) + json_path_key(key);
    }

    /// Appends the tokens of one step; returns how many it has.
    std::size_t add_step(const nlohmann::json& step, std::size_t step_index,
                         TraceRequest& request) {
        if (!step.is_object())
            fail_at(step_path(step_index),
                    "expected an object mapping layer indices to routing, found " +
                        describe_json_value(step));

        // nlohmann keeps object members in key order ("10" before "9"): sort by layer index.
        step_layers_.clear();
        for (auto member = step.begin(); member != step.end(); ++member) {
            // key() refers into the parsed object, which outlives this step's StepLayers.
            const std::string& key = member.key();
            const nlohmann::json& value = member.value();
            std::uint32_t layer = 0;
            const char* const end = key.data() + key.size();
            const auto [stop, error] = std::from_chars(key.data(), end, layer);
            if (key.empty() || error != std::errc{} || stop != end)
                fail_at(layer_path(step_index, key),
                        "the key is not a decoder-layer index (a non-negative integer)");
            if (value.is_null()) continue;  // a dense layer
            if (!value.is_array())
                fail_at(layer_path(step_index, key),
                        "expected null (a dense layer) or a list of tokens, found " +
                            describe_json_value(value));
            step_layers_.push_back({layer, &key, &value});
        }
        std::sort(step_layers_.begin(), step_layers_.end(),
                  [](const StepLayer& a, const StepLayer& b) {
                      // Equal layers ("1" and "01") in key order, so the error names the later.
                      return a.layer != b.layer ? a.layer < b.layer : *a.key < *b.key;
                  });
        for (std::size_t i = 1; i < step_layers_.size(); ++i)
            if (step_layers_[i].layer == step_layers_[i - 1].layer)
                fail_at(layer_path(step_index, *step_layers_[i].key),
                        "layer " + std::to_string(step_layers_[i].layer) + " appears twice (also " +
                            json_path_key(*step_layers_[i - 1].key) + ")");
        check_moe_layers(step_index);

        const std::size_t tokens = step_layers_.front().value->size();
        for (const StepLayer& layer : step_layers_)
            if (layer.value->size() != tokens)
                fail_at(layer_path(step_index, *layer.key),
                        "has " + std::to_string(layer.value->size()) + " tokens but layer " +
                            *step_layers_.front().key + " of this step has " +
                            std::to_string(tokens));
        if (step_index == 0 && tokens == 0)
            fail_at(layer_path(0, *step_layers_.front().key), "the prefill step has no tokens");
        if (step_index > 0 && tokens != 1)
            fail_at(layer_path(step_index, *step_layers_.front().key),
                    "a decode step has " + std::to_string(tokens) + " tokens; expected exactly 1");
        if (step_index == 0 && tokens > std::numeric_limits<std::uint32_t>::max())
            fail_at(layer_path(0, *step_layers_.front().key), "the prefill is too long");

        // k comes from the first token list of the trace; check it before sizing the arrays.
        if (top_k_ == 0) check_token(step_layers_.front(), step_index, 0, nullptr);

        const std::size_t first_token = trace_.num_tokens();
        const std::size_t first_position =
            step_index == 0 ? 0 : *request.prompt_tokens + step_index - 1;
        if (first_position + tokens - 1 > std::numeric_limits<std::uint32_t>::max())
            fail_at(step_path(step_index), "the request is too long");
        for (std::size_t token = 0; token < tokens; ++token) {
            trace_.positions.push_back(static_cast<std::uint32_t>(first_position + token));
            trace_.phases.push_back(step_index == 0 ? Phase::prefill : Phase::decode);
        }
        const std::size_t num_layers = moe_layers_.size();
        trace_.experts.resize(trace_.experts.size() + tokens * num_layers * top_k_);
        for (std::size_t ordinal = 0; ordinal < num_layers; ++ordinal)
            for (std::size_t token = 0; token < tokens; ++token)
                check_token(step_layers_[ordinal], step_index, token,
                            trace_.experts.data() +
                                ((first_token + token) * num_layers + ordinal) * top_k_);
        return tokens;
    }

    /// The non-null layers of every step must be the first step's.
    void check_moe_layers(std::size_t step_index) {
        if (moe_layers_.empty()) {
            if (step_layers_.empty())
                fail_at(step_path(step_index), "every layer is null; no MoE layer to read");
            for (const StepLayer& layer : step_layers_) moe_layers_.push_back(layer.layer);
            layers_defined_by_ = file_->filename().string() + " " + step_path(step_index);
            return;
        }
        const bool same = step_layers_.size() == moe_layers_.size() &&
                          std::equal(moe_layers_.begin(), moe_layers_.end(), step_layers_.begin(),
                                     [](std::uint32_t layer, const StepLayer& here) {
                                         return layer == here.layer;
                                     });
        if (same) return;
        std::vector<std::uint32_t> here;
        for (const StepLayer& layer : step_layers_) here.push_back(layer.layer);
        std::vector<std::uint32_t> missing, extra;
        std::set_difference(moe_layers_.begin(), moe_layers_.end(), here.begin(), here.end(),
                            std::back_inserter(missing));
        std::set_difference(here.begin(), here.end(), moe_layers_.begin(), moe_layers_.end(),
                            std::back_inserter(extra));
        const std::string what = !missing.empty()
                                     ? "layer " + std::to_string(missing.front()) +
                                           " is null or absent here but a MoE layer in " +
                                           layers_defined_by_
                                     : "layer " + std::to_string(extra.front()) +
                                           " is a MoE layer here but null in " + layers_defined_by_;
        fail_at(step_path(step_index), "the MoE layers differ from the first step's: " + what);
    }

    struct StepLayer {
        std::uint32_t layer;
        const std::string* key;
        const nlohmann::json* value;
    };

    /// Checks one token's list of expert ids and copies it to `row` (when given).
    void check_token(const StepLayer& layer, std::size_t step_index, std::size_t token,
                     ExpertId* row) {
        const nlohmann::json& ids = (*layer.value)[token];
        auto token_path = [&] {
            return layer_path(step_index, *layer.key) + json_path_index(token);
        };
        if (!ids.is_array())
            fail_at(token_path(),
                    "expected a list of expert ids, found " + describe_json_value(ids));
        if (top_k_ == 0) {
            if (ids.empty()) fail_at(token_path(), "the list of expert ids is empty");
            if (options_.top_k && ids.size() != *options_.top_k)
                fail_at(token_path(), "has " + std::to_string(ids.size()) +
                                          " expert ids; expected top_k = " +
                                          std::to_string(*options_.top_k) + " (read options)");
            if (ids.size() > ModelShape::max_experts)
                fail_at(token_path(), "has " + std::to_string(ids.size()) + " expert ids");
            top_k_ = static_cast<std::uint32_t>(ids.size());
            k_defined_by_ = file_->filename().string() + " " + token_path();
        }
        if (ids.size() != top_k_)
            fail_at(token_path(), "has " + std::to_string(ids.size()) +
                                      " expert ids; expected k = " + std::to_string(top_k_) +
                                      " as in " + k_defined_by_);
        if (row == nullptr) return;

        const std::uint64_t limit =
            options_.num_experts ? *options_.num_experts : std::uint64_t{ModelShape::max_experts};
        for (std::size_t j = 0; j < top_k_; ++j) {
            const nlohmann::json& id = ids[j];
            if (!id.is_number_integer())
                fail_at(token_path() + json_path_index(j),
                        "expected an expert id (an integer), found " + describe_json_value(id));
            if (!id.is_number_unsigned())
                fail_at(token_path() + json_path_index(j),
                        "expert id " + std::to_string(id.get<std::int64_t>()) + " is negative");
            const std::uint64_t value = id.get<std::uint64_t>();
            if (value >= limit)
                fail_at(token_path() + json_path_index(j),
                        "expert id " + std::to_string(value) +
                            (options_.num_experts
                                 ? " is outside [0, " + std::to_string(limit) + ")"
                                 : " exceeds the supported maximum " + std::to_string(limit - 1)));
            row[j] = static_cast<ExpertId>(value);
            for (std::size_t i = 0; i < j; ++i)
                if (row[i] == row[j])
                    fail_at(token_path(), "expert id " + std::to_string(value) + " appears twice");
            largest_id_ = std::max(largest_id_, row[j]);
        }
    }

    Trace& trace_;
    const TraceReadOptions& options_;
    const std::filesystem::path* file_ = nullptr;  // the file being read, for messages
    std::vector<std::uint32_t> moe_layers_;        // fixed by the first step read
    std::string layers_defined_by_;
    std::uint32_t top_k_ = 0;  // 0 until the first token list is read
    std::string k_defined_by_;
    ExpertId largest_id_ = -1;
    std::vector<StepLayer> step_layers_;  // the current step's MoE layers, by layer index
};

}  // namespace detail::paper_json_trace

/// Reads a trace in the format of arXiv:2510.05497: a directory of `<index>.json` files, one per
/// request (request id = index, read in numeric order), or a single such file. Step 0 of a file
/// is the prefill (prompt_tokens = its token count, positions 0..), each later step one decode
/// token. The MoE layers are the layers with non-null routing; k is the length of the id lists.
/// The format records no weights, so the trace has none.
///
/// num_experts comes from options.num_experts (then every id is checked against it) or is
/// inferred as the largest id seen + 1, which Trace::notes then says. options.top_k, when given,
/// must equal the data's k.
///
/// Throws InputError naming the file and the JSON path (`$[3]["17"][0]`) of the first problem.
inline Trace read_paper_json_trace(const std::filesystem::path& path,
                                   const TraceReadOptions& options = {}) {
    namespace paper = detail::paper_json_trace;
    Trace trace;
    trace.source = path.string();
    trace.format = "paper-json";

    std::vector<paper::RequestFile> files;
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
        files = paper::list_request_files(path);
    } else {
        const auto id = paper::request_id_of(path);
        files.push_back({id.value_or(0), path});
        if (!id)
            trace.notes.push_back("the file name " + path.filename().string() +
                                  " is not <index>.json; the request is given id 0");
    }

    paper::PaperTraceBuilder builder(trace, options);
    for (const paper::RequestFile& file : files) builder.add_request(file);
    if (builder.finish(path))
        trace.notes.push_back("num_experts = " + std::to_string(trace.shape.num_experts) +
                              " inferred from the largest expert id (" +
                              std::to_string(builder.largest_id()) +
                              "); pass --num-experts to set it");

    const auto one_token_prefills = static_cast<std::size_t>(
        std::count_if(trace.requests.begin(), trace.requests.end(),
                      [](const TraceRequest& request) { return request.prompt_tokens == 1u; }));
    if (one_token_prefills != 0)
        trace.notes.push_back(std::to_string(one_token_prefills) +
                              " requests have a 1-token prefill (likely a prefix-cache hit); "
                              "they are replayed as recorded");
    return trace;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
