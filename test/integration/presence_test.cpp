// SPEC §4/§5 presence against the real broker: online and offline in the
// database for every way a connection ends, last wills, revocation.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {
const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});
}  // namespace

TEST_CASE("presence: a device is online after login and offline after a clean disconnect",
          "[presence]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  CHECK_FALSE(fleet.online(dev.id));
  const std::int64_t before = unix_s();
  auto c = connect_device(broker, dev);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));
  auto d = fleet.device(dev.id);
  REQUIRE(d->last_seen);
  CHECK(*d->last_seen >= before);

  c->disconnect();
  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
}

TEST_CASE("presence: a device goes offline when its connection drops without DISCONNECT",
          "[presence]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev, Protocol::v5);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));
  c->kill_network();
  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
}

TEST_CASE("presence: a device goes offline after a keepalive timeout", "[presence]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();  // one raw CONNECT, not retried
  RawMqttConnection raw;
  REQUIRE(raw.connect(broker.port(), dev.id, dev.id, dev.password(), 1) == 0);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));
  // Silence: no PINGREQ. Mosquitto checks keepalives every few seconds and
  // closes the socket after 1.5 keepalives.
  REQUIRE(raw.wait_closed_by_broker(15s));
  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
}

TEST_CASE("presence: a failed login for an online device does not mark it offline", "[presence]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));

  {
    MqttClient impostor(dev.id, Protocol::v311);
    impostor.credentials(dev.id, dev.password(-3));
    CHECK(impostor.connect(broker.port()) == 5);
  }
  {
    MqttClient impostor(dev.id, Protocol::v5);
    impostor.credentials(dev.id, "wrong");
    CHECK(impostor.connect(broker.port()) == 0x87);
  }
  {
    MqttClient impostor("dev-a-x", Protocol::v311);  // right password, wrong client id
    impostor.credentials(dev.id, dev.password());
    CHECK(impostor.connect(broker.port()) == 5);
  }
  // The real session is untouched, and the database still says online once
  // everything queued before this barrier is committed.
  CHECK(c->connected());
  REQUIRE(writer_barrier(*c, fleet, dev.id));
  CHECK(fleet.online(dev.id));
}

TEST_CASE("presence: a client id takeover keeps the device online", "[presence]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto first = connect_device(broker, dev, Protocol::v5);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));

  auto second = connect_device(broker, dev, Protocol::v311);
  // The broker closes the old connection (mosquitto 2.0.11 just closes the
  // socket; a DISCONNECT 0x8E may or may not make it out first).
  REQUIRE(first->wait_disconnected(5s));
  REQUIRE(writer_barrier(*second, fleet, dev.id));
  CHECK(fleet.online(dev.id));

  // The new session works fully: its subscriptions and downlinks.
  REQUIRE(second->subscribe("opticworks/dev-a/ota/trigger") == 1);
  CHECK(second->publish("opticworks/dev-a/state", R"({"after":"takeover"})", 1) == 0);

  second->disconnect();
  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
}

TEST_CASE("presence: every device is offline at broker start", "[presence]") {
  BrokerRunner broker(kFastFlush, BrokerRunner::Start::later);
  {
    Fleet fleet(broker.db_path());
    fleet.add_device("dev-a");
    fleet.add_device("dev-b");
    fleet.set_online_by_hand("dev-a", true);
    fleet.set_online_by_hand("dev-b", true);
    REQUIRE(fleet.online("dev-a"));
  }
  broker.start();
  Fleet fleet(broker.db_path());
  CHECK_FALSE(fleet.online("dev-a"));
  CHECK_FALSE(fleet.online("dev-b"));

  // A broker killed with a device online leaves the flag set; the next start
  // clears it.
  Device c = fleet.add_device("dev-c");
  auto client = connect_device(broker, c);
  REQUIRE(wait_until([&] { return fleet.online(c.id); }, 3s));
  broker.kill9();
  client.reset();
  CHECK(fleet.online(c.id));
  broker.start();
  CHECK_FALSE(fleet.online(c.id));
}

TEST_CASE("presence: a device still connected at SIGTERM is offline after the broker exits",
          "[presence]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));
  ExitStatus st = broker.stop();
  CHECK(st.exited);
  CHECK(st.code == 0);
  CHECK_FALSE(fleet.online(dev.id));
}

TEST_CASE("last will: a device's will on its own state reaches subscribers and is not stored",
          "[presence][will]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  broker.sync_changes();
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#") == 1);

  MqttClient c(dev.id, Protocol::v311);
  c.credentials(dev.id, dev.password());
  const std::string will = R"({"online":false,"reason":"will"})";
  c.will("opticworks/dev-a/state", will, 1);
  REQUIRE(c.connect(broker.port()) == 0);
  const std::string state = R"({"online":true,"mode":"idle"})";
  REQUIRE(c.publish("opticworks/dev-a/state", state, 1) == 0);
  auto m = watcher->wait_for_message();
  REQUIRE(m);
  CHECK(m->payload == state);
  REQUIRE(wait_until([&] { return fleet.device(dev.id)->state == state; }, 3s));

  c.kill_network();
  auto w = watcher->wait_for_message();
  REQUIRE(w);
  CHECK(w->topic == "opticworks/dev-a/state");
  CHECK(w->payload == will);

  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
  CHECK(fleet.device(dev.id)->state == state);  // the will was not stored
}

