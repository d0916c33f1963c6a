// Topic rules (SPEC §5): the ACL decision for every role and access, with
// the topics that are invalid but would naively match (wildcards in a
// published topic, empty levels, "..", a device id that is a prefix of
// another, malformed shared subscriptions).
#include "core/topic_rules.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "unit_support.hpp"

using namespace rs1;

namespace {
const std::string kLong65(65, 'x');
}

TEST_CASE("topic_rules: device dev-a publishing (WRITE)", "[topic_rules]") {
  auto [topic, allowed] = GENERATE(table<std::string, bool>({
      // Its own uplinks.
      {"opticworks/dev-a/state", true},
      {"opticworks/dev-a/ota/status", true},
      {"opticworks/dev-a/config/status", true},
      // Its own downlinks are the broker's to send, not the device's.
      {"opticworks/dev-a/ota/trigger", false},
      {"opticworks/dev-a/config/update", false},
      {"opticworks/dev-a/diag/request", false},
      // Another device's topics, including ids that share a prefix.
      {"opticworks/dev-b/state", false},
      {"opticworks/dev-ab/state", false},
      {"opticworks/dev-/state", false},
      {"opticworks/DEV-A/state", false},
      {"opticworks/dev-ab/telemetry/temp", false},
      // Wildcards in a published topic.
      {"opticworks/+/state", false},
      {"opticworks/dev-a/+", false},
      {"opticworks/#", false},
      {"#", false},
      {"opticworks/dev-a/#", false},
      // Path tricks and empty levels.
      {"opticworks/dev-a/../dev-b/state", false},
      {"opticworks/../dev-b/state", false},
      {"opticworks/dev-a/./state", false},
      {"opticworks//dev-a/state", false},
      {"opticworks/dev-a//state", false},
      {"opticworks/dev-a/state/", false},
      {"/opticworks/dev-a/state", false},
      {"opticworks/dev-a/state/extra", false},
      {"opticworks/dev-a/ota/status/x", false},
      {"opticworks/dev-a/State", false},
      {"Opticworks/dev-a/state", false},
      {"opticworks/dev-a", false},
      {"opticworks/dev-a/", false},
      {"opticworks/", false},
      {"opticworks", false},
      {"", false},
      // A shared-subscription prefix means nothing in a published topic.
      {"$share/g/opticworks/dev-a/state", false},
      {"$SYS/broker/uptime", false},
      {"other/dev-a/state", false},
  }));
  CAPTURE(topic);
  CHECK(acl_allows(Role::device, "dev-a", Access::write, topic) == allowed);
}

TEST_CASE("topic_rules: telemetry needs a metric", "[topic_rules]") {
  // SPEC §5 grants a device all of telemetry/#, and metric = the topic after
  // "telemetry/": any non-empty suffix without a wildcard (README "Topics").
  auto [topic, allowed] = GENERATE(table<std::string, bool>({
      {"opticworks/dev-a/telemetry/temp", true},
      {"opticworks/dev-a/telemetry/a/b", true},
      {"opticworks/dev-a/telemetry/env/temp.c_1-x", true},
      {"opticworks/dev-a/telemetry/diag", true},
      // Empty levels inside the metric are still under telemetry/#: the
      // metric is "/x", "temp/", "a//b".
      {"opticworks/dev-a/telemetry//x", true},
      {"opticworks/dev-a/telemetry/temp/", true},
      {"opticworks/dev-a/telemetry/a//b", true},
      // No metric at all.
      {"opticworks/dev-a/telemetry", false},
      {"opticworks/dev-a/telemetry/", false},
      // Wildcards are never part of a published topic.
      {"opticworks/dev-a/telemetry/+", false},
      {"opticworks/dev-a/telemetry/#", false},
      {"opticworks/dev-a/telemetry/temp/+", false},
      {"opticworks/dev-a/telemetry/te+mp", false},
      {"opticworks/dev-a/telemetry/temp#", false},
      // Not telemetry, or not its own.
      {"opticworks/dev-a/telemetryx/temp", false},
      {"opticworks/dev-a/Telemetry/temp", false},
      {"opticworks/dev-b/telemetry/temp", false},
      {"opticworks/dev-ab/telemetry/temp", false},
      {"opticworks/dev-a/../dev-b/telemetry/temp", false},
  }));
  CAPTURE(topic);
  CHECK(acl_allows(Role::device, "dev-a", Access::write, topic) == allowed);
  auto parsed = parse_device_topic(topic);
  if (allowed) {
    REQUIRE(parsed);
    CHECK(parsed->kind == DeviceTopic::telemetry);
    CHECK("opticworks/dev-a/telemetry/" + std::string(parsed->metric) == topic);
  }
}

