// read_csv_trace: a small trace whose every field is worked out by hand, one test per kind of
// malformed input (each must name the file, line and field), and the real CSV traces in
// ../shared/traces checked against facts computed independently with Python.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "expertcast/trace/csv_reader.hpp"
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

// E = 8, k = 2, MoE on decoder layers 1, 3, 5 (ordinals 0, 1, 2). Request 40 has no rows.
const std::string small_meta = R"({
  "num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5], "rows": 12,
  "requests": [{"id": 12, "prompt_tokens": 2}, {"id": 3, "prompt_tokens": null}, {"id": 40}]
})";

const std::string header = "request,token,layer,experts,weights\n";

// Request 3: token 1 absent, token 2 lacks layer 3. Request 12: token 1 has only layer 3.
// clang-format off
const std::string small_rows = "3,0,1,0 1,0.75 0.25\n"      // line 2
                               "3,0,3,2 3,0.5 0.5\n"        // line 3
                               "3,0,5,4 5,0.625 0.375\n"    // line 4
                               "3,2,1,6 7,1 0\n"            // line 5
                               "3,2,5,7 6,0.875 0.125\n"    // line 6
                               "12,0,1,1 2,0.5 0.5\n"       // line 7
                               "12,0,3,3 4,0.25 0.75\n"     // line 8
                               "12,0,5,5 6,0.5 0.5\n"       // line 9
                               "12,1,3,0 7,0.125 0.875\n"   // line 10
                               "12,2,1,2 0,0.5 0.5\n"       // line 11
                               "12,2,3,3 1,0.75 0.25\n"     // line 12
                               "12,2,5,4 2,1 0\n";          // line 13
// clang-format on

// A meta for the error cases: no "rows", so row-level checks are what fires.
const std::string error_meta = R"({
  "num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5],
  "requests": [{"id": 3}, {"id": 12, "prompt_tokens": 2}]
})";

/// Writes trace.csv and trace.meta.json and reads them; the test expects an InputError at
/// (line, field) whose message also contains `what`.
void check_csv_error(const std::string& csv, std::size_t line, const std::string& field,
                     const std::string& what, const std::string& meta = error_meta) {
    TempDir dir;
    const fs::path file = dir.write("trace.csv", csv);
    dir.write("trace.meta.json", meta);
    try {
        (void)expertcast::read_csv_trace(file);
        FAIL("no InputError for " << csv);
    } catch (const InputError& error) {
        INFO(error.what());
        CHECK(error.file() == file.string());
        CHECK(error.line() == line);
        CHECK(error.field() == field);
        std::string location = "trace.csv:" + std::to_string(line);
        if (!field.empty()) location += ": " + field;
        CHECK_THAT(error.what(), Contains(location + ": ") && Contains(what));
    }
}

/// An error in the meta file: line 0, the JSON path in field().
void check_meta_error(const std::string& meta, const std::string& json_path,
                      const std::string& what) {
    TempDir dir;
    const fs::path file = dir.write("trace.csv", header + small_rows);
    const fs::path meta_file = dir.write("trace.meta.json", meta);
    try {
        (void)expertcast::read_csv_trace(file);
        FAIL("no InputError for " << meta);
    } catch (const InputError& error) {
        INFO(error.what());
        CHECK(error.file() == meta_file.string());
        CHECK(error.line() == 0);
        CHECK(error.field() == json_path);
        const std::string location =
            json_path.empty() ? "trace.meta.json: " : "trace.meta.json: " + json_path + ": ";
        CHECK_THAT(error.what(), Contains(location) && Contains(what));
    }
}

std::vector<ExpertId> experts_of(const Trace& trace, std::size_t token, std::uint32_t layer) {
    const auto row = trace.row(token, layer);
    return {row.begin(), row.end()};
}

std::vector<float> weights_of(const Trace& trace, std::size_t token, std::uint32_t layer) {
    const auto row = trace.weight_row(token, layer);
    return {row.begin(), row.end()};
}

bool weights_are_nan(const Trace& trace, std::size_t token, std::uint32_t layer) {
    for (const float weight : trace.weight_row(token, layer))
        if (!std::isnan(weight)) return false;
    return true;
}

}  // namespace

