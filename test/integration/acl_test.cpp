// SPEC §5 topic rules against the real broker: what each role may publish
// and subscribe to, what reaches whom, and the acl_violation log.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

constexpr int kRefused311 = 0x80;
constexpr int kRefusedV5 = 0x87;
constexpr int kNoSubscribers = 0x10;

const std::string kOtaStatus =
    R"({"rollout_id":7,"version":"1.4.0","status":"downloading","progress":40})";
const std::string kConfigStatus = R"({"version":3,"status":"applied"})";

std::vector<json> violations(Fleet& fleet) {
  std::vector<json> out;
  for (const auto& e : fleet.events("acl_violation")) out.push_back(json::parse(e.details));
  return out;
}

bool has_violation(Fleet& fleet, const std::string& topic, const std::string& access) {
  for (const auto& d : violations(fleet)) {
    if (d.value("topic", "") == topic && d.value("access", "") == access) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("acl: a device may publish to its own uplink topics", "[acl]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#") == 1);
  auto device = connect_device(broker, dev, Protocol::v5);

  const std::pair<std::string, std::string> uplinks[] = {
      {"opticworks/dev-a/state", R"({"uptime":12})"},
      {"opticworks/dev-a/telemetry/presence", R"({"people":2})"},
      {"opticworks/dev-a/telemetry/env/temp", R"({"c":21.5})"},
      {"opticworks/dev-a/ota/status", kOtaStatus},
      {"opticworks/dev-a/config/status", kConfigStatus},
  };
  for (const auto& [topic, payload] : uplinks) {
    CAPTURE(topic);
    CHECK(device->publish(topic, payload, 1) == 0);
    auto m = watcher->wait_for_message();
    REQUIRE(m);
    CHECK(m->topic == topic);
    CHECK(m->payload == payload);
  }
}

TEST_CASE("acl: a device's publish to a topic that is not its own is dropped and logged", "[acl]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  fleet.add_device("dev-b");
  Device sentinel_dev = fleet.add_device("dev-s");
  Account adm = fleet.add_account("operator", Role::admin);
  auto watcher = connect_account(broker, adm);
  REQUIRE(watcher->subscribe("#") == 1);

  // One publishing device per topic: the log keeps one entry per device and
  // minute, and each of these must be seen.
  const std::pair<std::string, std::string> cases[] = {
      {"dev-p1", "opticworks/dev-b/state"},            // another device's uplink
      {"dev-p2", "opticworks/dev-p2/../dev-b/state"},  // a path trick
      {"dev-p3", "opticworks/dev-p3/telemetry"},       // telemetry without a metric
      {"dev-p4", "opticworks/dev-p4/telemetry/"},      // empty metric
      {"dev-p5", "opticworks/dev-p5/ota/trigger"},     // its own downlink
      {"dev-p6", "opticworks/dev-p6/config/update"},   // its own downlink
      {"dev-p7", "opticworks/dev-p7/unknown"},         // not a topic of SPEC §5
      {"dev-p8", "elsewhere/dev-p8/state"},            // outside the tree
      {"dev-p9", "opticworks/dev-p9/state/extra"},     // below an uplink
  };
  for (const auto& [id, topic] : cases) {
    CAPTURE(id, topic);
    Device d = fleet.add_device(id);
    auto c = connect_device(broker, d, Protocol::v5);
    CHECK(c->publish(topic, R"({"x":1})", 1) == kRefusedV5);
    CHECK(c->connected());  // dropped, not disconnected
  }
  // The watcher sees none of them: the first thing it gets is the sentinel,
  // published after all of them.
  auto s = connect_device(broker, sentinel_dev);
  CHECK(s->publish("opticworks/dev-s/telemetry/sentinel", R"({"ok":true})", 1) == 0);
  auto m = watcher->wait_for_message();
  REQUIRE(m);
  CHECK(m->topic == "opticworks/dev-s/telemetry/sentinel");

  REQUIRE(writer_barrier(*s, fleet, sentinel_dev.id));
  for (const auto& [id, topic] : cases) {
    CAPTURE(id, topic);
    CHECK(has_violation(fleet, topic, "write"));
    CHECK(fleet.telemetry_count(id) == 0);
  }
  CHECK_FALSE(fleet.device("dev-b")->state.has_value());
  auto events = fleet.events("acl_violation");
  REQUIRE(!events.empty());
  CHECK(events.front().ip == "127.0.0.1");
}

TEST_CASE("acl: a 3.1.1 device's publish to another device's topic is not forwarded", "[acl]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device a = fleet.add_device("dev-a");
  fleet.add_device("dev-b");
  Account svc = fleet.add_account("backend", Role::service);
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#") == 1);
  auto c = connect_device(broker, a);
  CHECK(c->publish("opticworks/dev-b/state", R"({"spoofed":true})", 0) == 0);
  CHECK(c->publish("opticworks/dev-b/telemetry/t", R"({"spoofed":true})", 1) ==
        0);  // 3.1.1: plain PUBACK
  CHECK(c->publish("opticworks/dev-a/telemetry/t", R"({"real":true})", 1) == 0);
  auto m = watcher->wait_for_message();
  REQUIRE(m);
  CHECK(m->topic == "opticworks/dev-a/telemetry/t");
  CHECK(c->connected());
}

