// SPEC §5 message effects against the real broker: telemetry rows, device
// state, dropped payloads (not stored, not forwarded, client kept), the v5
// PUBACK codes, and the rate limit.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {
constexpr int kRefusedV5 = 0x87;
constexpr int kNoSubscribers = 0x10;
}  // namespace

TEST_CASE("messages: telemetry is stored with device, metric, payload and receive time",
          "[messages]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Device other = fleet.add_device("dev-b");
  auto c = connect_device(broker, dev, Protocol::v5);
  auto o = connect_device(broker, other);

  const std::int64_t before = unix_ms();
  CHECK(c->publish("opticworks/dev-a/telemetry/presence", R"({"people":2,"moving":true})", 1) ==
        kNoSubscribers);
  CHECK(c->publish("opticworks/dev-a/telemetry/env/temp", R"({"c":21.5})", 0) == 0);
  CHECK(c->publish("opticworks/dev-a/telemetry/env/temp", R"({"c":21.75})", 1) == kNoSubscribers);
  CHECK(o->publish("opticworks/dev-b/telemetry/presence", R"({"people":0})", 1) == 0);
  const std::int64_t after_publish = unix_ms();

  REQUIRE(wait_until([&] { return fleet.telemetry_count(dev.id) == 3; }, 3s));
  auto rows = fleet.telemetry(dev.id);
  const std::int64_t after_commit = unix_ms();
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].device_id == "dev-a");
  CHECK(rows[0].metric == "presence");
  CHECK(json::parse(rows[0].payload) == json::parse(R"({"people":2,"moving":true})"));
  CHECK(rows[1].metric == "env/temp");
  CHECK(json::parse(rows[1].payload)["c"] == 21.5);
  CHECK(rows[2].metric == "env/temp");
  CHECK(json::parse(rows[2].payload)["c"] == 21.75);
  for (const auto& r : rows) {
    CHECK(r.received_at_ms >= before);
    CHECK(r.received_at_ms <= after_commit);
  }
  CHECK(rows[0].received_at_ms <= after_publish);
  CHECK(fleet.telemetry(dev.id, std::string("env/temp")).size() == 2);

  REQUIRE(wait_until([&] { return fleet.telemetry_count(other.id) == 1; }, 3s));
  CHECK(fleet.telemetry(other.id)[0].device_id == "dev-b");
}

TEST_CASE("messages: state is stored as the device's last state with last_seen", "[messages]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev);
  const std::int64_t before = unix_s();
  CHECK(c->publish("opticworks/dev-a/state", R"({"firmware_version":"1.0.0","mode":"idle"})", 1) ==
        0);
  CHECK(c->publish("opticworks/dev-a/state", R"({"firmware_version":"1.0.1","mode":"busy"})", 1) ==
        0);
  REQUIRE(wait_until(
      [&] {
        auto d = fleet.device(dev.id);
        return d && d->state && json::parse(*d->state)["mode"] == "busy";
      },
      3s));
  auto d = fleet.device(dev.id);
  REQUIRE(d);
  CHECK(json::parse(*d->state) == json::parse(R"({"firmware_version":"1.0.1","mode":"busy"})"));
  REQUIRE(d->last_seen);
  CHECK(*d->last_seen >= before);
  CHECK(*d->last_seen <= unix_s());
  CHECK(d->online);
  // State is not telemetry.
  CHECK(fleet.telemetry_count(dev.id) == 0);
}