TEST_CASE("read_csv_trace reads a small trace with holes, phases and weights", "[csv_reader]") {
    TempDir dir;
    const fs::path file = dir.write("trace.csv", header + small_rows);
    dir.write("trace.meta.json", small_meta);
    const Trace trace = expertcast::read_csv_trace(file);

    CHECK(trace.source == file.string());
    CHECK(trace.format == "csv");
    CHECK(trace.shape.num_experts == 8);
    CHECK(trace.shape.top_k == 2);
    CHECK(trace.shape.moe_layers == std::vector<std::uint32_t>{1, 3, 5});

    REQUIRE(trace.requests.size() == 2);
    CHECK(trace.requests[0].id == 3);
    CHECK_FALSE(trace.requests[0].prompt_tokens.has_value());
    CHECK(trace.requests[0].token_begin == 0);
    CHECK(trace.requests[0].token_end == 2);
    CHECK(trace.requests[1].id == 12);
    CHECK(trace.requests[1].prompt_tokens == std::optional<std::uint32_t>(2));
    CHECK(trace.requests[1].token_begin == 2);
    CHECK(trace.requests[1].token_end == 5);

    REQUIRE(trace.num_tokens() == 5);
    CHECK(trace.positions == std::vector<std::uint32_t>{0, 2, 0, 1, 2});
    CHECK(trace.phases == std::vector<Phase>{Phase::decode, Phase::decode, Phase::prefill,
                                             Phase::prefill, Phase::decode});

    REQUIRE(trace.experts.size() == 5 * 3 * 2);
    // clang-format off
    CHECK(trace.experts == std::vector<ExpertId>{0, 1,  2,  3,  4,  5,    //
                                                 6, 7,  -1, -1, 7,  6,    //
                                                 1, 2,  3,  4,  5,  6,    //
                                                 -1, -1, 0, 7,  -1, -1,   //
                                                 2, 0,  3,  1,  4,  2});
    // clang-format on
    CHECK(experts_of(trace, 1, 2) == std::vector<ExpertId>{7, 6});
    CHECK_FALSE(trace.recorded(1, 1));
    CHECK_FALSE(trace.recorded(3, 0));
    CHECK_FALSE(trace.recorded(3, 2));
    CHECK(trace.recorded(3, 1));
    CHECK(trace.recorded_cells() == 12);

    REQUIRE(trace.has_weights());
    REQUIRE(trace.weights.size() == trace.experts.size());
    CHECK(weights_of(trace, 0, 0) == std::vector<float>{0.75f, 0.25f});
    CHECK(weights_of(trace, 0, 2) == std::vector<float>{0.625f, 0.375f});
    CHECK(weights_of(trace, 1, 0) == std::vector<float>{1.0f, 0.0f});
    CHECK(weights_are_nan(trace, 1, 1));
    CHECK(weights_of(trace, 1, 2) == std::vector<float>{0.875f, 0.125f});
    CHECK(weights_of(trace, 2, 1) == std::vector<float>{0.25f, 0.75f});
    CHECK(weights_are_nan(trace, 3, 0));
    CHECK(weights_of(trace, 3, 1) == std::vector<float>{0.125f, 0.875f});
    CHECK(weights_are_nan(trace, 3, 2));
    CHECK(weights_of(trace, 4, 2) == std::vector<float>{1.0f, 0.0f});

    REQUIRE(trace.notes.size() == 3);
    CHECK_THAT(trace.notes[0], Contains("3 of 15 (token, MoE layer) cells are not recorded"));
    CHECK_THAT(trace.notes[1], Contains("1 of 2 requests have no prompt length"));
    CHECK_THAT(trace.notes[2], Contains("have no rows") && Contains("ids 40"));
}

TEST_CASE("read_csv_trace reads a trace without weights, CRLF lines and no final newline",
          "[csv_reader]") {
    TempDir dir;
    dir.write("no-weights.meta.json", R"({"num_experts": 4, "top_k": 1, "moe_layers": [0, 1],
        "requests": [{"id": 7, "prompt_tokens": 1}, {"id": 100, "prompt_tokens": 0}]})");
    const fs::path file = dir.write("no-weights.csv",
                                    "request,token,layer,experts,weights\r\n"
                                    "7,0,0,3,\r\n"
                                    "7,0,1,2,\r\n"
                                    "7,5,1,0,\r\n"
                                    "100,9,0,1,");
    const Trace trace = expertcast::read_csv_trace(file);
    CHECK_FALSE(trace.has_weights());
    CHECK(trace.weights.empty());
    REQUIRE(trace.requests.size() == 2);
    CHECK(trace.requests[0].id == 7);
    CHECK(trace.requests[1].id == 100);
    CHECK(trace.requests[1].token_begin == 2);
    CHECK(trace.requests[1].token_end == 3);
    CHECK(trace.positions == std::vector<std::uint32_t>{0, 5, 9});
    CHECK(trace.phases == std::vector<Phase>{Phase::prefill, Phase::decode, Phase::decode});
    CHECK(trace.experts == std::vector<ExpertId>{3, 2, -1, 0, 1, -1});
    CHECK(trace.weight_row(0, 0).empty());
    CHECK(trace.recorded_cells() == 4);
}