TEST_CASE("acl: a device may subscribe to its own downlinks and nothing else", "[acl]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  auto protocol = GENERATE(Protocol::v311, Protocol::v5);
  const int refused = protocol == Protocol::v5 ? kRefusedV5 : kRefused311;
  Device dev = fleet.add_device("dev-a");
  fleet.add_device("dev-b");
  auto c = connect_device(broker, dev, protocol);

  for (const std::string own :
       {"opticworks/dev-a/ota/trigger", "opticworks/dev-a/config/update",
        "opticworks/dev-a/diag/request", "$share/g/opticworks/dev-a/ota/trigger"}) {
    CAPTURE(own);
    CHECK(c->subscribe(own, 1) == 1);
  }
  for (const std::string denied :
       {"opticworks/dev-b/ota/trigger", "opticworks/dev-b/config/update", "opticworks/dev-a/#",
        "opticworks/+/ota/trigger", "opticworks/dev-a/+/trigger", "opticworks/dev-a/ota/+", "#",
        "+/dev-a/ota/trigger", "$share/g/opticworks/+/ota/trigger", "$share/g/#",
        "$share/g/opticworks/dev-b/ota/trigger", "opticworks/dev-a/state",
        "opticworks/dev-a/telemetry/x", "$SYS/#", "opticworks/dev-a/ota/trigger/x"}) {
    CAPTURE(denied);
    CHECK(c->subscribe(denied, 1) == refused);
  }
  CHECK(c->connected());
  REQUIRE(writer_barrier(*c, fleet, dev.id));
  CHECK(has_violation(fleet, "opticworks/dev-b/ota/trigger", "subscribe"));
}

TEST_CASE("acl: a device only ever receives its own downlinks", "[acl]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device a = fleet.add_device("dev-a");
  Device b = fleet.add_device("dev-b");
  Account adm = fleet.add_account("operator", Role::admin);
  auto ca = connect_device(broker, a);
  auto cb = connect_device(broker, b, Protocol::v5);
  for (auto* c : {ca.get(), cb.get()}) {
    const std::string id = c->client_id();
    REQUIRE(c->subscribe("opticworks/" + id + "/ota/trigger") == 1);
    REQUIRE(c->subscribe("opticworks/" + id + "/diag/request") == 1);
  }
  auto op = connect_account(broker, adm);
  const std::string trigger =
      R"({"rollout_id":1,"version":"2.0.0","url":"u","sha256":"s","size":1,"expires_at":1})";
  // b's downlinks first: if a could receive them, they would arrive first.
  REQUIRE(op->publish("opticworks/dev-b/ota/trigger", trigger, 1) == 0);
  REQUIRE(op->publish("opticworks/dev-b/diag/request", R"({"request_id":"r","what":[]})", 1) == 0);
  REQUIRE(op->publish("opticworks/dev-a/ota/trigger", trigger, 1) == 0);

  auto ma = ca->wait_for_message();
  REQUIRE(ma);
  CHECK(ma->topic == "opticworks/dev-a/ota/trigger");
  CHECK(ma->payload == trigger);
  auto mb1 = cb->wait_for_message();
  auto mb2 = cb->wait_for_message();
  REQUIRE(mb1);
  REQUIRE(mb2);
  CHECK(mb1->topic == "opticworks/dev-b/ota/trigger");
  CHECK(mb2->topic == "opticworks/dev-b/diag/request");
  CHECK(cb->received_count() == 2);
  CHECK(ca->received_count() == 1);
}

TEST_CASE("acl: a service receives telemetry and sends downlinks a device receives", "[acl]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  auto service = connect_account(broker, svc, Protocol::v5);
  REQUIRE(service->subscribe("opticworks/#") == 1);
  auto device = connect_device(broker, dev);
  REQUIRE(device->subscribe("opticworks/dev-a/diag/request") == 1);
  REQUIRE(device->subscribe("opticworks/dev-a/config/update") == 1);

  CHECK(device->publish("opticworks/dev-a/telemetry/presence", R"({"people":1})", 1) == 0);
  auto up = service->wait_for_message();
  REQUIRE(up);
  CHECK(up->topic == "opticworks/dev-a/telemetry/presence");
  CHECK(up->payload == R"({"people":1})");

  const std::string diag = R"({"request_id":"r-1","what":["wifi"]})";
  CHECK(service->publish("opticworks/dev-a/diag/request", diag, 1) == 0);
  auto down = device->wait_for_message();
  REQUIRE(down);
  CHECK(down->topic == "opticworks/dev-a/diag/request");
  CHECK(down->payload == diag);

  const std::string config = R"({"version":2,"config":{"zones":[]}})";
  CHECK(service->publish("opticworks/dev-a/config/update", config, 1, true) == 0);
  auto cfg = device->wait_for_message();
  REQUIRE(cfg);
  CHECK(cfg->payload == config);
}