TEST_CASE("topic_rules: a device whose id extends another's gets only its own topics",
          "[topic_rules]") {
  CHECK(acl_allows(Role::device, "dev-ab", Access::write, "opticworks/dev-ab/state"));
  CHECK_FALSE(acl_allows(Role::device, "dev-ab", Access::write, "opticworks/dev-a/state"));
  CHECK_FALSE(acl_allows(Role::device, "dev-a", Access::write, "opticworks/dev-ab/state"));
  CHECK(acl_allows(Role::device, "dev-ab", Access::subscribe, "opticworks/dev-ab/ota/trigger"));
  CHECK_FALSE(
      acl_allows(Role::device, "dev-ab", Access::subscribe, "opticworks/dev-a/ota/trigger"));
  CHECK_FALSE(acl_allows(Role::device, "dev-a", Access::read, "opticworks/dev-ab/ota/trigger"));
  CHECK_FALSE(acl_allows(Role::device, "dev-ab", Access::read, "opticworks/dev-a/ota/trigger"));
}

TEST_CASE("topic_rules: delivery to device dev-a (READ)", "[topic_rules]") {
  auto [topic, allowed] = GENERATE(table<std::string, bool>({
      {"opticworks/dev-a/ota/trigger", true},
      {"opticworks/dev-a/config/update", true},
      {"opticworks/dev-a/diag/request", true},
      // Not its own uplinks, nor anyone else's downlinks.
      {"opticworks/dev-a/state", false},
      {"opticworks/dev-a/telemetry/temp", false},
      {"opticworks/dev-a/ota/status", false},
      {"opticworks/dev-a/config/status", false},
      {"opticworks/dev-b/ota/trigger", false},
      {"opticworks/dev-ab/ota/trigger", false},
      {"opticworks/dev-b/config/update", false},
      {"opticworks/dev-a/ota/trigger/x", false},
      {"opticworks/dev-a/../dev-b/ota/trigger", false},
      {"$SYS/broker/uptime", false},
      {"other", false},
      {"", false},
  }));
  CAPTURE(topic);
  CHECK(acl_allows(Role::device, "dev-a", Access::read, topic) == allowed);
}

TEST_CASE("topic_rules: device dev-a subscribing and unsubscribing", "[topic_rules]") {
  auto access = GENERATE(Access::subscribe, Access::unsubscribe);
  auto [filter, allowed] = GENERATE(table<std::string, bool>({
      // Exactly its three downlinks.
      {"opticworks/dev-a/ota/trigger", true},
      {"opticworks/dev-a/config/update", true},
      {"opticworks/dev-a/diag/request", true},
      // A shared subscription to its own exact topic is the same topic.
      {"$share/g/opticworks/dev-a/ota/trigger", true},
      {"$share/group-1/opticworks/dev-a/diag/request", true},
      // Never a wildcard, even one that only covers its own topics.
      {"opticworks/dev-a/#", false},
      {"opticworks/dev-a/+/trigger", false},
      {"opticworks/dev-a/ota/+", false},
      {"opticworks/dev-a/ota/#", false},
      {"opticworks/+/ota/trigger", false},
      {"opticworks/#", false},
      {"#", false},
      {"+/+/+/+", false},
      {"+/dev-a/ota/trigger", false},
      {"$share/g/opticworks/+/ota/trigger", false},
      {"$share/g/opticworks/dev-a/#", false},
      {"$share/g/#", false},
      // Malformed shared subscriptions.
      {"$share//opticworks/dev-a/ota/trigger", false},
      {"$share/g+/opticworks/dev-a/ota/trigger", false},
      {"$share/g#/opticworks/dev-a/ota/trigger", false},
      {"$share/+/opticworks/dev-a/ota/trigger", false},
      {"$share/g", false},
      {"$share/g/", false},
      {"$share/", false},
      // Its uplinks, other devices, and the rest.
      {"opticworks/dev-a/state", false},
      {"opticworks/dev-a/telemetry/temp", false},
      {"opticworks/dev-b/ota/trigger", false},
      {"opticworks/dev-ab/ota/trigger", false},
      {"opticworks/dev-a/../dev-b/ota/trigger", false},
      {"opticworks/dev-a//ota/trigger", false},
      {"$SYS/#", false},
      {"", false},
  }));
  CAPTURE(access, filter);
  CHECK(acl_allows(Role::device, "dev-a", access, filter) == allowed);
}

