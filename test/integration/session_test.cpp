// Connections and sessions against a real broker: many connections of one
// account (a takeover is about a client id, never a username) and
// persistent device sessions that receive what was sent while offline.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;

namespace {
const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});
}  // namespace

TEST_CASE("sessions: several connections of one account all keep receiving", "[sessions]") {
  DeviceAndService t(kFastFlush);
  BrokerRunner& broker = t.broker;
  Fleet& fleet = t.fleet;
  const Device& dev = t.dev;
  const Account& svc = t.svc;
  // Two workers sharing the account and an operator's subscriber beside them.
  std::vector<std::unique_ptr<MqttClient>> clients;
  for (const char* id : {"worker-1", "worker-2", "operator-sub"}) {
    auto c = std::make_unique<MqttClient>(id);
    c->credentials(svc.username, svc.password);
    REQUIRE(c->connect(broker.port()) == 0);
    REQUIRE(c->subscribe("opticworks/+/state", 1) == 1);
    clients.push_back(std::move(c));
  }
  auto d = connect_device(broker, dev);
  REQUIRE(d->publish("opticworks/dev-a/state", R"({"n":1})", 1) == 0);
  for (auto& c : clients) {
    INFO(c->client_id());
    auto m = c->wait_for_message(3s);
    REQUIRE(m);
    CHECK(m->payload == R"({"n":1})");
  }
  // Each may still subscribe, unsubscribe and publish a downlink.
  REQUIRE(clients[0]->subscribe("opticworks/dev-a/telemetry/#", 1) == 1);
  CHECK(clients[1]->publish("opticworks/dev-a/diag/request", R"({"request_id":"x","what":[]})", 1) == 0);
  CHECK(fleet.events("acl_violation").empty());
}

TEST_CASE("sessions: a persistent device session receives the QoS 1 downlinks sent while offline",
          "[sessions]") {
  DeviceAndService t(kFastFlush);
  BrokerRunner& broker = t.broker;
  Fleet& fleet = t.fleet;
  const Device& dev = t.dev;
  const Account& svc = t.svc;
  {
    auto c = std::make_unique<MqttClient>(dev.id, Protocol::v311, /*clean_session=*/false);
    c->credentials(dev.id, dev.password());
    REQUIRE(c->connect(broker.port()) == 0);
    REQUIRE(c->subscribe("opticworks/dev-a/ota/trigger", 1) == 1);
    c->disconnect();
  }
  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
  auto backend = connect_account(broker, svc);
  REQUIRE(backend->publish("opticworks/dev-a/ota/trigger", R"({"rollout_id":1})", 1) == 0);
  std::this_thread::sleep_for(200ms);

  auto c = std::make_unique<MqttClient>(dev.id, Protocol::v311, /*clean_session=*/false);
  c->credentials(dev.id, dev.password());
  REQUIRE(c->connect(broker.port()) == 0);
  auto m = c->wait_for_message(3s);
  REQUIRE(m);
  CHECK(m->topic == "opticworks/dev-a/ota/trigger");
  CHECK(m->payload == R"({"rollout_id":1})");
  CHECK(fleet.events("acl_violation").empty());
}
