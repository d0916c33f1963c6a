// rs1ctl's output (SPEC §8 --json): stored device JSON is printed as the
// device sent it, spliced into documents laid out exactly as nlohmann lays
// them out, and no data can pass for a spliced value.
#include <catch2/catch.hpp>
#include <string>

#include "core/json_scan.hpp"
#include "rs1ctl/output.hpp"

using rs1ctl::dump_json;
using rs1ctl::Json;
using rs1ctl::raw_object_or_null;
using rs1ctl::string_member;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Valid RFC 8259 text, whatever its top-level value: the strict validator,
// since a double parser refuses 1e400.
bool valid_json(const std::string& text) { return rs1::is_json_object("{\"v\":" + text + "}"); }

}  // namespace

TEST_CASE("rs1ctl output: stored objects beyond a double come back byte for byte",
          "[rs1ctl][output]") {
  const std::string stored =
      GENERATE(as<std::string>{}, R"({"a":1e400})", R"({"n":123456789012345678901234567890})",
               R"({"n":-123456789012345678901234567890,"x":[1E-400,0.1]})",
               R"({"s":"caf\u00e9 \"q\"","deep":{"a":[{"b":{}}]}})", R"({ "spaced" : [ 1 , 2 ] })");
  const int indent = GENERATE(-1, 2);
  CAPTURE(stored, indent);
  Json document = Json::array();
  document.push_back({{"device_id", "dev-a"}, {"payload", raw_object_or_null(stored)}});
  const std::string out = dump_json(document, indent);
  CAPTURE(out);
  CHECK(valid_json(out));
  CHECK(contains(out, stored));
  CHECK(contains(out, indent < 0 ? "\"payload\":" + stored : "\"payload\": " + stored));
  // The stored text alone is the text.
  CHECK(dump_json(raw_object_or_null(stored), indent) == stored);
}

TEST_CASE("rs1ctl output: a parse would have lost what the splice keeps", "[rs1ctl][output]") {
  // What object_or_null (a parse) gives, for contrast: this is the defect.
  CHECK(rs1ctl::object_or_null(std::string(R"({"a":1e400})")).is_null());
  CHECK(dump_json(rs1ctl::object_or_null(std::string(R"({"n":123456789012345678901234567890})")),
                  -1) != R"({"n":123456789012345678901234567890})");
}

TEST_CASE("rs1ctl output: white space around a stored object goes, text that is not one is null",
          "[rs1ctl][output]") {
  CHECK(dump_json(raw_object_or_null(std::string(" \r\n\t{\"a\":1}\n")), -1) == R"({"a":1})");
  for (const std::string bad : {"", "null", "[1]", "{\"a\":1", "{\"a\":1} {}", "{'a':1}",
                                "{\"a\":01}", "{\"a\":NaN}", "\"{}\""}) {
    CAPTURE(bad);
    CHECK(raw_object_or_null(bad).is_null());
  }
  CHECK(raw_object_or_null(std::optional<std::string>()).is_null());
  CHECK(rs1ctl::is_raw_json(raw_object_or_null(std::optional<std::string>("{}"))));
}

TEST_CASE("rs1ctl output: no data passes for a spliced value", "[rs1ctl][output]") {
  // A string holding JSON stays a string.
  CHECK(dump_json(Json{{"x", R"({"a":1e400})"}}, -1) == R"({"x":"{\"a\":1e400}"})");
  // Parsed data that looks like a binary stays an object; parsing never
  // makes a binary.
  const Json lookalike = Json::parse(R"({"bytes":[123,125],"subtype":74})");
  CHECK_FALSE(rs1ctl::is_raw_json(lookalike));
  CHECK(dump_json(lookalike, -1) == R"({"bytes":[123,125],"subtype":74})");
  // A binary of another subtype (or none) is no raw value either.
  CHECK_FALSE(rs1ctl::is_raw_json(Json::binary({'{', '}'})));
  CHECK_FALSE(rs1ctl::is_raw_json(Json::binary({'{', '}'}, 1)));
  CHECK(rs1ctl::raw_json_text(Json("{}")).empty());
}

TEST_CASE("rs1ctl output: documents without raw values are laid out as nlohmann lays them out",
          "[rs1ctl][output]") {
  const Json document = Json::parse(R"([
    {"device_id":"dev-a","model":null,"online":true,"last_seen":1700000000,"ratio":0.25,
     "empty_object":{},"empty_array":[],"nested":{"a":[1,[2,[]],{"b":{}}]},"text":"é\n\"\u0001"},
    [], {}, "s", -3, 1.5e300
  ])");
  for (int indent : {-1, 0, 2, 4}) {
    CAPTURE(indent);
    CHECK(dump_json(document, indent) == document.dump(indent));
  }
  // Invalid UTF-8 (a model name given on a command line) is replaced, not thrown.
  const Json bad_utf8 = {{"model", std::string("RS\xff-1")}};
  CHECK(dump_json(bad_utf8, -1) == "{\"model\":\"RS\xef\xbf\xbd-1\"}");
  CHECK(dump_json(Json{{std::string("k\xfe"), 1}}, -1) == "{\"k\xef\xbf\xbd\":1}");
}

TEST_CASE("rs1ctl output: string_member reads a top-level string without building numbers",
          "[rs1ctl][output]") {
  using Opt = std::optional<std::string>;
  CHECK(string_member(R"({"request_id":"abc","big":1e400})", "request_id") == Opt("abc"));
  CHECK(string_member(R"({"big":1e400,"n":123456789012345678901234567890,"request_id":"abc"})",
                      "request_id") == Opt("abc"));
  CHECK(string_member(R"( { "request_id" : "a\"b\u0063" } )", "request_id") == Opt("a\"bc"));
  // An escaped name is the same name.
  CHECK(string_member(R"({"request\u005fid":"abc"})", "request_id") == Opt("abc"));
  // Nested members, and look-alikes inside strings, do not count.
  CHECK(string_member(R"({"inner":{"request_id":"abc"}})", "request_id") == std::nullopt);
  CHECK(string_member(R"({"list":[{"request_id":"abc"},"request_id"]})", "request_id") ==
        std::nullopt);
  CHECK(string_member(R"({"note":"\"request_id\":\"abc\""})", "request_id") == std::nullopt);
  CHECK(string_member(R"({"inner":{"x":[1,{"y":"}]"}]},"request_id":"ok"})", "request_id") ==
        Opt("ok"));
  // Not a string, missing, or not an object.
  CHECK(string_member(R"({"request_id":12})", "request_id") == std::nullopt);
  CHECK(string_member(R"({"request_id":null,"x":true})", "request_id") == std::nullopt);
  CHECK(string_member(R"({})", "request_id") == std::nullopt);
  CHECK(string_member(R"([{"request_id":"abc"}])", "request_id") == std::nullopt);
  CHECK(string_member(R"({"request_id":"abc")", "request_id") == std::nullopt);
  // A repeated name: the last one, as a parser would keep it.
  CHECK(string_member(R"({"request_id":"first","request_id":"last"})", "request_id") ==
        Opt("last"));
  CHECK(string_member(R"({"request_id":"first","request_id":1})", "request_id") == std::nullopt);
}
