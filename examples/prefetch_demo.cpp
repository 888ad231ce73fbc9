// A mock inference engine replaying a recorded trace, to see end to end what forecasting buys:
// each MoE layer "computes" for a fixed time, its experts must sit in one of a few device slots
// first, and a background thread copies expert weights (dummy bytes) from host memory at a set
// bandwidth. The same tokens run twice: on demand (a layer waits for the copies of the experts it
// lacks) and predicted (after each router, expertcast forecasts the next layer and the planner's
// copies overlap this layer's compute). Runs with no arguments on the bundled trace.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <expertcast/eval/replay.hpp>
#include <expertcast/expertcast.hpp>
#include <expertcast/prefetch/planner.hpp>
#include <expertcast/trace/read_trace.hpp>

using namespace expertcast;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view usage_text = R"(usage: prefetch_demo [TRACE] [options]

Replays TRACE (default: the bundled gpt-oss-20b subset) through a mock engine with 2k device
slots per MoE layer, first loading experts on demand, then prefetching them with expertcast's
mixture predictor and PrefetchPlanner. The first half of the requests only warms the predictor.

options:
  --layer-compute-ms T   time one MoE layer computes, the prefetch window (default 0.2)
  --bandwidth-gbps B     host-to-device link, GB/s (default 2)
  --expert-mib S         bytes of one expert, MiB (default 0.25)
  --requests N           requests timed after the warm-up (default 2)
)";

struct Options {
    std::string trace = EXPERTCAST_SOURCE_DIR "/examples/data/gpt-oss-20b-subset.csv";
    double layer_compute_ms = 0.2;
    double bandwidth_gbps = 2.0;
    double expert_mib = 0.25;
    std::size_t requests = 2;
    bool help = false;

    double layer_compute_s() const { return layer_compute_ms * 1e-3; }
    double bandwidth() const { return bandwidth_gbps * 1e9; }
    std::size_t expert_bytes() const {
        return static_cast<std::size_t>(std::llround(expert_mib * 1024 * 1024));
    }
};

template <class T>
T parse_number(std::string_view flag, std::string_view text, bool zero_allowed) {
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    const bool ok = error == std::errc{} && end == text.data() + text.size() &&
                    std::isfinite(static_cast<double>(value)) &&
                    (value > T{0} || (zero_allowed && value == T{0}));
    if (!ok)
        throw ConfigError(std::string(flag) + " expects a " +
                          (zero_allowed ? "non-negative" : "positive") + " number, got '" +
                          std::string(text) + "'");
    return value;
}

Options parse_options(int argc, char** argv) {
    Options o;
    bool trace_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            o.help = true;
        } else if (arg.starts_with("-")) {
            if (i + 1 == argc) throw ConfigError(std::string(arg) + " needs a value");
            const std::string_view value = argv[++i];
            if (arg == "--layer-compute-ms")
                o.layer_compute_ms = parse_number<double>(arg, value, true);
            else if (arg == "--bandwidth-gbps")
                o.bandwidth_gbps = parse_number<double>(arg, value, false);
            else if (arg == "--expert-mib")
                o.expert_mib = parse_number<double>(arg, value, false);
            else if (arg == "--requests")
                o.requests = parse_number<std::size_t>(arg, value, false);
            else
                throw ConfigError("unknown option " + std::string(arg));
        } else if (!trace_given) {
            o.trace = arg;
            trace_given = true;
        } else {
            throw ConfigError("unexpected argument '" + std::string(arg) + "' (one trace only)");
        }
    }
    // Each buffer starts with a tag naming its expert (see HostExperts).
    if (o.expert_bytes() < sizeof(std::uint64_t))
        throw ConfigError("--expert-mib is too small for an expert's 8-byte tag");
    return o;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

