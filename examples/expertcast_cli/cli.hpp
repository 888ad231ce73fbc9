// What the `expertcast` tool's subcommands share: argument parsing with errors that name the flag,
// the options every subcommand accepts for traces and predictors, and progress reporting.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "expertcast/eval/registry.hpp"
#include "expertcast/trace/read_options.hpp"

namespace expertcast_cli {

/// A command-line mistake: reported with the usage hint, exit status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The arguments after the subcommand, consumed front to back.
class Arguments {
public:
    Arguments(int argc, char** argv, int first) : args_(argv + first, argv + argc) {}
    bool done() const { return next_ >= args_.size(); }
    std::string_view next() { return args_[next_++]; }
    /// The value of `flag` (the argument after it).
    std::string_view value(std::string_view flag) {
        if (done()) throw UsageError(fmt::format("{} needs a value", flag));
        return next();
    }
    bool asks_for_help() const {
        for (auto a : args_)
            if (a == "-h" || a == "--help") return true;
        return false;
    }

private:
    std::vector<std::string_view> args_;
    std::size_t next_ = 0;
};

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
    T value{};
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty())
        throw UsageError(fmt::format("{}: expected {}, got '{}'", flag,
                                     std::is_integral_v<T> ? "a non-negative integer" : "a number",
                                     text));
    return value;
}

inline std::uint32_t parse_positive(std::string_view flag, std::string_view text) {
    const auto value = parse_number<std::uint32_t>(flag, text);
    if (value == 0) throw UsageError(fmt::format("{}: must be at least 1", flag));
    return value;
}

inline bool parse_switch(std::string_view flag, std::string_view text) {
    if (text == "on" || text == "true" || text == "1") return true;
    if (text == "off" || text == "false" || text == "0") return false;
    throw UsageError(fmt::format("{}: expected on or off, got '{}'", flag, text));
}

/// The comma-separated items of `flag`'s value; an empty list or an empty item is an error.
inline std::vector<std::string> split_list(std::string_view flag, std::string_view text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = text.find(',', start);
        const std::size_t stop = comma == std::string_view::npos ? text.size() : comma;
        if (stop == start)
            throw UsageError(text.empty() ? fmt::format("{}: the list is empty", flag)
                                          : fmt::format("{}: empty item in '{}'", flag, text));
        items.emplace_back(text.substr(start, stop - start));
        start = stop + 1;
    }
    return items;
}

/// split_list, and no item twice.
inline std::vector<std::string> split_unique_list(std::string_view flag, std::string_view text) {
    std::vector<std::string> items = split_list(flag, text);
    for (auto item = items.begin(); item != items.end(); ++item)
        if (std::find(items.begin(), item, *item) != item)
            throw UsageError(fmt::format("{}: '{}' is listed twice", flag, *item));
    return items;
}

/// A warm-up fraction: in [0, 1) (1 would leave nothing to evaluate).
inline double parse_fraction(std::string_view flag, std::string_view text) {
    const auto value = parse_number<double>(flag, text);
    if (!(value >= 0.0 && value < 1.0))
        throw UsageError(fmt::format("{}: must be in [0, 1), got {}", flag, text));
    return value;
}

/// --num-experts, --top-k, --meta. Returns false when `flag` is not one of them.
bool parse_trace_flag(std::string_view flag, Arguments& args, expertcast::TraceReadOptions& read);

/// The predictor options (--markov-smoothing, --ngram-order, ...). False when not one of them.
bool parse_predictor_flag(std::string_view flag, Arguments& args,
                          expertcast::PredictorOptions& options);

/// The help text of the flags above.
extern const char* const trace_flags_help;
extern const char* const predictor_flags_help;

/// "0-23" for consecutive layers, lists otherwise (Llama-4's odd layers).
std::string describe_layers(const std::vector<std::uint32_t>& layers);

/// A one-line progress report on stderr, redrawn at most every 200 ms; silent unless enabled.
class ProgressLine {
public:
    ProgressLine(bool enabled, std::string what) : enabled_(enabled), what_(std::move(what)) {}
    void update(std::size_t done, std::size_t total);

private:
    bool enabled_;
    std::string what_;
    std::chrono::steady_clock::time_point last_{};
};

/// An output file named on the command line: opened at once (so a path that cannot be written
/// fails before a long replay), written at the end. Does nothing without a path.
class ReportFile {
public:
    explicit ReportFile(const std::optional<std::string>& path);
    /// Writes `content`, closes, says "wrote PATH"; throws expertcast::Error on failure.
    void write(const std::string& content);

private:
    std::optional<std::string> path_;
    std::ofstream out_;
};

/// True when progress lines should be drawn: stdout and stderr are terminals and not --quiet.
bool progress_wanted(bool quiet);

int run_eval(Arguments& args);
int run_tune(Arguments& args);
int run_simulate(Arguments& args);
int run_heatmap(Arguments& args);

}  // namespace expertcast_cli
