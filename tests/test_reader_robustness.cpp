// The readers against damaged files: seeded random damage (bytes replaced, ranges cut or repeated,
// files truncated, huge numbers) to a small valid CSV trace, its meta file and a paper JSON
// request. Whatever the damage, a reader either returns a trace that keeps the trace invariants
// or throws InputError naming the damaged file; never another exception, a crash (the sanitizer
// job runs this too) or a hang. Deterministic: the same mutants every run.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "expertcast/trace/read_trace.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using expertcast::ExpertId;
using expertcast::InputError;
using expertcast::Trace;
using expertcast_test::TempDir;

// E = 8, k = 2, MoE decoder layers 1 and 3; request 5 has a 2-token prompt.
const std::string csv_meta = R"({
  "num_experts": 8, "top_k": 2, "moe_layers": [1, 3], "rows": 8,
  "requests": [{"id": 5, "prompt_tokens": 2}, {"id": 9, "prompt_tokens": null}]
})";
const std::string csv_rows =
    "request,token,layer,experts,weights\n"
    "5,0,1,0 1,0.75 0.25\n"
    "5,0,3,2 3,0.5 0.5\n"
    "5,1,1,4 5,0.625 0.375\n"
    "5,1,3,6 7,1 0\n"
    "5,2,1,7 6,0.875 0.125\n"
    "5,2,3,1 2,0.5 0.5\n"
    "9,0,1,3 4,0.25 0.75\n"
    "9,0,3,5 0,0.5 0.5\n";
// Decoder layer 0 dense, layers 1 and 3 MoE, k = 2: a 2-token prefill and one decode step.
const std::string json_request = R"([
  {"0": null, "1": [[0, 1], [2, 3]], "3": [[4, 5], [6, 7]]},
  {"0": null, "1": [[7, 6]], "3": [[5, 4]]}
])";

/// One to three random edits of `text`.
std::string damage(std::string text, std::mt19937& rng) {
    static const std::string alphabet = "0123456789 ,.-\n\"[]{}:e\tnul";
    auto below = [&rng](std::size_t n) {
        return n == 0 ? std::size_t{0} : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    const std::size_t edits = 1 + below(3);
    for (std::size_t i = 0; i < edits; ++i) {
        const std::size_t at = below(text.size() + 1);
        switch (below(7)) {
            case 0:  // replace a byte
                if (at < text.size()) text[at] = alphabet[below(alphabet.size())];
                break;
            case 1:  // cut a range
                text.erase(std::min(at, text.size()), 1 + below(12));
                break;
            case 2:  // repeat a range
                text.insert(at, text.substr(below(text.size()), 1 + below(24)));
                break;
            case 3:  // truncate
                text.resize(at);
                break;
            case 4:  // a number no field can hold
                text.insert(at, below(2) ? "99999999999999999999" : "-4294967297");
                break;
            case 5:  // a byte outside ASCII, or a NUL
                text.insert(at, 1, below(2) ? '\xff' : '\0');
                break;
            default:  // a separator
                text.insert(at, 1, alphabet[10 + below(4)]);
                break;
        }
    }
    return text;
}

/// What a trace that was read must satisfy, whatever its file looked like.
void check_invariants(const Trace& t) {
    const std::size_t L = t.shape.num_moe_layers(), k = t.shape.top_k;
    REQUIRE(k >= 1);
    REQUIRE(k <= t.shape.num_experts);
    REQUIRE(t.experts.size() == t.num_tokens() * L * k);
    REQUIRE(t.phases.size() == t.num_tokens());
    REQUIRE((t.weights.empty() || t.weights.size() == t.experts.size()));
    std::size_t next = 0;
    for (const auto& r : t.requests) {
        REQUIRE(r.token_begin == next);
        REQUIRE(r.token_end >= r.token_begin);
        next = r.token_end;
    }
    REQUIRE(next == t.num_tokens());
    for (std::size_t cell = 0; cell < t.num_tokens() * L; ++cell) {
        const ExpertId* row = t.experts.data() + cell * k;
        if (row[0] == expertcast::not_recorded) continue;
        for (std::size_t j = 0; j < k; ++j) {
            REQUIRE(row[j] >= 0);
            REQUIRE(static_cast<std::uint32_t>(row[j]) < t.shape.num_experts);
            for (std::size_t i = 0; i < j; ++i) REQUIRE(row[i] != row[j]);
        }
    }
}

struct Outcome {
    std::size_t read = 0, refused = 0;
};

/// Reads `path` and checks the outcome: a refusal must name one of `files` (damage to a meta file
/// can surface as a row that no longer fits it), in its message too.
void read_damaged(const fs::path& path, const std::vector<fs::path>& files, Outcome& outcome) {
    try {
        const Trace t = expertcast::read_trace(path);
        check_invariants(t);
        ++outcome.read;
    } catch (const InputError& error) {
        INFO(error.what());
        bool named = false;
        for (const auto& f : files) named = named || error.file() == f.string();
        CHECK(named);
        CHECK(std::string(error.what()).find(fs::path(error.file()).filename().string()) !=
              std::string::npos);
        ++outcome.refused;
    }
}

}  // namespace

TEST_CASE("the CSV reader refuses or survives every damaged trace and meta file", "[reader]") {
    std::mt19937 rng(20261203);
    Outcome outcome;
    for (int i = 0; i < 3000; ++i) {
        TempDir dir;
        const bool meta = i % 3 == 0;
        const std::string rows = meta ? csv_rows : damage(csv_rows, rng);
        const std::string meta_text = meta ? damage(csv_meta, rng) : csv_meta;
        const fs::path csv = dir.write("trace.csv", rows);
        const fs::path meta_file = dir.write("trace.meta.json", meta_text);
        INFO("mutant " << i << (meta ? " (meta)" : " (rows)") << ":\n"
                       << (meta ? meta_text : rows));
        read_damaged(csv, meta ? std::vector{meta_file, csv} : std::vector{csv}, outcome);
    }
    // Most damage is caught; some leaves a valid trace (a weight digit changed, say).
    CHECK(outcome.refused > 1500);
    CHECK(outcome.read + outcome.refused == 3000);
}

TEST_CASE("the paper JSON reader refuses or survives every damaged request file", "[reader]") {
    std::mt19937 rng(31122026);
    Outcome outcome;
    for (int i = 0; i < 2000; ++i) {
        TempDir dir;
        const std::string text = damage(json_request, rng);
        const fs::path file = dir.write("0.json", text);
        INFO("mutant " << i << ":\n" << text);
        read_damaged(dir.path(), {file}, outcome);
    }
    CHECK(outcome.refused > 1000);
    CHECK(outcome.read + outcome.refused == 2000);
}