Clock::duration duration(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Waits until `t`, to within microseconds. A sleep overshoots by up to a tenth of a millisecond
// on a busy or virtual machine, as long as a copy here takes, so only the long part is slept.
void wait_until(Clock::time_point t) {
    constexpr auto slack = std::chrono::microseconds(300);
    if (t - Clock::now() > slack) std::this_thread::sleep_until(t - slack);
    while (Clock::now() < t) std::this_thread::yield();
}

// The host-to-device link: one thread serving copies in order, as a DMA engine on a copy stream
// does. A copy is a memcpy, then a wait until the time the link's bandwidth would have taken.
// Tickets number the copies; the engine waits for a ticket to know a slot's bytes have landed.
class CopyLink {
public:
    explicit CopyLink(double bandwidth) : bandwidth_(bandwidth), thread_([this] { serve(); }) {}
    ~CopyLink() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();  // copies still queued are dropped: nobody waits for them any more
    }
    CopyLink(const CopyLink&) = delete;
    CopyLink& operator=(const CopyLink&) = delete;

    std::uint64_t enqueue(std::span<const std::byte> from, std::span<std::byte> to) {
        std::uint64_t ticket = 0;
        {
            std::lock_guard lock(mutex_);
            ticket = ++issued_;
            queue_.push_back({from, to, ticket, Clock::now()});
        }
        wake_.notify_one();
        return ticket;
    }
    bool landed(std::uint64_t ticket) const {
        return landed_.load(std::memory_order_acquire) >= ticket;
    }
    // Spins a while before blocking, as CUDA's default synchronisation does: waking a blocked
    // thread takes some 50 microseconds on a virtual machine, a good part of one copy here.
    void wait(std::uint64_t ticket) {
        const auto spin_until = Clock::now() + std::chrono::milliseconds(1);
        while (!landed(ticket)) {
            if (Clock::now() > spin_until) {
                std::unique_lock lock(mutex_);
                done_.wait(lock, [&] { return landed(ticket); });
                return;
            }
            std::this_thread::yield();
        }
    }

private:
    struct Copy {
        std::span<const std::byte> from;
        std::span<std::byte> to;
        std::uint64_t ticket = 0;
        Clock::time_point issued;
    };

    void serve() {
        Clock::time_point link_free = Clock::now();
        for (;;) {
            Copy copy;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                if (stopping_) return;
                copy = queue_.front();
                queue_.pop_front();
            }
            std::memcpy(copy.to.data(), copy.from.data(), copy.from.size());
            // A copy starts when it is issued and the link is free; timing from those (not from
            // when this thread woke up) keeps sleep overshoot from adding up over a backlog.
            link_free = std::max(copy.issued, link_free) +
                        duration(static_cast<double>(copy.from.size()) / bandwidth_);
            wait_until(link_free);
            {
                std::lock_guard lock(mutex_);
                landed_.store(copy.ticket, std::memory_order_release);
            }
            done_.notify_all();
        }
    }

    double bandwidth_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::deque<Copy> queue_;
    std::uint64_t issued_ = 0;
    std::atomic<std::uint64_t> landed_{0};  // written under mutex_, so that wait() misses nothing
    bool stopping_ = false;
    std::thread thread_;  // last: it starts once the members it uses exist
};

std::uint64_t expert_tag(std::uint32_t layer, ExpertId e) {
    return (std::uint64_t{layer} << 32) | static_cast<std::uint32_t>(e);
}

// Every expert's weights in host memory, the source of all copies: dummy bytes, led by a tag
// naming the layer and expert so that the engine can check what a device slot really holds.
class HostExperts {
public:
    HostExperts(const ModelShape& shape, std::size_t expert_bytes)
        : experts_(shape.num_experts),
          bytes_(expert_bytes),
          data_(std::size_t{shape.num_moe_layers()} * experts_ * bytes_) {
        for (std::uint32_t l = 0; l < shape.num_moe_layers(); ++l)
            for (std::uint32_t e = 0; e < experts_; ++e) {
                std::byte* p = data_.data() + (std::size_t{l} * experts_ + e) * bytes_;
                std::memset(p, static_cast<int>((l * 31 + e) & 0xff), bytes_);
                const std::uint64_t tag = expert_tag(l, static_cast<ExpertId>(e));
                std::memcpy(p, &tag, sizeof tag);
            }
    }
    std::span<const std::byte> expert(std::uint32_t layer, ExpertId e) const {
        return {
            data_.data() + (std::size_t{layer} * experts_ + static_cast<std::size_t>(e)) * bytes_,
            bytes_};
    }

private:
    std::uint32_t experts_;
    std::size_t bytes_;
    std::vector<std::byte> data_;
};