TEST_CASE("read_csv_trace without a meta file takes the layers from the CSV", "[csv_reader]") {
    TempDir dir;
    const fs::path file = dir.write("trace.csv", header + small_rows);
    TraceReadOptions options;
    options.num_experts = 8;
    options.top_k = 2;
    const Trace trace = expertcast::read_csv_trace(file, options);
    CHECK(trace.shape.moe_layers == std::vector<std::uint32_t>{1, 3, 5});
    CHECK(trace.shape.num_experts == 8);
    REQUIRE(trace.requests.size() == 2);
    CHECK_FALSE(trace.requests[1].prompt_tokens.has_value());
    for (const Phase phase : trace.phases) CHECK(phase == Phase::decode);
    CHECK(trace.recorded_cells() == 12);
    CHECK_THAT(trace.notes.front(), Contains("no meta file trace.meta.json"));

    // Only the layers present count: a layer no row uses is not a MoE layer of this trace.
    const fs::path sparse = dir.write("sparse.csv", header + "0,0,7,1 2,\n0,0,9,3 4,\n");
    const Trace sparse_trace = expertcast::read_csv_trace(sparse, options);
    CHECK(sparse_trace.shape.moe_layers == std::vector<std::uint32_t>{7, 9});
}

TEST_CASE("read_csv_trace takes an explicit meta path and lets options override it",
          "[csv_reader]") {
    TempDir dir;
    const fs::path file = dir.write("trace.csv", header + small_rows);
    const fs::path meta = dir.write("elsewhere.json", small_meta);
    TraceReadOptions options;
    options.meta = meta;
    options.num_experts = 16;
    const Trace trace = expertcast::read_csv_trace(file, options);
    CHECK(trace.shape.num_experts == 16);
    CHECK(trace.shape.top_k == 2);
    CHECK_THAT(
        trace.notes.front(),
        Contains("num_experts = 16 given explicitly (read options, --num-experts) overrides 8"));
}

TEST_CASE("read_csv_trace: missing meta file", "[csv_reader][errors]") {
    TempDir dir;
    const fs::path file = dir.write("trace.csv", header + small_rows);
    const std::string meta = (dir.path() / "trace.meta.json").string();
    CHECK_THROWS_MATCHES(expertcast::read_csv_trace(file), InputError,
                         Catch::Matchers::Message(
                             meta + ": no such file: the CSV trace trace.csv needs its meta file "
                                    "for num_experts, top_k, moe_layers and the requests' prompt "
                                    "lengths (or give both num_experts and top_k, --num-experts "
                                    "and --top-k in expertcast eval, to read it without one)"));
    TraceReadOptions only_experts;
    only_experts.num_experts = 8;  // top_k is still unknown
    CHECK_THROWS_WITH(expertcast::read_csv_trace(file, only_experts), Contains(meta));

    TraceReadOptions explicit_meta;
    explicit_meta.meta = dir.path() / "missing.json";
    explicit_meta.num_experts = 8;
    explicit_meta.top_k = 2;
    CHECK_THROWS_WITH(expertcast::read_csv_trace(file, explicit_meta),
                      Contains("missing.json: no such file"));
}

TEST_CASE("read_csv_trace: the CSV file does not exist or is a directory", "[csv_reader][errors]") {
    TempDir dir;
    CHECK_THROWS_WITH(expertcast::read_csv_trace(dir.path() / "absent.csv"),
                      Contains("absent.csv: no such file"));
    fs::create_directory(dir.path() / "folder.csv");
    CHECK_THROWS_AS(expertcast::read_csv_trace(dir.path() / "folder.csv"), InputError);
}

TEST_CASE("read_csv_trace: empty file", "[csv_reader][errors]") {
    check_csv_error("", 1, "header", "the file is empty");
}