TEST_CASE("acl: a retained config/update reaches its device when it subscribes later", "[acl]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device a = fleet.add_device("dev-a");
  Device b = fleet.add_device("dev-b");
  Account svc = fleet.add_account("backend", Role::service);
  auto service = connect_account(broker, svc, Protocol::v5);
  const std::string config_a = R"({"version":4,"config":{"sensitivity":3}})";
  const std::string config_b = R"({"version":9,"config":{"sensitivity":7}})";
  // Nobody subscribes yet: still accepted and retained.
  CHECK(service->publish("opticworks/dev-a/config/update", config_a, 1, true) == kNoSubscribers);
  CHECK(service->publish("opticworks/dev-b/config/update", config_b, 1, true) == kNoSubscribers);

  for (const Device* d : {&a, &b}) {
    auto c = connect_device(broker, *d, Protocol::v5);
    REQUIRE(c->subscribe("opticworks/" + d->id + "/config/update") == 1);
    auto m = c->wait_for_message();
    REQUIRE(m);
    CHECK(m->topic == "opticworks/" + d->id + "/config/update");
    CHECK(m->payload == (d == &a ? config_a : config_b));
    CHECK(m->retain);
  }
}

TEST_CASE("acl: a service may neither publish device uplinks nor subscribe to everything",
          "[acl]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  Account adm = fleet.add_account("operator", Role::admin);
  auto watcher = connect_account(broker, adm);
  REQUIRE(watcher->subscribe("#") == 1);
  auto service = connect_account(broker, svc, Protocol::v5);

  for (const std::string denied : {"#", "+/#", "$SYS/#", "other/#", "$share/g/#"}) {
    CAPTURE(denied);
    CHECK(service->subscribe(denied) == kRefusedV5);
  }
  for (const std::string uplink :
       {"opticworks/dev-a/state", "opticworks/dev-a/telemetry/t", "opticworks/dev-a/ota/status",
        "opticworks/dev-a/config/status", "other/topic"}) {
    CAPTURE(uplink);
    CHECK(service->publish(uplink, R"({"version":1,"status":"applied"})", 1) == kRefusedV5);
  }
  auto device = connect_device(broker, dev);
  CHECK(device->publish("opticworks/dev-a/telemetry/sentinel", R"({"ok":1})", 1) == 0);
  auto m = watcher->wait_for_message();
  REQUIRE(m);
  CHECK(m->topic == "opticworks/dev-a/telemetry/sentinel");
  REQUIRE(writer_barrier(*device, fleet, dev.id));
  CHECK_FALSE(fleet.device(dev.id)->state.has_value());
  CHECK(fleet.telemetry(dev.id, std::string("t")).empty());
}

TEST_CASE("acl: an admin may publish and subscribe anywhere", "[acl]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  fleet.add_device("dev-a");
  Account adm = fleet.add_account("operator", Role::admin);
  Account adm2 = fleet.add_account("operator2", Role::admin);
  auto watcher = connect_account(broker, adm2, Protocol::v5);
  REQUIRE(watcher->subscribe("#") == 1);
  auto op = connect_account(broker, adm, Protocol::v5);
  // Any filter (on the publisher, so the watcher gets one copy of each).
  for (const std::string filter :
       {"$share/g/anything/+", "+/dev-a/#", "$SYS/#", "opticworks/+/ota/trigger"}) {
    CAPTURE(filter);
    CHECK(op->subscribe(filter) == 1);
  }
  for (const std::string topic : {"opticworks/dev-a/state", "opticworks/dev-a/ota/trigger",
                                  "anything/at/all", "opticworks/dev-b/telemetry/x"}) {
    CAPTURE(topic);
    CHECK(op->publish(topic, R"({"by":"admin"})", 1) == 0);
    auto m = watcher->wait_for_message();
    REQUIRE(m);
    CHECK(m->topic == topic);
  }
}

TEST_CASE("acl: repeated denials are throttled in the security log", "[acl][security]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  fleet.add_device("dev-b");
  auto c = connect_device(broker, dev, Protocol::v5);
  for (int i = 0; i < 199; ++i) {
    REQUIRE(c->publish("opticworks/dev-b/state", R"({"spam":)" + std::to_string(i) + "}", 0) == 0);
  }
  // The 200th with QoS 1: its PUBACK says the broker has handled all 200.
  CHECK(c->publish("opticworks/dev-b/state", R"({"spam":199})", 1) == kRefusedV5);
  CHECK(c->connected());
  REQUIRE(writer_barrier(*c, fleet, dev.id));
  auto rows = fleet.events("acl_violation");
  CHECK(rows.size() >= 1);
  CHECK(rows.size() <= 2);
  std::int64_t logged = 0;
  for (const auto& e : rows) logged += 1 + json::parse(e.details).value("suppressed", 0);
  CHECK(logged <= 200);
}
