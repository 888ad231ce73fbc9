// Fitting a predictor on recorded routing before serving: replay requests of a trace through it
// (in the order of eval/replay.hpp, nothing scored), then optionally freeze it so that serving
// traffic no longer changes what it learnt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "expertcast/core/predictor.hpp"
#include "expertcast/eval/replay.hpp"
#include "expertcast/trace/trace.hpp"
#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE

struct FitOptions {
    std::size_t first_request = 0;  ///< index into Trace::requests (id order)
    std::size_t end_request = std::numeric_limits<std::size_t>::max();  ///< one past the last
    bool freeze = true;  ///< set_frozen(true) afterwards
};

/// Observes requests [first_request, end_request) of `trace`, ending each request's sequence.
template <Predictor P>
void fit(P& predictor, const Trace& trace, const FitOptions& options = {}) {
    struct Visitor {
        P& predictor;
        StepBuffers buffers;
        const FitOptions& options;
        bool inside(std::size_t request) const {
            return request >= options.first_request && request < options.end_request;
        }
        void begin_request(const TraceRequest&, bool) {}
        void begin_step(const ReplayStep& step) {
            if (inside(step.request_index)) predictor.begin_step(buffers.begin(step));
        }
        void layer(const ReplayStep& step, std::uint32_t l) {
            if (inside(step.request_index)) predictor.observe(buffers.layer(step, l));
        }
        void end_step(const ReplayStep&) {}
        void end_request(const TraceRequest& request) {
            predictor.end_sequence(static_cast<SequenceId>(request.id));
        }
    } visitor{predictor, StepBuffers(trace), options};
    replay(trace, ReplayOptions{0.0}, visitor);
    if (options.freeze) predictor.set_frozen(true);
}

EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
