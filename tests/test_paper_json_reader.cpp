// read_paper_json_trace: a small two-request directory whose every field is worked out by hand,
// one test per kind of malformed input (each must name the file and the JSON path), and the
// published Llama-4-Maverick traces in ../shared/traces checked against facts computed with Python.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "expertcast/trace/paper_json_reader.hpp"
#include "expertcast/trace/read_trace.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using expertcast::ExpertId;
using expertcast::InputError;
using expertcast::Phase;
using expertcast::Trace;
using expertcast::TraceReadOptions;

using expertcast_test::TempDir;

// Decoder layer 0 is dense (null); layers 2 and 10 are MoE layers with k = 2. The key "10" sorts
// before "2" as a string, so the reader must order layers by number.
// Request 2: a 3-token prefill and two decode steps (the last without the dense key at all).
const std::string request_2 = R"([
  {"0": null, "2": [[0, 1], [2, 3], [4, 5]], "10": [[1, 0], [3, 2], [5, 4]]},
  {"0": null, "2": [[6, 2]], "10": [[2, 6]]},
  {"2": [[3, 0]], "10": [[0, 3]]}
])";
// Request 10: a 1-token prefill (a prefix-cache hit in the real traces) and one decode step.
const std::string request_10 = R"([
  {"0": null, "2": [[5, 4]], "10": [[4, 5]]},
  {"0": null, "2": [[1, 2]], "10": [[2, 1]]}
])";

/// Reads `content` as 0.json of a fresh directory and expects an InputError naming 0.json at
/// `json_path` whose message contains `what`.
void check_json_error(const std::string& content, const std::string& json_path,
                      const std::string& what, const TraceReadOptions& options = {}) {
    TempDir dir;
    const fs::path file = dir.write("0.json", content);
    try {
        (void)expertcast::read_paper_json_trace(dir.path(), options);
        FAIL("no InputError for " << content);
    } catch (const InputError& error) {
        INFO(error.what());
        CHECK(error.file() == file.string());
        CHECK(error.line() == 0);
        CHECK(error.field() == json_path);
        const std::string location = json_path.empty() ? "0.json: " : "0.json: " + json_path + ": ";
        CHECK_THAT(error.what(), Contains(location) && Contains(what));
    }
}

std::vector<ExpertId> experts_of(const Trace& trace, std::size_t token, std::uint32_t layer) {
    const auto row = trace.row(token, layer);
    return {row.begin(), row.end()};
}

}  // namespace

TEST_CASE("read_paper_json_trace reads a small directory", "[paper_json_reader]") {
    TempDir dir;
    dir.write("10.json", request_10);
    dir.write("2.json", request_2);
    const Trace trace = expertcast::read_paper_json_trace(dir.path());

    CHECK(trace.source == dir.path().string());
    CHECK(trace.format == "paper-json");
    CHECK(trace.shape.moe_layers == std::vector<std::uint32_t>{2, 10});
    CHECK(trace.shape.top_k == 2);
    CHECK(trace.shape.num_experts == 7);  // largest id 6, inferred

    REQUIRE(trace.requests.size() == 2);
    CHECK(trace.requests[0].id == 2);  // numeric order: 2.json before 10.json
    CHECK(trace.requests[0].prompt_tokens == std::optional<std::uint32_t>(3));
    CHECK(trace.requests[0].token_begin == 0);
    CHECK(trace.requests[0].token_end == 5);
    CHECK(trace.requests[1].id == 10);
    CHECK(trace.requests[1].prompt_tokens == std::optional<std::uint32_t>(1));
    CHECK(trace.requests[1].token_begin == 5);
    CHECK(trace.requests[1].token_end == 7);

    CHECK(trace.positions == std::vector<std::uint32_t>{0, 1, 2, 3, 4, 0, 1});
    CHECK(trace.phases == std::vector<Phase>{Phase::prefill, Phase::prefill, Phase::prefill,
                                             Phase::decode, Phase::decode, Phase::prefill,
                                             Phase::decode});
    // clang-format off
    CHECK(trace.experts == std::vector<ExpertId>{0, 1, 1, 0,   // request 2, prefill
                                                 2, 3, 3, 2,   //
                                                 4, 5, 5, 4,   //
                                                 6, 2, 2, 6,   // decode step 1
                                                 3, 0, 0, 3,   // decode step 2
                                                 5, 4, 4, 5,   // request 10, prefill
                                                 1, 2, 2, 1}); // decode step 1
    // clang-format on
    CHECK(experts_of(trace, 3, 1) == std::vector<ExpertId>{2, 6});
    CHECK(trace.recorded_cells() == 14);
    CHECK_FALSE(trace.has_weights());

    REQUIRE(trace.notes.size() == 2);
    CHECK(trace.notes[0] ==
          "num_experts = 7 inferred from the largest expert id (6); pass --num-experts to set it");
    CHECK_THAT(trace.notes[1], Contains("1 requests have a 1-token prefill"));
}

