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

/// One forward step of a batched replay: the steps of the B requests it carries, side by side
/// (continuous batching). With batch size 1 it holds one ReplayStep.
struct BatchStep {
    std::span<const ReplayStep> parts;
    std::size_t index = 0;  ///< forward steps replayed before this one

    bool any_evaluated() const noexcept {
        for (const ReplayStep& p : parts)
            if (p.evaluated) return true;
        return false;
    }
    std::size_t num_tokens() const noexcept {
        std::size_t n = 0;
        for (const ReplayStep& p : parts) n += p.num_tokens();
        return n;
    }
};

/// Replays with B requests in flight, interleaved step by step as a serving engine's continuous
/// batching does (../shared/spec/evaluation.md section 5): requests join in id order, each
/// forward step carries the next step (its prefill, or one decode token) of every request in
/// flight, and a finished request is replaced by the next at the following step. Calls
///     visitor.begin_request(const TraceRequest&, bool evaluated)    when a request joins
///     visitor.begin_step(const BatchStep&)
///     visitor.layer(const BatchStep&, std::uint32_t moe_ordinal)     for l = 0..L-1
///     visitor.end_step(const BatchStep&)
///     visitor.end_request(const TraceRequest&)                       when it finishes
/// With batch 1 the order is exactly replay()'s.
template <class Visitor>
void replay_batched(const Trace& trace, const ReplayOptions& options, std::size_t batch,
                    Visitor& visitor) {
    options.validate();
    if (batch == 0) throw ConfigError("replay: batch size must be at least 1");
    const std::size_t warmup = warmup_requests(options.warmup_fraction, trace.requests.size());
    const std::uint32_t layers = trace.shape.num_moe_layers();
    struct Lane {
        std::size_t request;
        std::size_t next_token;
        bool follows;
    };
    std::vector<Lane> lanes;
    std::vector<ReplayStep> parts;
    std::size_t next_request = 0;
    for (std::size_t index = 0;; ++index) {
        while (lanes.size() < batch && next_request < trace.requests.size()) {
            const TraceRequest& request = trace.requests[next_request];
            visitor.begin_request(request, next_request >= warmup);
            if (request.token_begin == request.token_end) {  // nothing recorded: nothing to run
                visitor.end_request(request);
            } else {
                lanes.push_back({next_request, request.token_begin, false});
            }
            ++next_request;
        }
        if (lanes.empty()) break;
        parts.clear();
        for (const Lane& lane : lanes) {
            const TraceRequest& request = trace.requests[lane.request];
            ReplayStep step;
            step.request_index = lane.request;
            step.token_begin = lane.next_token;
            step.token_end = step_end(trace, request, lane.next_token);
            step.evaluated = lane.request >= warmup;
            step.prefill = trace.phases[lane.next_token] == Phase::prefill;
            step.follows_earlier_step = lane.follows;
            parts.push_back(step);
        }
        const BatchStep step{parts, index};
        visitor.begin_step(step);
        for (std::uint32_t l = 0; l < layers; ++l) visitor.layer(step, l);
        visitor.end_step(step);
        std::size_t kept = 0;
        for (std::size_t i = 0; i < lanes.size(); ++i) {
            Lane lane = lanes[i];
            lane.next_token = parts[i].token_end;
            lane.follows = true;
            if (lane.next_token == trace.requests[lane.request].token_end)
                visitor.end_request(trace.requests[lane.request]);
            else
                lanes[kept++] = lane;
        }
        lanes.resize(kept);
    }
}

/// A replayed step in the engine's shapes: the TokenBatch of its tokens (sequence id = request
/// id) and, per layer, the LayerRouting a router would hand over. Buffers are reused across steps.
class StepBuffers {
public:
    explicit StepBuffers(const Trace& trace) : trace_(trace) {}

    TokenBatch begin(const ReplayStep& step) {
        return begin(std::span<const ReplayStep>(&step, 1));
    }
    LayerRouting layer(const ReplayStep& step, std::uint32_t l) {
        return layer(std::span<const ReplayStep>(&step, 1), l);
    }

    /// The tokens of several requests' steps, in order.
    TokenBatch begin(std::span<const ReplayStep> parts) {
        sequences_.clear();
        phases_.clear();
        for (const ReplayStep& step : parts) {
            const auto id = static_cast<SequenceId>(trace_.requests[step.request_index].id);
            sequences_.insert(sequences_.end(), step.num_tokens(), id);
            phases_.insert(phases_.end(),
                           trace_.phases.begin() + static_cast<std::ptrdiff_t>(step.token_begin),
                           trace_.phases.begin() + static_cast<std::ptrdiff_t>(step.token_end));
        }
        return {sequences_, phases_};
    }

    LayerRouting layer(std::span<const ReplayStep> parts, std::uint32_t l) {
        experts_.clear();
        weights_.clear();
        for (const ReplayStep& step : parts)
            for (std::size_t t = step.token_begin; t < step.token_end; ++t) {
                auto row = trace_.row(t, l);
                experts_.insert(experts_.end(), row.begin(), row.end());
                auto w = trace_.weight_row(t, l);
                weights_.insert(weights_.end(), w.begin(), w.end());
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
