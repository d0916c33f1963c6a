// What outlives a message against a real broker: last wills obey the
// payload rules, device uplinks are never kept as retained messages, a
// deleted device leaves nothing retained, and metric names are bounded.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;

namespace {

const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});

// A new connection of `account` under its own client id, subscribed to
// `filter`: what a subscriber arriving now is sent (retained messages).
std::unique_ptr<MqttClient> new_subscriber(const BrokerRunner& broker, const Account& account,
                                           const std::string& client_id,
                                           const std::string& filter) {
  auto c = std::make_unique<MqttClient>(client_id);
  c->credentials(account.username, account.password);
  REQUIRE(c->connect(broker.port()) == 0);
  REQUIRE(c->subscribe(filter, 1) == 1);
  return c;
}

}  // namespace

TEST_CASE("retain: a device's will that breaks the payload rules is not delivered", "[retain]") {
  DeviceAndService t(kFastFlush);
  BrokerRunner& broker = t.broker;
  Fleet& fleet = t.fleet;
  const Device& dev = t.dev;
  const Account& svc = t.svc;
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#", 1) == 1);

  auto bad = std::make_unique<MqttClient>(dev.id, Protocol::v5);
  bad->credentials(dev.id, dev.password());
  bad->will("opticworks/dev-a/state", std::string(60000, 'x'), 1, true);
  REQUIRE(bad->connect(broker.port()) == 0);
  bad->kill_network();
  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 5s));
  CHECK_FALSE(watcher->wait_for_message(1s));

  // A valid will is delivered, but not retained.
  auto good = std::make_unique<MqttClient>(dev.id, Protocol::v5);
  good->credentials(dev.id, dev.password());
  good->will("opticworks/dev-a/state", R"({"online":false})", 1, false);
  REQUIRE(good->connect(broker.port()) == 0);
  good->kill_network();
  auto m = watcher->wait_for_message(5s);
  REQUIRE(m);
  CHECK(m->payload == R"({"online":false})");
  CHECK_FALSE(new_subscriber(broker, svc, "late-sub", "opticworks/#")->wait_for_message(500ms));
}

TEST_CASE("retain: device uplinks are routed live but never retained", "[retain]") {
  DeviceAndService t(kFastFlush);
  BrokerRunner& broker = t.broker;
  Fleet& fleet = t.fleet;
  const Device& dev = t.dev;
  const Account& svc = t.svc;
  auto live = connect_account(broker, svc);
  REQUIRE(live->subscribe("opticworks/#", 1) == 1);
  auto d = connect_device(broker, dev);
  REQUIRE(d->publish("opticworks/dev-a/state", R"({"v":1})", 1, /*retain=*/true) == 0);
  REQUIRE(d->publish("opticworks/dev-a/telemetry/env", R"({"t":1})", 1, /*retain=*/true) == 0);
  REQUIRE(live->wait_for_message(3s));
  REQUIRE(live->wait_for_message(3s));
  REQUIRE(writer_barrier(*d, fleet, dev.id));
  CHECK(fleet.device(dev.id)->state == std::optional<std::string>(R"({"v":1})"));

  CHECK_FALSE(new_subscriber(broker, svc, "late-sub", "opticworks/#")->wait_for_message(700ms));
}

TEST_CASE("retain: deleting a device clears the retained messages under its topics", "[retain]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account admin = fleet.add_account("root", Role::admin);
  broker.sync_changes();
  // What an admin (or an older version) left retained for the device.
  auto a = connect_account(broker, admin);
  REQUIRE(a->publish("opticworks/dev-a/config/update", R"({"version":1,"config":{}})", 1, true) == 0);
  REQUIRE(a->publish("opticworks/dev-a/state", R"({"stale":true})", 1, true) == 0);
  {
    auto probe = new_subscriber(broker, admin, "probe-1", "opticworks/dev-a/#");
    REQUIRE(probe->wait_for_message(3s));
    REQUIRE(probe->wait_for_message(3s));
  }
  REQUIRE(fleet.store().devices().remove(dev.id));
  broker.sync_changes();
  CHECK_FALSE(new_subscriber(broker, admin, "probe-2", "opticworks/dev-a/#")->wait_for_message(700ms));
}

TEST_CASE("retain: a metric name over 128 characters or 16 levels is dropped",
          "[retain]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  auto d = connect_device(broker, dev, Protocol::v5);
  CHECK(d->publish("opticworks/dev-a/telemetry/" + std::string(129, 'm'), "{}", 1) == 0x87);
  CHECK(d->publish("opticworks/dev-a/telemetry/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", "{}", 1) == 0x87);
  CHECK(d->publish("opticworks/dev-a/telemetry/" + std::string(128, 'm'), "{}", 1) == 0x10);
  CHECK(d->publish("opticworks/dev-a/telemetry/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", "{}", 1) == 0x10);
  REQUIRE(writer_barrier(*d, fleet, dev.id));
  CHECK(fleet.telemetry(dev.id, std::string(129, 'm')).empty());
  CHECK(fleet.telemetry(dev.id, std::string(128, 'm')).size() == 1);
  CHECK(fleet.telemetry(dev.id, "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p").size() == 1);
}

TEST_CASE("retain: a packet larger than max_packet_size is refused", "[retain]") {
  // The harness's configuration carries broker-config/'s max_packet_size: a
  // 180 KB packet (what 180 KB of v5 user properties on an 8-byte payload
  // would make) disconnects its sender and reaches no subscriber. The
  // plugin's own too_large drop would not disconnect.
  DeviceAndService t(kFastFlush);
  BrokerRunner& broker = t.broker;
  const Device& dev = t.dev;
  const Account& svc = t.svc;
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#", 1) == 1);
  auto d = connect_device(broker, dev);
  d->publish("opticworks/dev-a/telemetry/x", "{\"p\":\"" + std::string(180000, 'p') + "\"}", 1);
  CHECK(d->wait_disconnected(3s));
  CHECK_FALSE(watcher->wait_for_message(500ms));
}
