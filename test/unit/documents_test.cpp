// The JSON of SPEC §8 (rs1ctl --json and the Device API): stored device JSON
// is printed as the device sent it, spliced into documents laid out exactly
// as nlohmann lays them out, and no data can pass for a spliced value. And the
// documents where they decide something of their own: what stands in for
// stored JSON that is not an object, a missing address, the 1-based stage and
// the counts in SPEC order, and devices only when asked.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/json_scan.hpp"
#include "documents/json.hpp"
#include "documents/ota.hpp"
#include "documents/security_log.hpp"
#include "documents/telemetry.hpp"

using rs1::doc::dump_json;
using rs1::doc::Json;
using rs1::doc::raw_object_or_null;
using rs1::doc::string_member;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Valid RFC 8259 text, whatever its top-level value: the strict validator,
// since a double parser refuses 1e400.
bool valid_json(const std::string& text) { return rs1::is_json_object("{\"v\":" + text + "}"); }

}  // namespace

TEST_CASE("documents json: stored objects beyond a double come back byte for byte",
          "[documents][json]") {
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

TEST_CASE("documents json: a parse would have lost what the splice keeps", "[documents][json]") {
  // What object_or_null (a parse) gives, for contrast: this is the defect.
  CHECK(rs1::doc::object_or_null(std::string(R"({"a":1e400})")).is_null());
  CHECK(dump_json(rs1::doc::object_or_null(std::string(R"({"n":123456789012345678901234567890})")),
                  -1) != R"({"n":123456789012345678901234567890})");
}

TEST_CASE("documents json: white space around a stored object goes, text that is not one is null",
          "[documents][json]") {
  CHECK(dump_json(raw_object_or_null(std::string(" \r\n\t{\"a\":1}\n")), -1) == R"({"a":1})");
  for (const std::string bad : {"", "null", "[1]", "{\"a\":1", "{\"a\":1} {}", "{'a':1}",
                                "{\"a\":01}", "{\"a\":NaN}", "\"{}\""}) {
    CAPTURE(bad);
    CHECK(raw_object_or_null(bad).is_null());
  }
  CHECK(raw_object_or_null(std::optional<std::string>()).is_null());
  CHECK(rs1::doc::is_raw_json(raw_object_or_null(std::optional<std::string>("{}"))));
}

TEST_CASE("documents json: no data passes for a spliced value", "[documents][json]") {
  // A string holding JSON stays a string.
  CHECK(dump_json(Json{{"x", R"({"a":1e400})"}}, -1) == R"({"x":"{\"a\":1e400}"})");
  // Parsed data that looks like a binary stays an object; parsing never
  // makes a binary.
  const Json lookalike = Json::parse(R"({"bytes":[123,125],"subtype":74})");
  CHECK_FALSE(rs1::doc::is_raw_json(lookalike));
  CHECK(dump_json(lookalike, -1) == R"({"bytes":[123,125],"subtype":74})");
  // A binary of another subtype (or none) is no raw value either.
  CHECK_FALSE(rs1::doc::is_raw_json(Json::binary({'{', '}'})));
  CHECK_FALSE(rs1::doc::is_raw_json(Json::binary({'{', '}'}, 1)));
  CHECK(rs1::doc::raw_json_text(Json("{}")).empty());
}

TEST_CASE("documents json: documents without raw values are laid out as nlohmann lays them out",
          "[documents][json]") {
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

TEST_CASE("documents json: string_member reads a top-level string without building numbers",
          "[documents][json]") {
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

TEST_CASE("documents: hourly fields that are not one object give {}", "[documents]") {
  auto [stored, shown] = GENERATE(table<std::string, std::string>({
      {R"({"t":{"min":1,"max":3,"avg":2}})", R"({"t":{"min":1,"max":3,"avg":2}})"},
      {"{}", "{}"},
      {"", "{}"},
      {"[1,2]", "{}"},
      {"null", "{}"},
      {"{broken", "{}"},
  }));
  CAPTURE(stored);
  rs1::HourlyAggregate row{"dev-a", "env", 3600, 4, stored};
  CHECK(dump_json(rs1::doc::hourly_row_json(row), -1) ==
        R"({"device_id":"dev-a","metric":"env","hour":3600,"count":4,"fields":)" + shown + "}");
}

TEST_CASE("documents: a security event without an address has a null ip", "[documents]") {
  auto [ip, details, shown] = GENERATE(table<std::string, std::string, std::string>({
      {"10.0.0.1", R"({"n":1})", R"("ip":"10.0.0.1","details":{"n":1})"},
      {"", R"({"n":1})", R"("ip":null,"details":{"n":1})"},
      {"::1", "not json", R"("ip":"::1","details":null)"},
      {"", "[]", R"("ip":null,"details":null)"},
  }));
  CAPTURE(ip, details);
  rs1::SecurityEvent event{"acl_violation", "warning", ip, details, 77};
  CHECK(dump_json(rs1::doc::security_log_json({event}), -1) ==
        R"([{"event_type":"acl_violation","severity":"warning",)" + shown + R"(,"time":77}])");
}

TEST_CASE("documents: a rollout's stage counts from 1 and its counts follow SPEC order",
          "[documents]") {
  rs1::Rollout r;
  r.id = 9;
  r.version = "2.0.0";
  r.stage = GENERATE(0, 2);
  auto device = [](std::string id, rs1::DeviceOtaStatus status, int attempts,
                   std::optional<std::string> error, std::int64_t updated_at) {
    rs1::RolloutDevice d;
    d.device_id = std::move(id);
    d.status = status;
    d.attempts = attempts;
    d.error = std::move(error);
    d.updated_at = updated_at;
    return d;
  };
  r.devices.push_back(device("dev-a", rs1::DeviceOtaStatus::failed, 2, "bad image", 50));
  r.devices.push_back(device("dev-b", rs1::DeviceOtaStatus::success, 1, std::nullopt, 60));
  const rs1::RolloutCounts counts = rs1::count_statuses(r);

  Json plain = rs1::doc::rollout_status_json(r, counts, false);
  CHECK(plain["stage"] == r.stage + 1);
  CHECK_FALSE(plain.contains("devices"));
  CHECK(dump_json(plain["counts"], -1) ==
        R"({"pending":0,"triggered":0,"in_progress":0,"success":1,"failed":1,"timed_out":0,)"
        R"("skipped":0})");
  CHECK(plain == rs1::doc::rollout_json(r, counts));

  Json with_devices = rs1::doc::rollout_status_json(r, counts, true);
  CHECK(dump_json(with_devices["devices"], -1) ==
        R"([{"device_id":"dev-a","status":"failed","attempts":2,"error":"bad image",)"
        R"("updated_at":50},{"device_id":"dev-b","status":"success","attempts":1,)"
        R"("error":null,"updated_at":60}])");
  with_devices.erase("devices");
  CHECK(with_devices == plain);
}