TEST_CASE("read_paper_json_trace takes num_experts from the options", "[paper_json_reader]") {
    TempDir dir;
    dir.write("2.json", request_2);
    TraceReadOptions options;
    options.num_experts = 16;
    options.top_k = 2;
    const Trace trace = expertcast::read_paper_json_trace(dir.path(), options);
    CHECK(trace.shape.num_experts == 16);
    CHECK(trace.notes.empty());
}

TEST_CASE("read_paper_json_trace reads a single file", "[paper_json_reader]") {
    TempDir dir;
    const fs::path file = dir.write("10.json", request_10);
    const Trace trace = expertcast::read_paper_json_trace(file);
    REQUIRE(trace.requests.size() == 1);
    CHECK(trace.requests[0].id == 10);
    CHECK(trace.num_tokens() == 2);
    CHECK(trace.source == file.string());

    const fs::path other_name = dir.write("request.json", request_10);
    const Trace renamed = expertcast::read_paper_json_trace(other_name);
    CHECK(renamed.requests[0].id == 0);
    CHECK_THAT(renamed.notes.at(0), Contains("request.json is not <index>.json"));
}

TEST_CASE("read_trace reads a directory or a .json file as the paper's format",
          "[paper_json_reader][read_trace]") {
    TempDir dir;
    const fs::path file = dir.write("2.json", request_2);
    CHECK(expertcast::read_trace(dir.path()).format == "paper-json");
    CHECK(expertcast::read_trace(file).format == "paper-json");
}

TEST_CASE("read_paper_json_trace: malformed JSON", "[paper_json_reader][errors]") {
    check_json_error("[\n  {\"1\": [[0, 1]]\n", "",
                     "invalid JSON: parse error at line 3, column 1");
    check_json_error("[{\"1\": [[0, 1]]}, {\"1\": [[0 1]]}]", "", "column 29");
}

TEST_CASE("read_paper_json_trace: top level not a list", "[paper_json_reader][errors]") {
    check_json_error(R"({"1": [[0, 1]]})", "$", "expected a list of steps, found an object");
    check_json_error("[]", "$", "the list of steps is empty");
}

TEST_CASE("read_paper_json_trace: a step that is not an object", "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [[0, 1]]}, [[2, 3]]])", "$[1]",
                     "expected an object mapping layer indices to routing, found a list");
}

TEST_CASE("read_paper_json_trace: a layer key that is not an integer",
          "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [[0, 1]], "mlp": null}])", R"($[0]["mlp"])",
                     "the key is not a decoder-layer index");
    check_json_error(R"([{"-1": [[0, 1]]}])", R"($[0]["-1"])", "not a decoder-layer index");
    check_json_error(R"([{"1": [[0, 1]], "01": [[0, 1]]}])", R"($[0]["1"])",
                     "layer 1 appears twice");
}

TEST_CASE("read_paper_json_trace: a layer value that is neither null nor a list",
          "[paper_json_reader][errors]") {
    check_json_error(R"([{"0": 0, "1": [[0, 1]]}])", R"($[0]["0"])",
                     "expected null (a dense layer) or a list of tokens, found number 0");
}

TEST_CASE("read_paper_json_trace: a token entry that is not a list of integers",
          "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [5]}])", R"($[0]["1"][0])",
                     "expected a list of expert ids, found number 5");
    check_json_error(R"([{"1": [[0, 1], [2, "3"]]}])", R"($[0]["1"][1][1])",
                     "expected an expert id (an integer), found string \"3\"");
    check_json_error(R"([{"1": [[0, 1.5]]}])", R"($[0]["1"][0][1])",
                     "expected an expert id (an integer), found number 1.5");
    check_json_error(R"([{"1": [[]]}])", R"($[0]["1"][0])", "the list of expert ids is empty");
}

