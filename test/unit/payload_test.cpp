// Payload rules (SPEC §5): the reason a device message is dropped, the
// ota/status and config/status schemas, and what the store keeps of a state.
#include "core/payload.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "unit_support.hpp"

using namespace rs1;

namespace {

// A valid JSON object of exactly `size` bytes: {"p":"xxx…"}.
std::string object_of_size(std::size_t size) {
  const std::size_t overhead = std::string(R"({"p":""})").size();
  REQUIRE(size >= overhead);
  return R"({"p":")" + std::string(size - overhead, 'x') + R"("})";
}

const char* reason_name(const std::optional<DropReason>& r) {
  return r ? drop_reason_name(*r) : "accepted";
}

}  // namespace

TEST_CASE("payload: drop reasons have their metric label names", "[payload]") {
  CHECK(std::string(drop_reason_name(DropReason::too_large)) == "too_large");
  CHECK(std::string(drop_reason_name(DropReason::not_json_object)) == "not_json_object");
  CHECK(std::string(drop_reason_name(DropReason::invalid_schema)) == "invalid_schema");
  CHECK(std::string(drop_reason_name(DropReason::rate_limited)) == "rate_limited");
  CHECK(std::string(drop_reason_name(DropReason::queue_full)) == "queue_full");
}

TEST_CASE("payload: size limit is inclusive", "[payload]") {
  auto kind = GENERATE(DeviceTopic::state, DeviceTopic::telemetry);
  const std::size_t limit = 64;
  CAPTURE(static_cast<int>(kind));
  CHECK_FALSE(check_uplink(kind, object_of_size(limit), limit));
  CHECK(reason_name(check_uplink(kind, object_of_size(limit + 1), limit)) ==
        std::string("too_large"));
  // Size is checked first: an oversized non-object is "too_large".
  CHECK(reason_name(check_uplink(kind, std::string(limit + 1, 'x'), limit)) ==
        std::string("too_large"));
  CHECK(reason_name(check_uplink(kind, std::string(limit, 'x'), limit)) ==
        std::string("not_json_object"));
  // The default limit of SPEC §3.
  CHECK_FALSE(check_uplink(kind, object_of_size(65536), 65536));
  CHECK(reason_name(check_uplink(kind, object_of_size(65537), 65536)) == std::string("too_large"));
}

TEST_CASE("payload: state and telemetry accept any object", "[payload]") {
  auto kind = GENERATE(DeviceTopic::state, DeviceTopic::telemetry);
  auto [payload, reason] = GENERATE(table<std::string, std::string>({
      {"{}", "accepted"},
      {R"({"temp":21.5,"hum":40})", "accepted"},
      {R"({"nested":{"a":[1,"x"]}})", "accepted"},
      // Schemas are for ota/status and config/status only.
      {R"({"rollout_id":"x"})", "accepted"},
      {"[]", "not_json_object"},
      {"[{}]", "not_json_object"},
      {"", "not_json_object"},
      {"null", "not_json_object"},
      {"42", "not_json_object"},
      {"\"text\"", "not_json_object"},
      {"{", "not_json_object"},
      {"{}{}", "not_json_object"},
      {"temp=21.5", "not_json_object"},
      {"{\"a\":\"\xFF\"}", "not_json_object"},
  }));
  CAPTURE(static_cast<int>(kind), payload);
  CHECK(reason_name(check_uplink(kind, payload, 65536)) == reason);
}

TEST_CASE("payload: ota/status schema", "[payload]") {
  auto [payload, reason] = GENERATE(table<std::string, std::string>({
      {R"({"rollout_id":7,"version":"1.2.3","status":"downloading","progress":0})", "accepted"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"verifying","progress":50})", "accepted"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"installing","progress":99})", "accepted"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"success","progress":100})", "accepted"},
      {R"({"rollout_id":0,"version":"1","status":"failed","progress":3,"error":"sha256 mismatch"})",
       "accepted"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"failed","progress":0,"error":null})",
       "accepted"},
      // Newer firmware may add fields.
      {R"({"rollout_id":7,"version":"1.2.3","status":"success","progress":100,"extra":[1]})",
       "accepted"},
      // Missing fields.
      {R"({"version":"1.2.3","status":"success","progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"status":"success","progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"success"})", "invalid_schema"},
      {"{}", "invalid_schema"},
      // Wrong types and values.
      {R"({"rollout_id":"7","version":"1.2.3","status":"success","progress":100})",
       "invalid_schema"},
      {R"({"rollout_id":-1,"version":"1.2.3","status":"success","progress":100})",
       "invalid_schema"},
      {R"({"rollout_id":7.5,"version":"1.2.3","status":"success","progress":100})",
       "invalid_schema"},
      {R"({"rollout_id":7.0,"version":"1.2.3","status":"success","progress":100})",
       "invalid_schema"},
      {R"({"rollout_id":null,"version":"1.2.3","status":"success","progress":100})",
       "invalid_schema"},
      {R"({"rollout_id":9223372036854775808,"version":"1.2.3","status":"success","progress":1})",
       "invalid_schema"},
      {R"({"rollout_id":7,"version":123,"status":"success","progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"","status":"success","progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"done","progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"SUCCESS","progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":1,"progress":100})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"success","progress":101})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"success","progress":-1})", "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"success","progress":50.5})",
       "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"success","progress":"100"})",
       "invalid_schema"},
      {R"({"rollout_id":7,"version":"1.2.3","status":"failed","progress":0,"error":42})",
       "invalid_schema"},
      // Not an object at all is its own reason.
      {R"([{"rollout_id":7}])", "not_json_object"},
  }));
  CAPTURE(payload);
  CHECK(reason_name(check_uplink(DeviceTopic::ota_status, payload, 65536)) == reason);
}