struct ModeResult {
    std::size_t tokens = 0;
    std::size_t hits = 0;       // resident and landed when the layer started
    std::size_t in_flight = 0;  // prefetched, but the layer waited for the copy to land
    std::size_t misses = 0;     // not resident: copied on demand
    std::size_t copies = 0;     // all copies issued, prefetches included
    double stall_s = 0;
    double wall_s = 0;
};

// The engine's side: per MoE layer, C device slots of expert_bytes each. With a predictor it
// prefetches; without one it loads on demand only. Either way a needed expert that is missing is
// copied on demand into the least recently used slot, and the layer waits for it.
class MockEngine {
public:
    MockEngine(const ModelShape& shape, const HostExperts& host, const Options& options,
               MixturePredictor* predictor)
        : shape_(shape),
          host_(host),
          options_(options),
          predictor_(predictor),
          slots_per_layer_(std::min(2 * shape.top_k, shape.num_experts)),
          planner_(shape.num_experts, slots_per_layer_),
          needed_(shape.num_experts),
          wanted_(shape.num_experts, 0),
          pinned_(slots_per_layer_, 0),
          slot_expert_(std::size_t{shape.num_moe_layers()} * slots_per_layer_, not_recorded),
          slot_ticket_(slot_expert_.size(), 0),
          slot_used_(slot_expert_.size(), 0),
          device_(slot_expert_.size() * options.expert_bytes()),
          link_(options.bandwidth()) {}

    const ModeResult& result() const { return result_; }

    void begin_step(const TokenBatch& batch) {
        if (!predictor_) return;
        predictor_->begin_step(batch);
        per_token_.resize(batch.size() * shape_.num_experts);
    }

    // A warm-up step's layer: the predictor learns (and forecasts, so that the mixture's weights
    // learn too), nothing is loaded or timed.
    void learn_layer(const LayerRouting& routing) {
        predictor_->observe(routing);
        if (routing.layer + 1 < shape_.num_moe_layers())
            forecast_batch(*predictor_, ForecastTarget::next_layer(routing.layer + 1), per_token_,
                           needed_);
    }

    void run_layer(const LayerRouting& routing, std::size_t tokens) {
        const std::uint32_t l = routing.layer;
        collect_experts(routing, tokens);
        // A prefill step can need more experts than the layer has slots: serve them in groups.
        for (std::size_t i = 0; i < experts_.size(); i += slots_per_layer_)
            serve(l, std::span(experts_).subspan(
                         i, std::min<std::size_t>(slots_per_layer_, experts_.size() - i)));
        if (predictor_) {
            predictor_->observe(routing);
            // Layer 0 has no earlier layer in the step to hide its copies behind: on demand.
            if (l + 1 < shape_.num_moe_layers()) prefetch(l + 1);
        }
        wait_until(Clock::now() + duration(options_.layer_compute_s()));  // the layer computes
    }

    void end_step(std::size_t tokens, Clock::duration wall) {
        result_.tokens += tokens;
        result_.wall_s += seconds(wall);
    }

    void end_sequence(SequenceId sequence) {
        if (predictor_) predictor_->end_sequence(sequence);
    }

private:
    std::size_t slot_index(std::uint32_t layer, std::uint32_t slot) const {
        return std::size_t{layer} * slots_per_layer_ + slot;
    }
    std::span<std::byte> slot_bytes(std::size_t index) {
        const std::size_t bytes = options_.expert_bytes();
        return {device_.data() + index * bytes, bytes};
    }
    std::uint64_t load(std::uint32_t layer, std::uint32_t slot, ExpertId e) {
        const std::size_t i = slot_index(layer, slot);
        slot_expert_[i] = e;
        slot_ticket_[i] = link_.enqueue(host_.expert(layer, e), slot_bytes(i));
        slot_used_[i] = ++clock_;  // a fresh load is not the first thing to evict
        ++result_.copies;
        return slot_ticket_[i];
    }

    // The distinct experts the step's tokens picked at this layer.
    void collect_experts(const LayerRouting& routing, std::size_t tokens) {
        experts_.clear();
        for (std::size_t t = 0; t < tokens; ++t)
            for (const ExpertId e : routing.row(t, shape_.top_k)) {
                std::uint8_t& seen = wanted_[static_cast<std::size_t>(e)];
                if (!seen) experts_.push_back(e);
                seen = 1;
            }
        for (const ExpertId e : experts_) wanted_[static_cast<std::size_t>(e)] = 0;
    }