TEST_CASE("topic_rules: service account publishing (WRITE)", "[topic_rules]") {
  auto [topic, allowed] = GENERATE(table<std::string, bool>({
      // Downlinks of any valid device id.
      {"opticworks/dev-a/ota/trigger", true},
      {"opticworks/dev-a/config/update", true},
      {"opticworks/dev-a/diag/request", true},
      {"opticworks/Other_Device-9/diag/request", true},
      {"opticworks/" + std::string(64, 'x') + "/ota/trigger", true},
      // Never a device's uplink: a service cannot impersonate a device.
      {"opticworks/dev-a/state", false},
      {"opticworks/dev-a/telemetry/temp", false},
      {"opticworks/dev-a/ota/status", false},
      {"opticworks/dev-a/config/status", false},
      // Not a valid device id, wildcards, path tricks.
      {"opticworks/" + kLong65 + "/ota/trigger", false},
      {"opticworks/bad.id/ota/trigger", false},
      {"opticworks/+/ota/trigger", false},
      {"opticworks/#", false},
      {"opticworks//ota/trigger", false},
      {"opticworks/dev-a/../dev-b/ota/trigger", false},
      {"opticworks/dev-a/ota/trigger/", false},
      // Outside the product's tree.
      {"$SYS/broker/uptime", false},
      {"other/topic", false},
      {"", false},
  }));
  CAPTURE(topic);
  CHECK(acl_allows(Role::service, "backend", Access::write, topic) == allowed);
}

TEST_CASE("topic_rules: service account receiving (READ)", "[topic_rules]") {
  auto [topic, allowed] = GENERATE(table<std::string, bool>({
      {"opticworks/dev-a/state", true},
      {"opticworks/dev-a/telemetry/temp", true},
      {"opticworks/dev-a/ota/trigger", true},
      {"$SYS/broker/uptime", false},
      {"other/topic", false},
      {"opticworksx/dev-a/state", false},
  }));
  CAPTURE(topic);
  CHECK(acl_allows(Role::service, "backend", Access::read, topic) == allowed);
}

TEST_CASE("topic_rules: service account subscribing and unsubscribing", "[topic_rules]") {
  auto access = GENERATE(Access::subscribe, Access::unsubscribe);
  auto [filter, allowed] = GENERATE(table<std::string, bool>({
      {"opticworks/#", true},
      {"opticworks/+/state", true},
      {"opticworks/dev-a/telemetry/#", true},
      {"opticworks/+/telemetry/+", true},
      {"$share/backend/opticworks/#", true},
      {"#", false},
      {"+/#", false},
      {"+/+/state", false},
      {"$SYS/#", false},
      {"$SYS/broker/uptime", false},
      {"opticwork/#", false},
      {"opticworksx/#", false},
      {"other/#", false},
      {"$share/g/#", false},
      {"$share/g/+/#", false},
      {"$share//opticworks/#", false},
      {"$share/g+/opticworks/#", false},
      {"$share/g", false},
      {"", false},
  }));
  CAPTURE(access, filter);
  CHECK(acl_allows(Role::service, "backend", access, filter) == allowed);
}

TEST_CASE("topic_rules: admin may do anything", "[topic_rules]") {
  auto access = GENERATE(Access::read, Access::write, Access::subscribe, Access::unsubscribe);
  auto topic = GENERATE(as<std::string>{}, "#", "$SYS/#", "opticworks/dev-a/state",
                        "opticworks/dev-a/ota/trigger", "anything/else", "+/+");
  CAPTURE(access, topic);
  CHECK(acl_allows(Role::admin, "root", access, topic));
}