TEST_CASE("payload: parse_ota_status returns the report", "[payload]") {
  auto r = parse_ota_status(
      R"({"rollout_id":12,"version":"2.0.1","status":"failed","progress":40,"error":"disk full"})");
  REQUIRE(r);
  CHECK(r->rollout_id == 12);
  CHECK(r->version == "2.0.1");
  CHECK(r->status == "failed");
  CHECK(r->progress == 40);
  CHECK(r->error == std::optional<std::string>("disk full"));

  auto no_error =
      parse_ota_status(R"({"rollout_id":1,"version":"2.0.1","status":"success","progress":100})");
  REQUIRE(no_error);
  CHECK_FALSE(no_error->error);
}

TEST_CASE("payload: config/status schema", "[payload]") {
  auto [payload, reason] = GENERATE(table<std::string, std::string>({
      {R"({"version":1,"status":"applied"})", "accepted"},
      {R"({"version":3,"status":"rejected","error":"zone 2: self-intersecting"})", "accepted"},
      {R"({"version":3,"status":"applied","error":null,"extra":true})", "accepted"},
      {R"({"status":"applied"})", "invalid_schema"},
      {R"({"version":3})", "invalid_schema"},
      {R"({"version":"3","status":"applied"})", "invalid_schema"},
      {R"({"version":3.5,"status":"applied"})", "invalid_schema"},
      {R"({"version":0,"status":"applied"})", "invalid_schema"},  // versions start at 1
      {R"({"version":-2,"status":"applied"})", "invalid_schema"},
      {R"({"version":3,"status":"ok"})", "invalid_schema"},
      {R"({"version":3,"status":"Applied"})", "invalid_schema"},
      {R"({"version":3,"status":"rejected","error":1})", "invalid_schema"},
      {"[]", "not_json_object"},
  }));
  CAPTURE(payload);
  CHECK(reason_name(check_uplink(DeviceTopic::config_status, payload, 65536)) == reason);
}

TEST_CASE("payload: parse_config_status returns the report", "[payload]") {
  auto r = parse_config_status(R"({"version":4,"status":"rejected","error":"bad zone"})");
  REQUIRE(r);
  CHECK(r->version == 4);
  CHECK(r->status == "rejected");
  CHECK(r->error == std::optional<std::string>("bad zone"));
}

TEST_CASE("payload: parse_state extracts the firmware version", "[payload]") {
  auto [payload, firmware] = GENERATE(table<std::string, std::optional<std::string>>({
      {R"({"firmware_version":"1.4.2","uptime":5})", std::string("1.4.2")},
      {R"({"version":"1.3.0"})", std::string("1.3.0")},
      // firmware_version wins over version.
      {R"({"version":"1.3.0","firmware_version":"1.4.2"})", std::string("1.4.2")},
      // Only strings count.
      {R"({"firmware_version":142,"version":"1.3.0"})", std::string("1.3.0")},
      {R"({"firmware_version":142})", std::nullopt},
      {R"({"firmware_version":null})", std::nullopt},
      {R"({"uptime":5})", std::nullopt},
      {"{}", std::nullopt},
      // Only top-level fields.
      {R"({"fw":{"version":"9.9.9"}})", std::nullopt},
  }));
  CAPTURE(payload);
  auto state = parse_state(payload);
  REQUIRE(state);
  CHECK(state->firmware_version == firmware);
}

TEST_CASE("payload: parse_state rejects what is not an object", "[payload]") {
  auto payload = GENERATE(as<std::string>{}, "", "[]", "\"1.0\"", "{", "null");
  CAPTURE(payload);
  CHECK_FALSE(parse_state(payload));
}
