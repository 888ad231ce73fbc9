// The shared parts of the `expertcast` tool (cli.hpp).
#include "cli.hpp"

#include <unistd.h>

#include <cstdio>

#include "expertcast/core/error.hpp"

namespace expertcast_cli {

using namespace expertcast;

const char* const trace_flags_help = R"(trace overrides:
  --num-experts E          E where the trace does not say it (paper JSON: else largest id + 1)
  --top-k K                k for a CSV trace without its meta file
  --meta FILE              the meta file of a CSV trace, when not NAME.meta.json
)";

const char* const predictor_flags_help = R"(predictor options (defaults are printed with every run):
  --uniform-share U        previous-token: probability spread over all experts
  --markov-smoothing A     markov: pseudo-counts of layer popularity per transition row
  --markov-distance D      markov: transition tables for layer distances 1..D
  --markov-sharpness G     markov: 0 averages the context rows, G > 0 multiplies them
  --markov-max-horizon H   markov: deepest horizon served by chaining
  --ngram-order N          ngram: context of the previous N-1 MoE layers (2..4; 5 with
                           --ngram-previous-token off)
  --ngram-previous-token on|off
                           ngram: also condition on the sequence's previous token
  --ngram-sharpness G      ngram: 0 averages the k contexts, G > 0 multiplies them
  --ngram-memory-mb M      ngram: cap on sparse context storage
  --decay-half-life T      frequency-decay: global half-life in tokens
  --decay-sequence-half-life T
                           frequency-decay: per-sequence half-life in tokens
  --decay-sequence-prior T frequency-decay: sequence weight is n / (n + T)
  --decay-prefill-seed on|off
                           frequency-decay, alone and in the mixture: count a request's
                           prefill into its own popularity (default on)
  --match-capacity N       activation-match: finished requests kept (oldest dropped)
  --mixture-pooling linear|log-linear
                           mixture: how members are pooled
  --mixture-learning-rate R
                           mixture: step size of the weight updates
  --mixture-members LIST   mixture: its members (markov, ngram, paper-heatmap, ...)
)";

bool parse_trace_flag(std::string_view a, Arguments& args, TraceReadOptions& read) {
    if (a == "--num-experts")
        read.num_experts = parse_positive(a, args.value(a));
    else if (a == "--top-k")
        read.top_k = parse_positive(a, args.value(a));
    else if (a == "--meta")
        read.meta = std::string(args.value(a));
    else
        return false;
    return true;
}

bool parse_predictor_flag(std::string_view a, Arguments& args, PredictorOptions& o) {
    if (a == "--uniform-share") {
        o.previous_token.uniform_share = parse_number<float>(a, args.value(a));
    } else if (a == "--markov-smoothing") {
        o.markov.smoothing = parse_number<float>(a, args.value(a));
    } else if (a == "--markov-distance") {
        o.markov.max_distance = parse_positive(a, args.value(a));
    } else if (a == "--markov-sharpness") {
        o.markov.sharpness = parse_number<float>(a, args.value(a));
    } else if (a == "--markov-max-horizon") {
        o.markov.max_horizon = parse_positive(a, args.value(a));
    } else if (a == "--ngram-order") {
        o.ngram.order = parse_number<std::uint32_t>(a, args.value(a));
    } else if (a == "--ngram-previous-token") {
        o.ngram.previous_token = parse_switch(a, args.value(a));
    } else if (a == "--ngram-sharpness") {
        o.ngram.sharpness = parse_number<float>(a, args.value(a));
    } else if (a == "--ngram-memory-mb") {
        o.ngram.memory_limit_bytes = parse_number<std::size_t>(a, args.value(a)) << 20;
    } else if (a == "--decay-half-life") {
        o.frequency_decay.half_life_tokens = parse_number<float>(a, args.value(a));
    } else if (a == "--decay-sequence-half-life") {
        o.frequency_decay.sequence_half_life_tokens = parse_number<float>(a, args.value(a));
    } else if (a == "--decay-sequence-prior") {
        o.frequency_decay.sequence_prior_tokens = parse_number<float>(a, args.value(a));
    } else if (a == "--decay-prefill-seed") {
        // Also the mixture's member: what a request's prefill adds is measured with it on or off.
        const bool seed = parse_switch(a, args.value(a));
        o.frequency_decay.seed_from_prefill = seed;
        o.mixture.member_configs.frequency_decay.seed_from_prefill = seed;
    } else if (a == "--match-capacity") {
        o.activation_match.capacity = parse_positive(a, args.value(a));
    } else if (a == "--mixture-pooling") {
        const auto v = args.value(a);
        if (v == "linear")
            o.mixture.config.pooling = MixtureConfig::Pooling::linear;
        else if (v == "log-linear")
            o.mixture.config.pooling = MixtureConfig::Pooling::log_linear;
        else
            throw UsageError(fmt::format("{}: expected linear or log-linear, got '{}'", a, v));
    } else if (a == "--mixture-learning-rate") {
        o.mixture.config.learning_rate = parse_number<float>(a, args.value(a));
    } else if (a == "--mixture-members") {
        o.mixture.members = split_list(a, args.value(a));
        for (const auto& m : o.mixture.members) {
            check_predictor_name(m);
            if (m == "mixture")
                throw UsageError(fmt::format("{}: a mixture cannot hold itself", a));
        }
    } else {
        return false;
    }
    return true;
}

std::string describe_layers(const std::vector<std::uint32_t>& layers) {
    std::string out;
    for (std::size_t i = 0; i < layers.size();) {
        std::size_t j = i;
        while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
        if (!out.empty()) out += ",";
        out += j > i ? fmt::format("{}-{}", layers[i], layers[j]) : fmt::format("{}", layers[i]);
        i = j + 1;
    }
    return out;
}

void ProgressLine::update(std::size_t done, std::size_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    std::fprintf(stderr, "\r  %s: %zu / %zu (%.0f%%)", what_.c_str(), done, total,
                 total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0);
    if (done == total) std::fprintf(stderr, "\r%70s\r", "");
    std::fflush(stderr);
}

ReportFile::ReportFile(const std::optional<std::string>& path) : path_(path) {
    if (!path_) return;
    out_.open(*path_);
    if (!out_) throw Error(fmt::format("{}: cannot open for writing", *path_));
}

void ReportFile::write(const std::string& content) {
    if (!path_) return;
    out_ << content;
    out_.close();
    if (!out_) throw Error(fmt::format("{}: cannot write the report", *path_));
    fmt::print("wrote {}\n", *path_);
}

bool progress_wanted(bool quiet) {
    return !quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
}

}  // namespace expertcast_cli