TEST_CASE("read_csv_trace: header only", "[csv_reader][errors]") {
    check_csv_error(header, 2, "", "no data rows");
}

TEST_CASE("read_csv_trace: wrong or missing header", "[csv_reader][errors]") {
    check_csv_error("request,token,layer,experts\n3,0,1,0 1\n", 1, "header",
                    "expected request,token,layer,experts,weights, found "
                    "'request,token,layer,experts'");
    check_csv_error(small_rows, 1, "header", "found '3,0,1,0 1,0.75 0.25'");
}

TEST_CASE("read_csv_trace: wrong number of fields", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 1\n", 2, "weights", "missing: the row has 4 fields");
    check_csv_error(header + "3,0,1,0 1,0.5 0.5,9\n", 2, "", "the row has 6 fields; expected 5");
    check_csv_error(header + "3,0,1,0 1,0.5 0.5\n\n3,1,1,0 1,0.5 0.5\n", 3, "", "empty line");
}

TEST_CASE("read_csv_trace: missing or non-numeric request, token, layer", "[csv_reader][errors]") {
    check_csv_error(header + ",0,1,0 1,\n", 2, "request", "missing; expected an integer");
    check_csv_error(header + "r3,0,1,0 1,\n", 2, "request", "'r3' is not an integer");
    check_csv_error(header + "3,,1,0 1,\n", 2, "token", "missing");
    check_csv_error(header + "3,-1,1,0 1,\n", 2, "token", "'-1' is not a non-negative integer");
    check_csv_error(header + "3,0,1.5,0 1,\n", 2, "layer", "'1.5' is not a non-negative integer");
    check_csv_error(header + "3,0,99999999999,0 1,\n", 2, "layer", "is out of range");
}

TEST_CASE("read_csv_trace: a layer that is not a MoE layer", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 1,\n3,0,2,0 1,\n", 3, "layer",
                    "layer 2 is not a MoE layer (moe_layers in trace.meta.json: 1, 3, 5)");
}

TEST_CASE("read_csv_trace: wrong number of experts", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 1 2,\n", 2, "experts",
                    "has 3 expert ids; expected top_k = 2");
    check_csv_error(header + "3,0,1,0,\n", 2, "experts", "has 1 expert ids; expected top_k = 2");
    check_csv_error(header + "3,0,1,,\n", 2, "experts", "missing; expected top_k = 2");
}

TEST_CASE("read_csv_trace: expert id out of range or not a number", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 8,\n", 2, "experts", "expert id 8 is outside [0, 8)");
    check_csv_error(header + "3,0,1,-1 2,\n", 2, "experts", "expert id -1 is outside [0, 8)");
    check_csv_error(header + "3,0,1,0 x,\n", 2, "experts", "'x' is not an expert id");
    check_csv_error(header + "3,0,1,0 2.5,\n", 2, "experts", "'2.5' is not an expert id");
}

TEST_CASE("read_csv_trace: duplicate expert ids in a row", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,5 5,\n", 2, "experts", "expert id 5 appears twice");
}

TEST_CASE("read_csv_trace: wrong number of weights, non-numeric or non-finite weight",
          "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 1,0.5\n", 2, "weights", "has 1 weights; expected top_k = 2");
    check_csv_error(header + "3,0,1,0 1,0.5 0.25 0.25\n", 2, "weights", "has 3 weights");
    check_csv_error(header + "3,0,1,0 1,0.5 abc\n", 2, "weights", "'abc' is not a number");
    check_csv_error(header + "3,0,1,0 1,nan 0.5\n", 2, "weights", "weight 'nan' is not finite");
    check_csv_error(header + "3,0,1,0 1,0.5 inf\n", 2, "weights", "weight 'inf' is not finite");
    check_csv_error(header + "3,0,1,0 1,1e99 0\n", 2, "weights", "out of the range of a float");
}

TEST_CASE("read_csv_trace: weights on some rows only", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 1,0.5 0.5\n3,0,3,0 1,\n", 3, "weights",
                    "empty, but the rows before it have weights");
    check_csv_error(header + "3,0,1,0 1,\n3,0,3,0 1,0.5 0.5\n", 3, "weights",
                    "this row has weights but the rows before it have none");
}

