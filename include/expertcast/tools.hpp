// The offline side: trace readers, replay, fitting, evaluation and reports (needs nlohmann_json
// and fmt; link expertcast::tools). Like <expertcast/expertcast.hpp>, an umbrella that the
// library's own headers never include.
#pragma once

#include "expertcast/eval/evaluation.hpp"
#include "expertcast/eval/fit.hpp"
#include "expertcast/eval/metrics.hpp"
#include "expertcast/eval/registry.hpp"
#include "expertcast/eval/replay.hpp"
#include "expertcast/eval/report.hpp"
#include "expertcast/trace/read_trace.hpp"
#include "expertcast/trace/trace.hpp"