TEST_CASE("last will: a device's will on any other topic is not delivered", "[presence][will]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device a = fleet.add_device("dev-a");
  Device b = fleet.add_device("dev-b");
  Device s = fleet.add_device("dev-s");
  Account adm = fleet.add_account("operator", Role::admin);
  broker.sync_changes();
  auto watcher = connect_account(broker, adm);
  REQUIRE(watcher->subscribe("#") == 1);

  const std::pair<const Device*, std::string> wills[] = {
      {&a, "opticworks/dev-a/telemetry/last"},  // own telemetry
      {&b, "opticworks/dev-a/state"},           // another device's state
  };
  std::vector<std::unique_ptr<MqttClient>> clients;
  for (const auto& [dev, topic] : wills) {
    auto c = std::make_unique<MqttClient>(dev->id, Protocol::v5);
    c->credentials(dev->id, dev->password());
    c->will(topic, R"({"will":true})", 1);
    REQUIRE(c->connect(broker.port()) == 0);
    clients.push_back(std::move(c));
  }
  REQUIRE(wait_until([&] { return fleet.online(a.id) && fleet.online(b.id); }, 3s));
  for (auto& c : clients) c->kill_network();
  REQUIRE(wait_until([&] { return !fleet.online(a.id) && !fleet.online(b.id); }, 3s));

  // Wills go out right after the disconnect; the offline rows come later,
  // through the writer. The first thing the watcher gets is the sentinel.
  auto sc = connect_device(broker, s);
  REQUIRE(sc->publish("opticworks/dev-s/telemetry/sentinel", R"({"ok":true})", 1) == 0);
  auto m = watcher->wait_for_message();
  REQUIRE(m);
  CHECK(m->topic == "opticworks/dev-s/telemetry/sentinel");
  CHECK(fleet.telemetry_count(a.id) == 0);
  CHECK_FALSE(fleet.device(a.id)->state.has_value());
}

TEST_CASE("revocation: a connected device is disconnected within 2 s and cannot log in again",
          "[presence][revocation]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Device other = fleet.add_device("dev-b");
  auto c = connect_device(broker, dev, Protocol::v5);
  auto o = connect_device(broker, other);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));

  const auto t0 = std::chrono::steady_clock::now();
  fleet.revoke(dev.id);
  REQUIRE(c->wait_disconnected(5s));
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  CAPTURE(elapsed.count());
  CHECK(elapsed <= 2000ms);
  CAPTURE(c->disconnect_code());
  CHECK(c->disconnect_code() == 0x98);  // v5: administrative action

  // Kicked is offline; the other device is untouched.
  REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
  CHECK(o->connected());
  CHECK(fleet.online(other.id));

  broker.sync_changes();
  MqttClient again(dev.id, Protocol::v5);
  again.credentials(dev.id, dev.password());
  CHECK(again.connect(broker.port()) == 0x87);
  MqttClient again311(dev.id, Protocol::v311);
  again311.credentials(dev.id, dev.password());
  CHECK(again311.connect(broker.port()) == 5);
}

TEST_CASE("revocation: a device provisioned while the broker runs can log in within 2 s",
          "[presence][revocation]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  // connect_device and connect_account retry a refusal for 2 s (SPEC §8)
  // and fail the test on one after that.
  for (int i = 0; i < 3; ++i) {
    Device dev = fleet.add_device("dev-new-" + std::to_string(i));
    const auto t0 = std::chrono::steady_clock::now();
    auto c = connect_device(broker, dev, i % 2 ? Protocol::v5 : Protocol::v311);
    CHECK(std::chrono::steady_clock::now() - t0 <= 2500ms);
    REQUIRE(writer_barrier(*c, fleet, dev.id));
  }
  // An account too.
  Account svc = fleet.add_account("late-backend", Role::service);
  const auto t0 = std::chrono::steady_clock::now();
  auto s = connect_account(broker, svc);
  CHECK(std::chrono::steady_clock::now() - t0 <= 2500ms);
  CHECK(s->subscribe("opticworks/#") == 1);
}

TEST_CASE("revocation: a re-enabled device can log in again within 2 s", "[presence][revocation]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto login = [&] {
    MqttClient c(dev.id, Protocol::v5);
    c.credentials(dev.id, dev.password());
    return c.connect(broker.port());
  };
  // Known and active first, so the refusal below is the revocation's.
  broker.sync_changes();
  CHECK(login() == 0);
  fleet.revoke(dev.id);
  CHECK(wait_until([&] { return login() == 0x87; }, 3s, 100ms));
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(fleet.store().devices().set_status(dev.id, "active"));
  CHECK(wait_until([&] { return login() == 0; }, 3s, 100ms));
  CHECK(std::chrono::steady_clock::now() - t0 <= 2s);
}

TEST_CASE("revocation: a deleted device or account is disconnected and cannot log in again",
          "[presence][revocation]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  auto c = connect_device(broker, dev, Protocol::v5);
  auto s = connect_account(broker, svc, Protocol::v5);
  REQUIRE(s->subscribe("opticworks/#") == 1);

  REQUIRE(fleet.store().devices().remove(dev.id));
  REQUIRE(fleet.store().accounts().remove(svc.username));
  CHECK(c->wait_disconnected(2500ms));
  CHECK(s->wait_disconnected(2500ms));

  broker.sync_changes();
  MqttClient again(dev.id, Protocol::v311);
  again.credentials(dev.id, dev.password());
  CHECK(again.connect(broker.port()) == 5);
  MqttClient again_svc("backend-2", Protocol::v311);
  again_svc.credentials(svc.username, svc.password);
  CHECK(again_svc.connect(broker.port()) == 5);
}