TEST_CASE("read_csv_trace: rows out of order or duplicated", "[csv_reader][errors]") {
    check_csv_error(header + "12,0,1,0 1,\n3,0,1,0 1,\n", 3, "request",
                    "rows are out of order: request 3 follows request 12");
    check_csv_error(header + "3,1,1,0 1,\n3,0,1,0 1,\n", 3, "token",
                    "rows are out of order: token 0 follows token 1 of request 3");
    check_csv_error(header + "3,0,3,0 1,\n3,0,1,0 1,\n", 3, "layer",
                    "rows are out of order: layer 1 follows layer 3");
    check_csv_error(header + "3,0,1,0 1,\n3,0,3,0 1,\n3,0,3,2 1,\n", 4, "layer",
                    "duplicate row: (request 3, token 0, layer 3) is also on line 3");
}

TEST_CASE("read_csv_trace: a request the meta file does not list", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 1,\n5,0,1,0 1,\n", 3, "request",
                    "request 5 is not listed in $.requests of trace.meta.json");
}

TEST_CASE("read_csv_trace: a truncated file", "[csv_reader][errors]") {
    check_csv_error(header + "3,0,1,0 1,0.5 0.5\n3,0,3,0 1,0.", 3, "weights",
                    "the file looks truncated");
    check_csv_error(header + "3,0,1,0 1,0.5 0.5\n3,0,3,0", 3, "weights",
                    "(the last line has no newline: the file looks truncated)");
    check_csv_error(header + "3,0,1,0 1,0.5 0.5\n3,0", 3, "layer", "looks truncated");
    check_csv_error("request,tok", 1, "header", "looks truncated");
    // Cut at a line end: only the meta's row count can tell.
    TempDir dir;
    const std::string first_four_rows = small_rows.substr(0, small_rows.find("3,2,5"));
    const fs::path file = dir.write("trace.csv", header + first_four_rows);
    dir.write("trace.meta.json", small_meta);
    CHECK_THROWS_WITH(
        expertcast::read_csv_trace(file),
        Contains("trace.csv: the file has") &&
            Contains("but trace.meta.json says $.rows = 12; the file looks truncated"));
}

TEST_CASE("read_csv_trace: meta file syntax error", "[csv_reader][errors]") {
    check_meta_error("{\n  \"num_experts\": 8,\n  \"top_k\": 2,,\n}", "",
                     "invalid JSON: parse error at line 3, column 14");
}

TEST_CASE("read_csv_trace: meta fields missing or of the wrong type", "[csv_reader][errors]") {
    check_meta_error("[]", "$", "expected an object, found a list");
    check_meta_error(R"({"top_k": 2, "moe_layers": [1, 3, 5], "requests": []})", "$.num_experts",
                     "missing; expected a non-negative integer");
    check_meta_error(R"({"num_experts": "8", "top_k": 2, "moe_layers": [1], "requests": []})",
                     "$.num_experts", "expected a non-negative integer, found string \"8\"");
    check_meta_error(R"({"num_experts": 8, "top_k": -2, "moe_layers": [1], "requests": []})",
                     "$.top_k", "expected a non-negative integer, found number -2");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "requests": []})", "$.moe_layers",
                     "missing");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 5, 3], "requests": []})",
                     "$.moe_layers[2]", "moe_layers must be strictly increasing; 3 follows 5");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, "3"], "requests": []})",
                     "$.moe_layers[1]", "expected a decoder-layer index");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5]})", "$.requests",
                     "missing");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5], "requests": {}})",
                     "$.requests", "expected a list of request objects, found an object");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5],
                         "requests": [{"id": 3}, 12]})",
                     "$.requests[1]", "expected an object");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5],
                         "requests": [{"id": 3}, {"prompt_tokens": 4}]})",
                     "$.requests[1].id", "missing; expected an integer");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5],
                         "requests": [{"id": 3}, {"id": 12}, {"id": 7},
                                      {"id": 9, "prompt_tokens": "5"}]})",
                     "$.requests[3].prompt_tokens",
                     "expected a non-negative integer or null, found string \"5\"");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5],
                         "requests": [{"id": 3}, {"id": 12, "prompt_tokens": 2.5}]})",
                     "$.requests[1].prompt_tokens", "expected a non-negative integer or null");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [1, 3, 5],
                         "requests": [{"id": 12}, {"id": 3}, {"id": 12}]})",
                     "$.requests[2].id", "request id 12 is also $.requests[0].id");
}