TEST_CASE("read_paper_json_trace: a wrong k", "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [[0, 1], [2]]}])", R"($[0]["1"][1])",
                     R"(has 1 expert ids; expected k = 2 as in 0.json $[0]["1"][0])");
    TraceReadOptions options;
    options.top_k = 1;
    check_json_error(R"([{"1": [[0, 1]]}])", R"($[0]["1"][0])",
                     "has 2 expert ids; expected top_k = 1 (read options)", options);

    // k is fixed by the first file and holds in every other.
    TempDir dir;
    dir.write("0.json", R"([{"1": [[0, 1]]}])");
    const fs::path second = dir.write("1.json", R"([{"1": [[0, 1, 2]]}])");
    CHECK_THROWS_WITH(expertcast::read_paper_json_trace(dir.path()),
                      Contains(second.string() + R"(: $[0]["1"][0]: has 3 expert ids)"));
}

TEST_CASE("read_paper_json_trace: an expert id out of range or negative",
          "[paper_json_reader][errors]") {
    TraceReadOptions options;
    options.num_experts = 4;
    check_json_error(R"([{"1": [[0, 1], [2, 4]]}])", R"($[0]["1"][1][1])",
                     "expert id 4 is outside [0, 4)", options);
    check_json_error(R"([{"1": [[0, -1]]}])", R"($[0]["1"][0][1])", "expert id -1 is negative");
    check_json_error(R"([{"1": [[0, 5000]]}])", R"($[0]["1"][0][1])",
                     "expert id 5000 exceeds the supported maximum " +
                         std::to_string(expertcast::ModelShape::max_experts - 1));
}

TEST_CASE("read_paper_json_trace: duplicate ids in one token's list",
          "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [[0, 1]]}, {"1": [[3, 3]]}])", R"($[1]["1"][0])",
                     "expert id 3 appears twice");
}

TEST_CASE("read_paper_json_trace: a decode step with other than one token",
          "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [[0, 1]]}, {"1": [[0, 1], [1, 2]]}])", R"($[1]["1"])",
                     "a decode step has 2 tokens; expected exactly 1");
    check_json_error(R"([{"1": [[0, 1]]}, {"1": []}])", R"($[1]["1"])",
                     "a decode step has 0 tokens");
    check_json_error(R"([{"1": []}])", R"($[0]["1"])", "the prefill step has no tokens");
}

TEST_CASE("read_paper_json_trace: layers of one step with different token counts",
          "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [[0, 1], [2, 3]], "3": [[0, 1]]}])", R"($[0]["3"])",
                     "has 1 tokens but layer 1 of this step has 2");
}

TEST_CASE("read_paper_json_trace: MoE layers that change between steps or files",
          "[paper_json_reader][errors]") {
    check_json_error(R"([{"1": [[0, 1]], "3": [[0, 1]]}, {"1": [[0, 1]], "3": null}])", "$[1]",
                     "the MoE layers differ from the first step's: layer 3 is null or absent "
                     "here but a MoE layer in 0.json $[0]");
    check_json_error(R"([{"1": [[0, 1]], "3": null}, {"1": [[0, 1]], "3": [[0, 1]]}])", "$[1]",
                     "layer 3 is a MoE layer here but null in 0.json $[0]");
    check_json_error(R"([{"0": null}])", "$[0]", "every layer is null");

    TempDir dir;
    dir.write("0.json", R"([{"1": [[0, 1]], "3": [[0, 1]]}])");
    const fs::path second = dir.write("1.json", R"([{"1": [[0, 1]]}])");
    CHECK_THROWS_WITH(expertcast::read_paper_json_trace(dir.path()),
                      Contains(second.string() + ": $[0]: the MoE layers differ"));
}

TEST_CASE("read_paper_json_trace: an empty directory", "[paper_json_reader][errors]") {
    TempDir dir;
    CHECK_THROWS_MATCHES(
        expertcast::read_paper_json_trace(dir.path()), InputError,
        Catch::Matchers::Message(dir.path().string() + ": the directory is empty; expected one "
                                                       "<index>.json file per request"));
}

TEST_CASE("read_paper_json_trace: a directory without request files names its subdirectories",
          "[paper_json_reader][errors]") {
    TempDir dir;
    fs::create_directory(dir.path() / "abstract_algebra");
    fs::create_directory(dir.path() / "anatomy");
    dir.write("README.md", "traces");
    CHECK_THROWS_WITH(expertcast::read_paper_json_trace(dir.path()),
                      Contains(dir.path().string() + ": the directory has no <index>.json files") &&
                          Contains("Its subdirectories: abstract_algebra, anatomy (point at one "
                                   "of them)") &&
                          Contains("Its files: README.md"));
}