TEST_CASE("messages: invalid device payloads are dropped, not stored and not forwarded",
          "[messages]") {
  BrokerRunner broker(opts({{"max_payload_bytes", "128"}, {"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#") == 1);
  auto c = connect_device(broker, dev, Protocol::v5);

  const std::string big = R"({"pad":")" + std::string(200, 'x') + R"("})";
  const std::pair<std::string, std::string> invalid[] = {
      {"telemetry/t", "not json"},
      {"telemetry/t", "[1,2,3]"},
      {"telemetry/t", "42"},
      {"telemetry/t", R"("text")"},
      {"telemetry/t", "null"},
      {"telemetry/t", ""},
      {"telemetry/t", R"({"a":1} trailing)"},
      {"telemetry/t", R"({"a":1}{"b":2})"},
      {"telemetry/t", R"({"a":)"},
      {"telemetry/t", big},
      {"state", "[1]"},
      {"state", "true"},
      {"state", big},
      {"ota/status",
       R"({"rollout_id":"7","version":"1.4.0","status":"downloading","progress":40})"},
      {"ota/status", R"({"rollout_id":7,"version":140,"status":"downloading","progress":40})"},
      {"ota/status", R"({"rollout_id":7,"version":"1.4.0","status":"bogus","progress":40})"},
      {"ota/status", R"({"rollout_id":7,"version":"1.4.0","status":"success","progress":101})"},
      {"ota/status", R"({"rollout_id":7,"version":"1.4.0","status":"success","progress":-1})"},
      {"ota/status",
       R"({"rollout_id":7,"version":"1.4.0","status":"failed","progress":5,"error":3})"},
      {"ota/status", R"({"version":"1.4.0","status":"success","progress":100})"},
      {"ota/status", R"([{"rollout_id":7}])"},
      {"config/status", R"({"version":3,"status":"maybe"})"},
      {"config/status", R"({"version":"3","status":"applied"})"},
      {"config/status", R"({"status":"applied"})"},
      {"config/status", R"({"version":3})"},
      {"config/status", R"({"version":3,"status":"rejected","error":false})"},
      {"config/status", "applied"},
  };
  for (const auto& [suffix, payload] : invalid) {
    CAPTURE(suffix, payload);
    CHECK(c->publish("opticworks/dev-a/" + suffix, payload, 1) == kRefusedV5);
  }
  // The device is still connected, and what is valid still goes through.
  CHECK(c->connected());
  const std::string ok = R"({"people":1})";
  CHECK(c->publish("opticworks/dev-a/telemetry/t", ok, 1) == 0);
  auto m = watcher->wait_for_message();
  REQUIRE(m);  // the first message the subscriber sees is the valid one
  CHECK(m->topic == "opticworks/dev-a/telemetry/t");
  CHECK(m->payload == ok);
  // Valid ota/status and config/status (with their optional error) pass.
  CHECK(c->publish(
            "opticworks/dev-a/ota/status",
            R"({"rollout_id":7,"version":"1.4.0","status":"failed","progress":0,"error":"disk"})",
            1) == 0);
  CHECK(c->publish("opticworks/dev-a/config/status",
                   R"({"version":3,"status":"rejected","error":"bad zone"})", 1) == 0);
  CHECK(watcher->wait_for_message());
  CHECK(watcher->wait_for_message());

  REQUIRE(writer_barrier(*c, fleet, dev.id));
  auto rows = fleet.telemetry(dev.id, std::string("t"));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].payload == ok);
  CHECK_FALSE(fleet.device(dev.id)->state.has_value());
  CHECK(c->connected());
  CHECK(c->disconnect_code() == 0);
}

TEST_CASE("messages: a dropped payload from a 3.1.1 device does not disconnect it", "[messages]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev, Protocol::v311);
  CHECK(c->publish("opticworks/dev-a/telemetry/t", "garbage", 1) == 0);  // 3.1.1 PUBACK has no code
  CHECK(c->publish("opticworks/dev-a/state", "[]", 0) == 0);
  CHECK(c->connected());
  REQUIRE(writer_barrier(*c, fleet, dev.id));
  CHECK(fleet.telemetry(dev.id, std::string("t")).empty());
  CHECK_FALSE(fleet.device(dev.id)->state.has_value());
}

TEST_CASE("messages: a v5 QoS 1 publisher sees 0x87 for a drop, 0x00 or 0x10 for an accepted one",
          "[messages]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  auto c = connect_device(broker, dev, Protocol::v5);

  // Nobody subscribes: accepted, consumed by the plugin.
  CHECK(c->publish("opticworks/dev-a/telemetry/t", R"({"v":1})", 1) == kNoSubscribers);
  CHECK(c->publish("opticworks/dev-a/state", R"({"v":1})", 1) == kNoSubscribers);
  CHECK(c->publish("opticworks/dev-a/telemetry/t", "[]", 1) == kRefusedV5);

  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/dev-a/telemetry/#") == 1);
  CHECK(c->publish("opticworks/dev-a/telemetry/t", R"({"v":2})", 1) == 0);
  CHECK(c->publish("opticworks/dev-a/telemetry/t", "{", 1) == kRefusedV5);
  CHECK(c->publish("opticworks/dev-a/telemetry/t", R"({"v":3})", 1) == 0);
  CHECK(c->connected());
  auto m1 = watcher->wait_for_message();
  auto m2 = watcher->wait_for_message();
  REQUIRE(m1);
  REQUIRE(m2);
  CHECK(m1->payload == R"({"v":2})");
  CHECK(m2->payload == R"({"v":3})");
}