TEST_CASE("read_csv_trace: an unusable model shape in the meta file", "[csv_reader][errors]") {
    check_meta_error(R"({"num_experts": 8, "top_k": 0, "moe_layers": [1, 3, 5], "requests": []})",
                     "", "model shape: top_k = 0 must be in [1, num_experts = 8]");
    check_meta_error(R"({"num_experts": 8, "top_k": 2, "moe_layers": [], "requests": []})", "",
                     "model shape: moe_layers is empty");
}

TEST_CASE("read_trace chooses the reader from the path", "[csv_reader][read_trace]") {
    TempDir dir;
    const fs::path file = dir.write("trace.csv", header + small_rows);
    const fs::path meta = dir.write("trace.meta.json", small_meta);
    CHECK(expertcast::read_trace(file).format == "csv");
    CHECK_THROWS_WITH(expertcast::read_trace(meta),
                      Contains("trace.meta.json: this is the meta file of a CSV trace"));
    const fs::path text = dir.write("trace.txt", "hello");
    CHECK_THROWS_WITH(expertcast::read_trace(text),
                      Contains("trace.txt: unknown trace format; known formats: a .csv file"));
    CHECK_THROWS_WITH(expertcast::read_trace(dir.path() / "absent"),
                      Contains("absent: no such file or directory"));
    TraceReadOptions with_meta;
    with_meta.meta = meta;
    CHECK_THROWS_WITH(expertcast::read_trace(dir.path(), with_meta),
                      Contains("a meta file is only read with a CSV trace"));
}

TEST_CASE("read_csv_trace accepts blank lines that end the file, not inside it", "[csv_reader]") {
    TempDir dir;
    dir.write("trace.meta.json", small_meta);
    const fs::path ended = dir.write("trace.csv", header + small_rows + "\n\r\n\n");
    CHECK(expertcast::read_csv_trace(ended).num_tokens() ==
          expertcast::read_csv_trace(dir.write("trace.csv", header + small_rows)).num_tokens());
    const std::size_t blank_line = 2;
    check_csv_error(header + "\n" + small_rows, blank_line, "", "empty line");
}

TEST_CASE("read_csv_trace: a top_k given explicitly is named in the error",
          "[csv_reader][errors]") {
    TempDir dir;
    dir.write("trace.meta.json", small_meta);
    const fs::path file = dir.write("trace.csv", header + small_rows);
    TraceReadOptions three;
    three.top_k = 3;
    CHECK_THROWS_WITH(expertcast::read_csv_trace(file, three),
                      Contains("expected top_k = 3 (given explicitly, not the meta file's)"));
}

// Facts below were computed from the files with Python's csv and json modules.
TEST_CASE("read_csv_trace reads gpt-oss-20b.csv", "[csv_reader][shared]") {
    const Trace trace =
        expertcast::read_csv_trace(fs::path(EXPERTCAST_SHARED_DIR) / "traces" / "gpt-oss-20b.csv");
    CHECK(trace.shape.num_experts == 32);
    CHECK(trace.shape.top_k == 4);
    REQUIRE(trace.shape.num_moe_layers() == 24);
    CHECK(trace.shape.moe_layers.front() == 0);
    CHECK(trace.shape.moe_layers.back() == 23);
    REQUIRE(trace.requests.size() == 55);
    REQUIRE(trace.num_tokens() == 20035);
    CHECK(trace.recorded_cells() == 480840);
    CHECK(trace.recorded_cells() == trace.num_tokens() * 24);  // no holes
    CHECK(trace.has_weights());
    for (const Phase phase : trace.phases) REQUIRE(phase == Phase::decode);
    CHECK(trace.notes.empty());

    // Request 0: prompt of 101 tokens (not recorded), decode positions 101..611.
    CHECK(trace.requests[0].id == 0);
    CHECK(trace.requests[0].prompt_tokens == std::optional<std::uint32_t>(101));
    CHECK(trace.requests[0].num_tokens() == 511);
    CHECK(trace.positions[0] == 101);
    CHECK(trace.positions[510] == 611);
    CHECK(trace.requests[1].token_begin == 511);
    CHECK(trace.requests[1].prompt_tokens == std::optional<std::uint32_t>(198));
    CHECK(trace.requests[54].id == 54);
    CHECK(trace.requests[54].token_begin == 19524);
    CHECK(trace.requests[54].token_end == 20035);

    // Line 2: 0,101,0,31 21 22 6,0.49609375 0.1767578125 0.1708984375 0.15625
    CHECK(experts_of(trace, 0, 0) == std::vector<ExpertId>{31, 21, 22, 6});
    CHECK(weights_of(trace, 0, 0) ==
          std::vector<float>{0.49609375f, 0.1767578125f, 0.1708984375f, 0.15625f});
    // Line 480841 (last): 54,909,23,8 6 3 16,...
    CHECK(trace.positions.back() == 909);
    CHECK(experts_of(trace, 20034, 23) == std::vector<ExpertId>{8, 6, 3, 16});
    CHECK(weights_of(trace, 20034, 23) ==
          std::vector<float>{0.48046875f, 0.1982421875f, 0.1611328125f, 0.1611328125f});
}