    // Makes `group` resident in layer l's slots and waits until all of it has landed.
    void serve(std::uint32_t l, std::span<const ExpertId> group) {
        const auto start = Clock::now();
        std::fill(pinned_.begin(), pinned_.end(), std::uint8_t{0});
        std::uint64_t last_ticket = 0;
        for (const ExpertId e : group) {
            std::uint32_t s = 0;
            while (s < slots_per_layer_ && slot_expert_[slot_index(l, s)] != e) ++s;
            if (s < slots_per_layer_) {
                const std::uint64_t ticket = slot_ticket_[slot_index(l, s)];
                ++(link_.landed(ticket) ? result_.hits : result_.in_flight);
                last_ticket = std::max(last_ticket, ticket);
            } else {
                ++result_.misses;
                s = least_recently_used(l);
                last_ticket = std::max(last_ticket, load(l, s, e));
            }
            pinned_[s] = 1;
            slot_used_[slot_index(l, s)] = ++clock_;
        }
        // Copies land in order: the last one covers all. The stall counts from the router's
        // answer, issuing the copies included.
        if (!link_.landed(last_ticket)) {
            link_.wait(last_ticket);
            result_.stall_s += seconds(Clock::now() - start);
        }
        // What compute would read: every slot must now hold the expert the table says.
        for (std::uint32_t s = 0; s < slots_per_layer_; ++s) {
            if (!pinned_[s]) continue;
            const std::size_t i = slot_index(l, s);
            std::uint64_t tag = 0;
            std::memcpy(&tag, slot_bytes(i).data(), sizeof tag);
            if (tag != expert_tag(l, slot_expert_[i]))
                throw std::logic_error("slot " + std::to_string(s) + " of layer " +
                                       std::to_string(l) + " does not hold expert " +
                                       std::to_string(slot_expert_[i]));
        }
    }

    std::uint32_t least_recently_used(std::uint32_t l) const {
        std::uint32_t best = slots_per_layer_;
        for (std::uint32_t s = 0; s < slots_per_layer_; ++s)
            if (!pinned_[s] && (best == slots_per_layer_ ||
                                slot_used_[slot_index(l, s)] < slot_used_[slot_index(l, best)]))
                best = s;
        return best;  // a group never exceeds the slots, so some slot is unpinned
    }

    // Forecast layer `next` from this layer's routing and queue the planner's copies for it; the
    // engine does not wait for them, they overlap this layer's compute.
    void prefetch(std::uint32_t next) {
        forecast_batch(*predictor_, ForecastTarget::next_layer(next), per_token_, needed_);
        const auto budget = PrefetchBudget::window(options_.layer_compute_s(), options_.bandwidth(),
                                                   static_cast<double>(options_.expert_bytes()));
        const std::span<const ExpertId> slots(slot_expert_.data() + slot_index(next, 0),
                                              slots_per_layer_);
        for (const PrefetchAction& a : planner_.plan(needed_, slots, budget))
            load(next, a.slot, a.load);
    }

    const ModelShape& shape_;
    const HostExperts& host_;
    const Options& options_;
    MixturePredictor* predictor_;
    std::uint32_t slots_per_layer_;
    PrefetchPlanner planner_;
    std::vector<float> per_token_, needed_;
    std::vector<ExpertId> experts_;
    std::vector<std::uint8_t> wanted_, pinned_;
    // Per (layer, slot): the expert it holds or is being loaded with, the ticket of that copy,
    // and when it was last used.
    std::vector<ExpertId> slot_expert_;
    std::vector<std::uint64_t> slot_ticket_, slot_used_;
    std::uint64_t clock_ = 0;
    std::vector<std::byte> device_;
    ModeResult result_;
    CopyLink link_;  // last: joined before the device buffers it writes into go away
};

// Drives the engine in replay order: warm-up requests only teach the predictor (when there is
// one), then the first `timed` evaluated requests run through the engine, the rest are skipped.
struct EngineVisitor {
    const Trace& trace;
    MockEngine& engine;
    bool learns;
    std::size_t timed;
    StepBuffers buffers{trace};
    std::size_t evaluated_seen = 0;
    enum class Role { skip, learn, run } role = Role::skip;
    Clock::time_point step_start{};