TEST_CASE("rate limit: messages over rate_limit_per_min are dropped and logged once",
          "[messages][security]") {
  BrokerRunner broker(opts({{"rate_limit_per_min", "10"}, {"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Device quiet = fleet.add_device("dev-b");
  Account svc = fleet.add_account("backend", Role::service);
  auto watcher = connect_account(broker, svc);
  REQUIRE(watcher->subscribe("opticworks/#") == 1);
  auto c = connect_device(broker, dev, Protocol::v5);

  for (int i = 1; i <= 15; ++i) {
    CAPTURE(i);
    int rc = c->publish("opticworks/dev-a/telemetry/t", json{{"i", i}}.dump(), 1);
    if (i <= 10) {
      CHECK(rc == 0);
    } else {
      CHECK(rc == kRefusedV5);
    }
  }
  CHECK(c->connected());
  // The limit is per device: another one is not affected, and its message
  // is the next one the subscriber sees after dev-a's ten.
  auto q = connect_device(broker, quiet);
  REQUIRE(writer_barrier(*q, fleet, quiet.id));
  for (int i = 1; i <= 10; ++i) {
    auto m = watcher->wait_for_message();
    REQUIRE(m);
    CHECK(json::parse(m->payload)["i"] == i);
  }
  auto next = watcher->wait_for_message();
  REQUIRE(next);
  CHECK(next->topic == "opticworks/dev-b/telemetry/barrier");

  CHECK(fleet.telemetry_count(dev.id) == 10);
  auto events = fleet.events("rate_limit_exceeded");
  REQUIRE(events.size() == 1);
  CHECK(events[0].ip == "127.0.0.1");
  CHECK(contains(events[0].details, "dev-a"));
}

TEST_CASE("messages: a payload of exactly max_payload_bytes is accepted and one byte more is not",
          "[messages]") {
  BrokerRunner broker(opts({{"max_payload_bytes", "64"}, {"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev, Protocol::v5);
  auto object_of_size = [](std::size_t n) {
    std::string s = R"({"p":")";
    s += std::string(n - s.size() - 2, 'x');
    s += R"("})";
    return s;
  };
  const std::string at_limit = object_of_size(64);
  const std::string over = object_of_size(65);
  REQUIRE(at_limit.size() == 64);
  REQUIRE(over.size() == 65);
  CHECK(c->publish("opticworks/dev-a/telemetry/size", at_limit, 1) == kNoSubscribers);
  CHECK(c->publish("opticworks/dev-a/telemetry/size", over, 1) == kRefusedV5);
  CHECK(c->publish("opticworks/dev-a/state", at_limit, 1) == kNoSubscribers);
  CHECK(c->publish("opticworks/dev-a/state", over, 1) == kRefusedV5);
  REQUIRE(wait_until([&] { return fleet.device(dev.id)->state == at_limit; }, 3s));
  auto rows = fleet.telemetry(dev.id, std::string("size"));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].payload == at_limit);
}

TEST_CASE("messages: any JSON object is accepted as telemetry and state", "[messages]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev, Protocol::v5);
  const std::string objects[] = {
      "{}",
      R"({"nested":{"deep":[1,2,{"x":null}]},"s":"t\u00e9xt","f":-1.5e3,"b":false})",
      " \n{\"spaced\" : 1 }\t",
  };
  for (const auto& o : objects) {
    CAPTURE(o);
    CHECK(c->publish("opticworks/dev-a/telemetry/any", o, 1) == kNoSubscribers);
    CHECK(c->publish("opticworks/dev-a/state", o, 1) == kNoSubscribers);
  }
  REQUIRE(wait_until([&] { return fleet.telemetry(dev.id, std::string("any")).size() == 3; }, 3s));
  auto rows = fleet.telemetry(dev.id, std::string("any"));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(json::parse(rows[i].payload) == json::parse(objects[i]));
  }
}

TEST_CASE("messages: the metric is the whole topic suffix after telemetry/", "[messages]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev, Protocol::v5);
  // SPEC §5: a device may publish opticworks/{id}/telemetry/#, and the
  // metric is the topic suffix after telemetry/.
  const std::string metrics[] = {
      "temp",
      "env/temp",
      "a.b-c_D9",
      "l1/l2/l3/l4/l5/l6/l7/l8",
      "l1/l2/l3/l4/l5/l6/l7/l8/l9",
      "with space",
      "temp\xc3\xa9rature",  // température
      "m:1",
  };
  for (const auto& m : metrics) {
    CAPTURE(m);
    CHECK(c->publish("opticworks/dev-a/telemetry/" + m, R"({"v":1})", 1) == kNoSubscribers);
  }
  REQUIRE(writer_barrier(*c, fleet, dev.id));
  std::set<std::string> stored;
  for (const auto& r : fleet.telemetry(dev.id)) stored.insert(r.metric);
  for (const auto& m : metrics) {
    CAPTURE(m);
    CHECK(stored.count(m) == 1);
  }
}

TEST_CASE("messages: a state update moves last_seen to the current second", "[messages]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev);
  REQUIRE(wait_until([&] { return fleet.online(dev.id); }, 3s));
  const std::int64_t login_seen = *fleet.device(dev.id)->last_seen;
  // last_seen is kept to the second: wait for the next one.
  REQUIRE(wait_until([&] { return unix_s() > login_seen; }, 2s));
  const std::int64_t now = unix_s();
  CHECK(c->publish("opticworks/dev-a/state", R"({"mode":"idle"})", 1) == 0);
  REQUIRE(wait_until([&] { return fleet.device(dev.id)->state.has_value(); }, 3s));
  const std::int64_t seen = *fleet.device(dev.id)->last_seen;
  CHECK(seen >= now);
  CHECK(seen <= unix_s());
}