TEST_CASE("read_csv_trace reads flame-moe-290m.csv", "[csv_reader][shared]") {
    const Trace trace = expertcast::read_csv_trace(fs::path(EXPERTCAST_SHARED_DIR) / "traces" /
                                                   "flame-moe-290m.csv");
    CHECK(trace.shape.num_experts == 64);
    CHECK(trace.shape.top_k == 6);
    CHECK(trace.shape.moe_layers == std::vector<std::uint32_t>{2, 3, 4, 5, 6, 7, 8, 9});
    REQUIRE(trace.requests.size() == 61);
    REQUIRE(trace.num_tokens() == 2648);
    CHECK(trace.recorded_cells() == 21184);
    CHECK(trace.requests[0].num_tokens() == 2048);
    CHECK(trace.requests[60].id == 60);
    CHECK(trace.requests[60].token_begin == 2638);
    for (const auto& request : trace.requests) CHECK_FALSE(request.prompt_tokens.has_value());
    CHECK_THAT(trace.notes.at(0), Contains("no request has a prompt length"));
    // Line 2: 0,0,2,34 28 21 47 3 12,0.09980141 ...
    CHECK(experts_of(trace, 0, 0) == std::vector<ExpertId>{34, 28, 21, 47, 3, 12});
    CHECK(weights_of(trace, 0, 0).front() == 0.09980141f);
    // Line 10594: 0,1324,2,38 6 1 58 24 51
    CHECK(trace.positions[1324] == 1324);
    CHECK(experts_of(trace, 1324, 0) == std::vector<ExpertId>{38, 6, 1, 58, 24, 51});
}

TEST_CASE("read_csv_trace reads mixtral-8x7b-instruct-fp8.csv with its holes",
          "[csv_reader][shared]") {
    const Trace trace = expertcast::read_csv_trace(fs::path(EXPERTCAST_SHARED_DIR) / "traces" /
                                                   "mixtral-8x7b-instruct-fp8.csv");
    CHECK(trace.shape.num_experts == 8);
    CHECK(trace.shape.top_k == 2);
    CHECK(trace.shape.num_moe_layers() == 32);
    REQUIRE(trace.requests.size() == 4);
    REQUIRE(trace.num_tokens() == 720);
    CHECK(trace.recorded_cells() == 15903);
    CHECK(trace.num_tokens() * 32 - trace.recorded_cells() == 7137);

    CHECK(trace.requests[0].prompt_tokens == std::optional<std::uint32_t>(135));
    CHECK(trace.requests[0].num_tokens() == 218);
    for (std::size_t r = 1; r < 4; ++r) CHECK_FALSE(trace.requests[r].prompt_tokens.has_value());
    std::size_t prefill = 0;
    for (const Phase phase : trace.phases) prefill += phase == Phase::prefill;
    CHECK(prefill == 135);
    CHECK(trace.phases[134] == Phase::prefill);
    CHECK(trace.phases[135] == Phase::decode);

    // Request 0 loses (token 1, layer 4); request 1 (tokens 218..472) never records layer 0.
    CHECK_FALSE(trace.recorded(1, 4));
    CHECK(trace.recorded(1, 3));
    for (std::size_t token = 218; token < 473; ++token) REQUIRE_FALSE(trace.recorded(token, 0));
    CHECK(std::isnan(trace.weight_row(218, 0)[0]));
    // Line 7953: 1,92,4,4 0,0.5126926 0.48730743
    CHECK(experts_of(trace, 218 + 92, 4) == std::vector<ExpertId>{4, 0});
    CHECK(weights_of(trace, 218 + 92, 4) == std::vector<float>{0.5126926f, 0.48730743f});
    CHECK_THAT(trace.notes.at(0), Contains("7137 of 23040"));
}
