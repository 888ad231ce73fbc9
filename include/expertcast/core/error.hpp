// The library's exceptions. Errors are raised only where data enters (trace readers, configuration,
// loading saved state); the per-token hot path never throws.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

/// Base of every exception expertcast throws.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A configuration value (a predictor option, a model shape, a command-line flag) is invalid.
class ConfigError : public Error {
public:
    using Error::Error;
};

/// Input data is malformed. The message names the file, the line (or JSON path) and the field;
/// the parts are also available separately for programs that want to point at them.
class InputError : public Error {
public:
    InputError(std::string file, std::size_t line, std::string field, const std::string& what)
        : Error(compose(file, line, field, what)),
          file_(std::move(file)),
          line_(line),
          field_(std::move(field)) {}

    const std::string& file() const noexcept { return file_; }
    /// 1-based line number, or 0 where the location is a JSON path (then in field()).
    std::size_t line() const noexcept { return line_; }
    const std::string& field() const noexcept { return field_; }

private:
    static std::string compose(const std::string& file, std::size_t line, const std::string& field,
                               const std::string& what) {
        std::string message = file;
        if (line != 0) message += ":" + std::to_string(line);
        if (!field.empty()) message += ": " + field;
        message += ": " + what;
        return message;
    }

    std::string file_;
    std::size_t line_;
    std::string field_;
};

/// `value` after value.validate() (which throws): lets constructors check a shape or a config in
/// their member-initialiser list.
template <class T>
T validated(T value) {
    value.validate();
    return value;
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