TEST_CASE("topic_rules: last wills", "[topic_rules]") {
  auto [role, identity, topic, allowed] = GENERATE(table<Role, std::string, std::string, bool>({
      // A device only on its own state topic.
      {Role::device, "dev-a", "opticworks/dev-a/state", true},
      {Role::device, "dev-a", "opticworks/dev-b/state", false},
      {Role::device, "dev-a", "opticworks/dev-ab/state", false},
      {Role::device, "dev-ab", "opticworks/dev-a/state", false},
      {Role::device, "dev-a", "opticworks/dev-a/telemetry/temp", false},
      {Role::device, "dev-a", "opticworks/dev-a/ota/status", false},
      {Role::device, "dev-a", "opticworks/dev-a/config/status", false},
      {Role::device, "dev-a", "opticworks/dev-a/ota/trigger", false},
      {Role::device, "dev-a", "opticworks/+/state", false},
      {Role::device, "dev-a", "opticworks/dev-a/../dev-b/state", false},
      {Role::device, "dev-a", "other/topic", false},
      // A service where it may publish; an admin anywhere.
      {Role::service, "backend", "opticworks/dev-a/ota/trigger", true},
      {Role::service, "backend", "opticworks/dev-a/state", false},
      {Role::service, "backend", "other/topic", false},
      {Role::admin, "root", "other/topic", true},
      {Role::admin, "root", "opticworks/dev-a/state", true},
  }));
  CAPTURE(role, identity, topic);
  CHECK(will_allowed(role, identity, topic) == allowed);
}

TEST_CASE("topic_rules: parse_device_topic extracts the id kind and metric", "[topic_rules]") {
  auto t = parse_device_topic("opticworks/dev-a/telemetry/env/temp");
  REQUIRE(t);
  CHECK(t->device_id == "dev-a");
  CHECK(t->kind == DeviceTopic::telemetry);
  CHECK(t->metric == "env/temp");

  auto [topic, kind] = GENERATE(table<std::string, DeviceTopic>({
      {"opticworks/x/state", DeviceTopic::state},
      {"opticworks/x/ota/status", DeviceTopic::ota_status},
      {"opticworks/x/config/status", DeviceTopic::config_status},
      {"opticworks/x/ota/trigger", DeviceTopic::ota_trigger},
      {"opticworks/x/config/update", DeviceTopic::config_update},
      {"opticworks/x/diag/request", DeviceTopic::diag_request},
  }));
  CAPTURE(topic);
  auto parsed = parse_device_topic(topic);
  REQUIRE(parsed);
  CHECK(parsed->device_id == "x");
  CHECK(parsed->kind == kind);
  CHECK(parsed->metric.empty());
  const bool uplink = kind == DeviceTopic::state || kind == DeviceTopic::ota_status ||
                      kind == DeviceTopic::config_status;
  CHECK(is_uplink(kind) == uplink);
  CHECK(is_uplink(DeviceTopic::telemetry));
}

TEST_CASE("topic_rules: strip_shared_prefix", "[topic_rules]") {
  auto [filter, inner] = GENERATE(table<std::string, std::optional<std::string>>({
      {"opticworks/#", std::string("opticworks/#")},
      {"$share/g/opticworks/#", std::string("opticworks/#")},
      {"$share/g/a/b", std::string("a/b")},
      {"$share/g/#", std::string("#")},
      {"$share//x", std::nullopt},
      {"$share/g+/x", std::nullopt},
      {"$share/g#/x", std::nullopt},
      {"$share/g", std::nullopt},
      {"$share/g/", std::nullopt},
      {"$share/", std::nullopt},
      {"$SYS/#", std::string("$SYS/#")},
  }));
  CAPTURE(filter);
  auto got = strip_shared_prefix(filter);
  CHECK(got.has_value() == inner.has_value());
  if (got && inner) CHECK(std::string(*got) == *inner);
}

TEST_CASE("topic_rules: role names as stored and shown", "[topic_rules]") {
  CHECK(std::string(role_name(Role::device)) == "device");
  CHECK(std::string(role_name(Role::service)) == "service");
  CHECK(std::string(role_name(Role::admin)) == "admin");
}
