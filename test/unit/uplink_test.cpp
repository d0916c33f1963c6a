// The uplink decision of features/devices/uplink: what each accepted topic
// becomes, and the drops.
#include "features/devices/uplink.hpp"

#include <catch2/catch.hpp>

#include "unit_support.hpp"

using namespace rs1;

namespace {
ParsedTopic topic(const char* t) { return *parse_device_topic(t); }
}  // namespace

TEST_CASE("uplink: telemetry becomes a row with the metric and the payload as sent", "[uplink]") {
  auto d = decide_uplink(7, topic("opticworks/dev-a/telemetry/env/room"), R"({"t":21.5})", 1234567, 65536);
  CHECK_FALSE(d.drop);
  REQUIRE(d.row);
  CHECK(d.row->device_ref == 7);
  CHECK(d.row->metric == "env/room");
  CHECK(d.row->received_at_ms == 1234567);
  CHECK(d.row->payload == R"({"t":21.5})");
  CHECK_FALSE(d.update);
}

TEST_CASE("uplink: state becomes a device update with its firmware version", "[uplink]") {
  auto d = decide_uplink(7, topic("opticworks/dev-a/state"), R"({"version":"1.4.2"})", 5000999, 65536);
  REQUIRE(d.update);
  CHECK(d.update->device_ref == 7);
  CHECK(d.update->last_seen == 5000);
  CHECK(d.update->state == std::optional<std::string>(R"({"version":"1.4.2"})"));
  CHECK(d.update->firmware_version == std::optional<std::string>("1.4.2"));
  CHECK_FALSE(d.update->online);
}

TEST_CASE("uplink: status reports are parsed, drops carry their reason", "[uplink]") {
  auto ota = decide_uplink(1, topic("opticworks/dev-a/ota/status"),
                           R"({"rollout_id":3,"version":"2.0","status":"success","progress":100})", 0, 65536);
  REQUIRE(ota.ota_status);
  CHECK(ota.ota_status->rollout_id == 3);
  auto cfg = decide_uplink(1, topic("opticworks/dev-a/config/status"),
                           R"({"version":2,"status":"applied"})", 0, 65536);
  REQUIRE(cfg.config_status);
  CHECK(cfg.config_status->version == 2);

  auto huge = decide_uplink(1, topic("opticworks/dev-a/state"), R"({"a":1e400,"version":"1"})", 0, 65536);
  REQUIRE(huge.update);  // stored as sent, printed faithfully by rs1ctl
  CHECK(huge.update->state == std::optional<std::string>(R"({"a":1e400,"version":"1"})"));
  CHECK(decide_uplink(1, topic("opticworks/dev-a/state"), "[1]", 0, 65536).drop ==
        std::optional<DropReason>(DropReason::not_json_object));
  CHECK(decide_uplink(1, topic("opticworks/dev-a/ota/status"), "{}", 0, 65536).drop ==
        std::optional<DropReason>(DropReason::invalid_schema));
  CHECK(decide_uplink(1, topic("opticworks/dev-a/telemetry/x"), "{\"a\":\"" + std::string(100, 'a') + "\"}", 0, 50).drop ==
        std::optional<DropReason>(DropReason::too_large));
  const std::string long_metric = "opticworks/dev-a/telemetry/" + std::string(129, 'm');
  CHECK(decide_uplink(1, topic(long_metric.c_str()), "{}", 0, 65536).drop ==
        std::optional<DropReason>(DropReason::invalid_metric));
  CHECK(decide_uplink(1, topic("opticworks/dev-a/diag/request"), "{}", 0, 65536).drop ==
        std::optional<DropReason>(DropReason::invalid_schema));
}
