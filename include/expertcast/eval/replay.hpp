// The order in which a trace is replayed and which requests are only learnt from
// (../shared/spec/evaluation.md sections 1-2). Replay owns order and split; whoever visits it
// (the evaluation, the cache simulator, a test) sees steps and layers exactly as an engine would,
// and predictors never see the future by construction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "expertcast/core/error.hpp"
#include "expertcast/core/routing.hpp"
#include "expertcast/trace/trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

struct ReplayOptions {
    /// The first floor(f * N) requests in id order are the warm-up: only observed, never scored.
    double warmup_fraction = 0.5;

    void validate() const {
        if (!(warmup_fraction >= 0.0 && warmup_fraction <= 1.0))
            throw ConfigError("replay: warm-up fraction must be in [0, 1], got " +
                              std::to_string(warmup_fraction));
    }
};

/// Number of warm-up requests: floor(f * N). The small epsilon keeps 0.29 * 100 at 29 despite
/// binary floating point.
inline std::size_t warmup_requests(double warmup_fraction, std::size_t requests) noexcept {
    return static_cast<std::size_t>(
        std::floor(warmup_fraction * static_cast<double>(requests) + 1e-9));
}

/// One forward step of one request: its prefill (all prompt tokens together) or one decode token.
struct ReplayStep {
    std::size_t request_index = 0;  ///< into Trace::requests
    std::size_t token_begin = 0;    ///< trace token range of the step
    std::size_t token_end = 0;
    bool evaluated = false;  ///< the request is past the warm-up
    bool prefill = false;
    bool follows_earlier_step = false;  ///< an earlier step of the same request was replayed

    std::size_t num_tokens() const noexcept { return token_end - token_begin; }
};

/// End of the step that starts at token t: all of a prefill's tokens pass each layer together,
/// a decode step is one token.
inline std::size_t step_end(const Trace& trace, const TraceRequest& request,
                            std::size_t t) noexcept {
    std::size_t end = t + 1;
    if (trace.phases[t] == Phase::prefill)
        while (end < request.token_end && trace.phases[end] == Phase::prefill) ++end;
    return end;
}

/// Calls, in execution order with batch size 1:
///     visitor.begin_request(const TraceRequest&, bool evaluated)
///     for each step:  visitor.begin_step(const ReplayStep&)
///                     visitor.layer(const ReplayStep&, std::uint32_t moe_ordinal)   for l = 0..L-1
///                     visitor.end_step(const ReplayStep&)
///     visitor.end_request(const TraceRequest&)
template <class Visitor>
void replay(const Trace& trace, const ReplayOptions& options, Visitor& visitor) {
    options.validate();
    const std::size_t warmup = warmup_requests(options.warmup_fraction, trace.requests.size());
    const std::uint32_t layers = trace.shape.num_moe_layers();
    for (std::size_t r = 0; r < trace.requests.size(); ++r) {
        const TraceRequest& request = trace.requests[r];
        const bool evaluated = r >= warmup;
        visitor.begin_request(request, evaluated);
        bool follows = false;
        for (std::size_t t = request.token_begin; t < request.token_end;) {
            ReplayStep step;
            step.request_index = r;
            step.token_begin = t;
            step.evaluated = evaluated;
            step.prefill = trace.phases[t] == Phase::prefill;
            step.follows_earlier_step = follows;
            step.token_end = step_end(trace, request, t);
            visitor.begin_step(step);
            for (std::uint32_t l = 0; l < layers; ++l) visitor.layer(step, l);
            visitor.end_step(step);
            follows = true;
            t = step.token_end;
        }
        visitor.end_request(request);
    }
}

/// Number of steps replay() will visit (for progress reports).
inline std::size_t count_replay_steps(const Trace& trace) noexcept {
    std::size_t steps = 0;
    for (const TraceRequest& request : trace.requests)
        for (std::size_t t = request.token_begin; t < request.token_end; ++steps)
            t = step_end(trace, request, t);
    return steps;
}

/// A replayed step in the engine's shapes: the TokenBatch of its tokens (sequence id = request
/// id) and, per layer, the LayerRouting a router would hand over. Buffers are reused across steps.
class StepBuffers {
public:
    explicit StepBuffers(const Trace& trace) : trace_(trace) {}

    TokenBatch begin(const ReplayStep& step) {
        const std::size_t n = step.num_tokens();
        const auto id = static_cast<SequenceId>(trace_.requests[step.request_index].id);
        sequences_.assign(n, id);
        phases_.assign(trace_.phases.begin() + static_cast<std::ptrdiff_t>(step.token_begin),
                       trace_.phases.begin() + static_cast<std::ptrdiff_t>(step.token_end));
        return {sequences_, phases_};
    }

    LayerRouting layer(const ReplayStep& step, std::uint32_t l) {
        const std::size_t k = trace_.shape.top_k;
        experts_.resize(step.num_tokens() * k);
        weights_.resize(trace_.has_weights() ? step.num_tokens() * k : 0);
        for (std::size_t t = 0; t < step.num_tokens(); ++t) {
            auto row = trace_.row(step.token_begin + t, l);
            std::copy(row.begin(), row.end(),
                      experts_.begin() + static_cast<std::ptrdiff_t>(t * k));
            auto w = trace_.weight_row(step.token_begin + t, l);
            std::copy(w.begin(), w.end(), weights_.begin() + static_cast<std::ptrdiff_t>(t * k));
        }
        return {l, experts_, weights_};
    }

private:
    const Trace& trace_;
    std::vector<SequenceId> sequences_;
    std::vector<Phase> phases_;
    std::vector<ExpertId> experts_;
    std::vector<float> weights_;
};

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