    void begin_request(const TraceRequest&, bool evaluated) {
        if (evaluated)
            role = ++evaluated_seen <= timed ? Role::run : Role::skip;
        else
            role = learns ? Role::learn : Role::skip;
    }
    void begin_step(const ReplayStep& step) {
        if (role == Role::skip) return;
        step_start = Clock::now();
        engine.begin_step(buffers.begin(step));
    }
    void layer(const ReplayStep& step, std::uint32_t l) {
        if (role == Role::skip) return;
        const LayerRouting routing = buffers.layer(step, l);
        if (role == Role::learn)
            engine.learn_layer(routing);
        else
            engine.run_layer(routing, step.num_tokens());
    }
    void end_step(const ReplayStep& step) {
        if (role == Role::run) engine.end_step(step.num_tokens(), Clock::now() - step_start);
    }
    void end_request(const TraceRequest& request) {
        if (role != Role::skip) engine.end_sequence(static_cast<SequenceId>(request.id));
    }
};

ModeResult run_mode(const Trace& trace, const HostExperts& host, const Options& options,
                    MixturePredictor* predictor) {
    MockEngine engine(trace.shape, host, options, predictor);
    EngineVisitor visitor{trace, engine, predictor != nullptr, options.requests};
    replay(trace, ReplayOptions{0.5}, visitor);
    return engine.result();
}

void print_row(const char* mode, const ModeResult& r) {
    const double tokens = static_cast<double>(std::max<std::size_t>(r.tokens, 1));
    std::printf("%-10s %7zu %8zu %10zu %7zu %7zu %8.3f %9.3f\n", mode, r.tokens, r.hits,
                r.in_flight, r.misses, r.copies, r.stall_s, 1e3 * r.wall_s / tokens);
}

int run(const Options& options) {
    const Trace trace = read_trace(options.trace);
    const ModelShape& shape = trace.shape;
    const std::size_t warmup = warmup_requests(0.5, trace.requests.size());
    const std::size_t timed = std::min(options.requests, trace.requests.size() - warmup);
    if (timed == 0)
        throw InputError(options.trace, 0, "", "no request is left to time after the warm-up half");
    const std::size_t slots = std::min(2 * shape.top_k, shape.num_experts);
    const double load_s = static_cast<double>(options.expert_bytes()) / options.bandwidth();

    std::printf("prefetch_demo: %s\n", options.trace.c_str());
    std::printf("  %zu requests: %zu warm up the predictor, the next %zu are timed\n",
                trace.requests.size(), warmup, timed);
    std::printf("  %u MoE layers x %u experts, top-%u; %zu device slots per layer\n",
                shape.num_moe_layers(), shape.num_experts, shape.top_k, slots);
    std::printf(
        "  --layer-compute-ms %g --bandwidth-gbps %g --expert-mib %g --requests %zu"
        " (see --help)\n",
        options.layer_compute_ms, options.bandwidth_gbps, options.expert_mib, options.requests);
    std::printf("  one expert copy takes %.3f ms; a layer's compute hides %.2f copies\n",
                1e3 * load_s, options.layer_compute_s() / load_s);
    std::printf("  host memory holding every expert: %.0f MiB\n",
                static_cast<double>(options.expert_bytes()) * shape.num_moe_layers() *
                    shape.num_experts / (1024 * 1024));

    const HostExperts host(shape, options.expert_bytes());
    const ModeResult on_demand = run_mode(trace, host, options, nullptr);
    MixturePredictor predictor = make_mixture(shape);
    const ModeResult predicted = run_mode(trace, host, options, &predictor);

    std::printf("\n%-10s %7s %8s %10s %7s %7s %8s %9s\n", "mode", "tokens", "hits", "in flight",
                "misses", "copies", "stall s", "ms/token");
    print_row("on-demand", on_demand);
    print_row("predicted", predicted);
    const double on_demand_per_token = on_demand.wall_s / static_cast<double>(on_demand.tokens);
    const double predicted_per_token = predicted.wall_s / static_cast<double>(predicted.tokens);
    std::printf("\nspeedup of predicted over on-demand: %.2fx (wall time per token)\n",
                on_demand_per_token / predicted_per_token);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options options = parse_options(argc, argv);
        if (options.help) {
            std::fputs(usage_text.data(), stdout);
            return 0;
        }
        return run(options);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "prefetch_demo: %s (see --help)\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "prefetch_demo: %s\n", e.what());
    }
    return 1;
}
