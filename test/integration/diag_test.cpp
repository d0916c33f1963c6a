// SPEC §5 diag/request, the first user of the downlink mechanism, against a
// real broker: a request stored in the database (as rs1ctl diag stores it)
// is held while the device is offline, never sent before its SUBSCRIBE,
// delivered after a reconnect and subscribe, once, and expires.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/identity.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});

DiagRequest request_for(const std::string& device_id, std::int64_t ttl_s = kDiagTtlS) {
  DiagRequest r;
  r.request_id = random_hex(8);
  r.device_id = device_id;
  r.what = {"wifi", "uptime"};
  r.created_at = unix_s();
  r.expires_at = r.created_at + ttl_s;
  return r;
}

std::string diag_topic(const std::string& id) { return "opticworks/" + id + "/diag/request"; }

}  // namespace

TEST_CASE("diag: a request waits for the device's SUBSCRIBE, then goes once", "[diag]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  auto c = connect_device(broker, dev);
  DiagRequest r = request_for(dev.id);
  fleet.store().diag().add(r);
  broker.sync_changes();
  // Logged in, not subscribed: nothing is sent (it would be lost).
  std::this_thread::sleep_for(300ms);
  REQUIRE(c->subscribe(diag_topic(dev.id), 1) == 1);
  auto m = c->wait_for_message(3s);
  REQUIRE(m);
  CHECK(m->topic == diag_topic(dev.id));
  CHECK(m->qos == 1);
  auto payload = json::parse(m->payload);
  CHECK(payload["request_id"] == r.request_id);
  CHECK(payload["what"] == json::array({"wifi", "uptime"}));
  CHECK_FALSE(c->wait_for_message(500ms));  // once
  // The database records that it went out.
  REQUIRE(wait_until([&] { return fleet.store().diag().get(r.request_id)->sent_at.has_value(); }, 3s));
  CHECK(fleet.store().diag().pending(unix_s()).empty());
}

TEST_CASE("diag: held while offline, delivered after reconnect and subscribe, never to another device",
          "[diag]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Device other = fleet.add_device("dev-b");
  Account svc = fleet.add_account("backend", Role::service);
  broker.sync_changes();
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#", 1) == 1);
  auto b = connect_device(broker, other);
  REQUIRE(b->subscribe(diag_topic(other.id), 1) == 1);

  {
    // An earlier session subscribed, then went away.
    auto c = connect_device(broker, dev);
    REQUIRE(c->subscribe(diag_topic(dev.id), 1) == 1);
    c->disconnect();
    REQUIRE(wait_until([&] { return !fleet.online(dev.id); }, 3s));
  }
  DiagRequest r = request_for(dev.id);
  fleet.store().diag().add(r);
  broker.sync_changes();
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(watcher->wait_for_message(200ms));  // not published while the device is offline
  CHECK_FALSE(fleet.store().diag().get(r.request_id)->sent_at);

  // A new session: the old session's SUBSCRIBE does not count.
  auto c = connect_device(broker, dev);
  CHECK_FALSE(c->wait_for_message(500ms));
  REQUIRE(c->subscribe(diag_topic(dev.id), 1) == 1);
  auto m = c->wait_for_message(3s);
  REQUIRE(m);
  CHECK(json::parse(m->payload)["request_id"] == r.request_id);
  CHECK_FALSE(b->wait_for_message(300ms));  // another device never receives it
}

TEST_CASE("diag: a request stored while the broker was down goes out after the restart",
          "[diag]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.stop();
  DiagRequest r = request_for(dev.id);
  fleet.store().diag().add(r);
  broker.start();
  auto c = connect_device(broker, dev);
  REQUIRE(c->subscribe(diag_topic(dev.id), 1) == 1);
  auto m = c->wait_for_message(3s);
  REQUIRE(m);
  CHECK(json::parse(m->payload)["request_id"] == r.request_id);
}

TEST_CASE("diag: an expired request is never sent", "[diag]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  DiagRequest r = request_for(dev.id, 1);  // expires in a second
  fleet.store().diag().add(r);
  broker.sync_changes();
  std::this_thread::sleep_for(2100ms);
  auto c = connect_device(broker, dev);
  REQUIRE(c->subscribe(diag_topic(dev.id), 1) == 1);
  CHECK_FALSE(c->wait_for_message(1s));
  CHECK_FALSE(fleet.store().diag().get(r.request_id)->sent_at);
}

TEST_CASE("diag: at most 16 requests wait for one device", "[diag]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  for (std::size_t i = 0; i < kDiagHeldPerDevice; ++i) fleet.store().diag().add(request_for(dev.id));
  try {
    fleet.store().diag().add(request_for(dev.id));
    FAIL("a 17th waiting request was stored");
  } catch (const StoreError& e) {
    CHECK(e.kind() == StoreError::Kind::conflict);
  }
  broker.sync_changes();
  auto c = connect_device(broker, dev);
  REQUIRE(c->subscribe(diag_topic(dev.id), 1) == 1);
  std::size_t got = 0;
  while (c->wait_for_message(1s)) ++got;
  CHECK(got == kDiagHeldPerDevice);
}