TEST_CASE("read_paper_json_trace: a file not named <integer>.json", "[paper_json_reader][errors]") {
    TempDir dir;
    dir.write("0.json", request_2);
    const fs::path stray = dir.write("notes.txt", "hello");
    CHECK_THROWS_WITH(expertcast::read_paper_json_trace(dir.path()),
                      Contains(stray.string() + ": the file name is not <integer>.json"));

    TempDir other;
    other.write("0.json", request_2);
    const fs::path misnamed = other.write("1a.json", request_2);
    CHECK_THROWS_WITH(expertcast::read_paper_json_trace(other.path()),
                      Contains(misnamed.string() + ": the file name is not <integer>.json"));

    TempDir twice;
    twice.write("7.json", request_2);
    twice.write("07.json", request_2);
    CHECK_THROWS_WITH(expertcast::read_paper_json_trace(twice.path()),
                      Contains("7.json: names request 7 like 07.json"));
}

TEST_CASE("read_paper_json_trace: a file that does not exist", "[paper_json_reader][errors]") {
    TempDir dir;
    CHECK_THROWS_WITH(expertcast::read_paper_json_trace(dir.path() / "3.json"),
                      Contains("3.json: no such file"));
}

// Facts below were computed from the files with Python's json module.
TEST_CASE("read_paper_json_trace reads the Llama-4-Maverick MMLU abstract_algebra traces",
          "[paper_json_reader][shared]") {
    const fs::path directory =
        fs::path(EXPERTCAST_SHARED_DIR) / "traces" / "llama4-maverick-mmlu" / "abstract_algebra";
    const Trace trace = expertcast::read_trace(directory);
    CHECK(trace.format == "paper-json");
    CHECK(trace.shape.num_experts == 128);
    CHECK(trace.shape.top_k == 1);
    REQUIRE(trace.shape.num_moe_layers() == 24);
    for (std::uint32_t ordinal = 0; ordinal < 24; ++ordinal)
        CHECK(trace.shape.moe_layers[ordinal] == 2 * ordinal + 1);
    REQUIRE(trace.requests.size() == 100);
    REQUIRE(trace.num_tokens() == 15724);
    CHECK(trace.recorded_cells() == 15724u * 24u);
    CHECK_FALSE(trace.has_weights());
    CHECK_THAT(trace.notes.at(0), Contains("num_experts = 128 inferred"));

    std::size_t prefill = 0;
    for (const Phase phase : trace.phases) prefill += phase == Phase::prefill;
    CHECK(prefill == 2924);
    for (std::size_t r = 0; r < 100; ++r) {
        CHECK(trace.requests[r].id == static_cast<std::int64_t>(r));
        CHECK(trace.requests[r].num_tokens() == *trace.requests[r].prompt_tokens + 128);
    }

    // 0.json: prompt 25; step 0 layer "1" token 0 = [106]; last step: layer "1" [102], "47" [18].
    CHECK(trace.requests[0].prompt_tokens == std::optional<std::uint32_t>(25));
    CHECK(experts_of(trace, 0, 0) == std::vector<ExpertId>{106});
    CHECK(experts_of(trace, 24, 23) == std::vector<ExpertId>{123});
    CHECK(experts_of(trace, 152, 0) == std::vector<ExpertId>{102});
    CHECK(experts_of(trace, 152, 23) == std::vector<ExpertId>{18});
    CHECK(trace.positions[152] == 152);
    // 2.json starts at token 318, prompt 38; step 1 layer "25" = [[27]].
    CHECK(trace.requests[2].token_begin == 318);
    CHECK(trace.requests[2].prompt_tokens == std::optional<std::uint32_t>(38));
    CHECK(experts_of(trace, 318 + 38, 12) == std::vector<ExpertId>{27});
    CHECK(trace.phases[318 + 37] == Phase::prefill);
    CHECK(trace.phases[318 + 38] == Phase::decode);
    // 10.json starts at token 1618, prompt 49; 99.json at 15567, prompt 29, last id [95].
    CHECK(trace.requests[10].token_begin == 1618);
    CHECK(trace.requests[10].prompt_tokens == std::optional<std::uint32_t>(49));
    CHECK(experts_of(trace, 1618, 0) == std::vector<ExpertId>{90});
    CHECK(trace.requests[99].token_begin == 15567);
    CHECK(trace.requests[99].prompt_tokens == std::optional<std::uint32_t>(29));
    CHECK(experts_of(trace, 15723, 23) == std::vector<ExpertId>{95});
}

TEST_CASE("read_paper_json_trace on the parent folder says which subdirectory to use",
          "[paper_json_reader][shared]") {
    const fs::path parent = fs::path(EXPERTCAST_SHARED_DIR) / "traces" / "llama4-maverick-mmlu";
    CHECK_THROWS_WITH(expertcast::read_trace(parent),
                      Contains("Its subdirectories: abstract_algebra (point at one of them)"));
}
