// SPEC §5 config/update and config/status, §6, §8 `zone` against a real
// broker: configs stored by the real rs1ctl, pushed retained on
// config/update only once the device's session has subscribed, answered by
// real MQTT clients (and by rs1-sim), recorded in the database; offline
// devices, broker restarts without persistence, persistent sessions,
// rollback and delete.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

using SteadyClock = std::chrono::steady_clock;

const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

CommandResult ctl(const std::string& db, std::vector<std::string> args,
                  const std::optional<std::string>& stdin_text = std::nullopt) {
  args.insert(args.begin(), {RS1CTL_PATH, "--db", db});
  return run_command(args, {{"RS1_DB", std::nullopt}}, {}, 30s, stdin_text);
}

json ctl_json(const std::string& db, std::vector<std::string> args) {
  args.push_back("--json");
  CommandResult r = ctl(db, args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

// `rs1ctl zone set ID --file F` with config `text`: the new show document.
json zone_set(const BrokerRunner& broker, const std::string& id, const std::string& text) {
  static int n = 0;
  const std::string file = write_file(broker.dir(), "zones-" + std::to_string(++n) + ".json", text);
  return ctl_json(broker.db_path(), {"zone", "set", id, "--file", file});
}

json zone_show(const std::string& db, const std::string& id) {
  return ctl_json(db, {"zone", "show", id});
}

std::string topic(const std::string& id, const char* suffix) {
  return "opticworks/" + id + "/" + suffix;
}

// The next config/update the client receives.
json next_update(MqttClient& c, const std::string& id, Millis timeout = 3s) {
  auto m = c.wait_for_message(timeout);
  REQUIRE(m);
  CHECK(m->topic == topic(id, "config/update"));
  CHECK(m->qos == 1);
  return json::parse(m->payload);
}

void ack(MqttClient& c, const std::string& id, std::int64_t version, const std::string& status,
         const std::optional<std::string>& error = std::nullopt) {
  json j = {{"version", version}, {"status", status}};
  if (error) j["error"] = *error;
  REQUIRE(c.publish(topic(id, "config/status"), j.dump(), 1) == 0);
}

// Waits (3 s) until `zone show` has `field` == `value`.
bool show_reaches(const std::string& db, const std::string& id, const char* field,
                  const json& value) {
  return wait_until([&] { return zone_show(db, id)[field] == value; }, 3s, 50ms);
}

// A fresh connection of `account` subscribed to `filter`: what a subscriber
// arriving now is sent (retained messages).
std::optional<Message> retained_for_new_subscriber(const BrokerRunner& broker,
                                                   const Account& account,
                                                   const std::string& filter) {
  MqttClient c("late-" + random_hex(4));
  c.credentials(account.username, account.password);
  REQUIRE(c.connect(broker.port()) == 0);
  REQUIRE(c.subscribe(filter, 1) == 1);
  return c.wait_for_message(700ms);
}

}  // namespace

TEST_CASE(
    "zones: push after SUBSCRIBE, retained, applied, rejected, stale ack, rollback, quick sets, "
    "delete",
    "[zones]") {
  DeviceAndService t(kFastFlush);
  BrokerRunner& broker = t.broker;
  const Device& dev = t.dev;
  const std::string& db = broker.db_path();
  auto watcher = connect_account(broker, t.svc);
  REQUIRE(watcher->subscribe(topic(dev.id, "config/update"), 1) == 1);
  auto c = connect_device(broker, dev);

  // Nothing goes before the device's SUBSCRIBE: it would be lost.
  const std::string v1_text = zone_config(2);
  json shown = zone_set(broker, dev.id, v1_text);
  CHECK(shown["desired_version"] == 1);
  CHECK(shown["applied_version"] == nullptr);
  CHECK(shown["status"] == "pending");
  CHECK(shown["config"] == json::parse(v1_text));
  broker.sync_changes();
  CHECK_FALSE(watcher->wait_for_message(400ms));
  CHECK_FALSE(c->wait_for_message(10ms));

  REQUIRE(c->subscribe(topic(dev.id, "config/update"), 1) == 1);
  json u = next_update(*c, dev.id);
  CHECK(u["version"] == 1);
  CHECK(u["config"] == json::parse(v1_text));
  REQUIRE(watcher->wait_for_message(2s));
  // Retained: a subscriber arriving later is sent it too.
  auto kept = retained_for_new_subscriber(broker, t.svc, topic(dev.id, "config/update"));
  REQUIRE(kept);
  CHECK(kept->retain);
  CHECK(json::parse(kept->payload)["version"] == 1);

  ack(*c, dev.id, 1, "applied");
  CHECK(show_reaches(db, dev.id, "applied_version", 1));
  CHECK(zone_show(db, dev.id)["status"] == "applied");

  // While subscribed, each new version arrives within 2 s of zone set.
  std::vector<std::int64_t> latencies_ms;
  for (int i = 0; i < 5; ++i) {
    json s = zone_set(broker, dev.id, zone_config(1, 1 + i));
    const auto set_returned = SteadyClock::now();
    json got = next_update(*c, dev.id, 2s);
    latencies_ms.push_back(
        std::chrono::duration_cast<Millis>(SteadyClock::now() - set_returned).count());
    CHECK(got["version"] == s["desired_version"]);
    CHECK(got["config"]["sensitivity"] == 1 + i);
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::cerr << "zones: zone set -> config/update received, ms (sorted):";
  for (auto ms : latencies_ms) std::cerr << ' ' << ms;
  std::cerr << '\n';
  CHECK(latencies_ms.back() < 2000);
  REQUIRE(watcher->wait_for_message(2s));  // drain what the watcher saw
  while (watcher->wait_for_message(200ms)) {
  }

  // Version 6 rejected, with the device's reason.
  ack(*c, dev.id, 6, "rejected", std::string("zone 1 is too small"));
  CHECK(show_reaches(db, dev.id, "status", "rejected"));
  json history = ctl_json(db, {"zone", "history", dev.id});
  REQUIRE(history.size() == 6);
  CHECK(history[0]["version"] == 6);
  CHECK(history[0]["status"] == "rejected");
  CHECK(history[0]["error"] == "zone 1 is too small");
  CHECK(history[5]["version"] == 1);
  CHECK(history[5]["status"] == "applied");
  CHECK(zone_show(db, dev.id)["applied_version"] == 1);

  // A stale ack: version 7 waits, the device reports 5 applied (late), then 7,
  // then 5 again. Version 5 never counts as 7, nor moves applied back.
  zone_set(broker, dev.id, zone_config(3));
  CHECK(next_update(*c, dev.id)["version"] == 7);
  ack(*c, dev.id, 5, "applied");
  CHECK(show_reaches(db, dev.id, "applied_version", 5));
  CHECK(zone_show(db, dev.id)["status"] == "pending");
  ack(*c, dev.id, 7, "applied");
  CHECK(show_reaches(db, dev.id, "applied_version", 7));
  ack(*c, dev.id, 5, "applied");
  REQUIRE(writer_barrier(*c, t.fleet, dev.id));
  json now_shown = zone_show(db, dev.id);
  CHECK(now_shown["applied_version"] == 7);
  CHECK(now_shown["status"] == "applied");
  // A report for a version never sent changes nothing either.
  ack(*c, dev.id, 99, "applied");
  REQUIRE(writer_barrier(*c, t.fleet, dev.id));
  CHECK(zone_show(db, dev.id)["applied_version"] == 7);
  CHECK_FALSE(c->wait_for_message(200ms));  // answered: nothing is sent again

  // Rollback re-publishes version 1's config as version 8.
  json rb = ctl_json(db, {"zone", "rollback", dev.id, "--version", "1"});
  CHECK(rb["desired_version"] == 8);
  CHECK(rb["status"] == "pending");
  json got = next_update(*c, dev.id);
  CHECK(got["version"] == 8);
  CHECK(got["config"] == json::parse(v1_text));
  CHECK(ctl_json(db, {"zone", "history", dev.id})[0]["rollback_of"] == 1);
  CommandResult bad = ctl(db, {"zone", "rollback", dev.id, "--version", "42"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err == "rs1ctl: device dev-a has no zone version 42 (the newest is 8)\n");

  // Two sets in quick succession: the device ends on the newer one.
  const std::string a = write_file(broker.dir(), "quick-a.json", zone_config(4));
  const std::string b = write_file(broker.dir(), "quick-b.json", zone_config(5));
  REQUIRE(ctl(db, {"zone", "set", dev.id, "--file", a}).exit_code == 0);
  REQUIRE(ctl(db, {"zone", "set", dev.id, "--file", b}).exit_code == 0);
  std::int64_t last = 0;
  json last_config;
  while (auto m = c->wait_for_message(1500ms)) {
    json j = json::parse(m->payload);
    CHECK(j["version"].get<std::int64_t>() > last);  // never an older one after a newer
    last = j["version"];
    last_config = j["config"];
  }
  CHECK(last == 10);
  CHECK(last_config == json::parse(zone_config(5)));
  auto newest = retained_for_new_subscriber(broker, t.svc, topic(dev.id, "config/update"));
  REQUIRE(newest);
  CHECK(json::parse(newest->payload)["version"] == 10);

  // Deleting the device clears its retained config.
  REQUIRE(ctl(db, {"device", "delete", dev.id}).exit_code == 0);
  REQUIRE(c->wait_disconnected(3s));
  auto cleared = retained_for_new_subscriber(broker, t.svc, topic(dev.id, "config/update"));
  CHECK_FALSE(cleared);
  CHECK(ctl(db, {"zone", "show", dev.id}).err == "rs1ctl: device dev-a not found\n");
}

TEST_CASE(
    "zones: offline device on connect, broker restart without persistence, persistent session",
    "[zones]") {
  DeviceAndService t(kFastFlush);
  BrokerRunner& broker = t.broker;
  const Device& dev = t.dev;
  const std::string& db = broker.db_path();
  Device other = t.fleet.add_device("dev-p");
  broker.sync_changes();

  // A persistent session that subscribed, then went away: a config set
  // meanwhile arrives when it comes back, without a new SUBSCRIBE.
  {
    MqttClient p(other.id, Protocol::v311, /*clean_session=*/false);
    p.credentials(other.id, other.password());
    REQUIRE(p.connect(broker.port()) == 0);
    REQUIRE(p.subscribe(topic(other.id, "config/update"), 1) == 1);
    p.disconnect();
  }
  REQUIRE(wait_until([&] { return !t.fleet.online(other.id); }, 3s));
  zone_set(broker, other.id, zone_config(1));
  broker.sync_changes();
  {
    MqttClient p(other.id, Protocol::v311, /*clean_session=*/false);
    p.credentials(other.id, other.password());
    REQUIRE(p.connect(broker.port()) == 0);
    CHECK(next_update(p, other.id)["version"] == 1);
    CHECK_FALSE(p.wait_for_message(300ms));  // once
  }

  // An offline device: the config waits for its connect and SUBSCRIBE.
  zone_set(broker, dev.id, zone_config(2));
  broker.sync_changes();
  {
    auto c = connect_device(broker, dev);
    REQUIRE(c->subscribe(topic(dev.id, "config/update"), 1) == 1);
    json u = next_update(*c, dev.id);
    CHECK(u["version"] == 1);
    // Not answered: a later session is sent it again.
    c->disconnect();
  }
  {
    auto c = connect_device(broker, dev);
    REQUIRE(c->subscribe(topic(dev.id, "config/update"), 1) == 1);
    CHECK(next_update(*c, dev.id)["version"] == 1);
  }

  // Restart without persistence: Mosquitto's retained store is gone, the
  // database still says version 1 is owed, so a subscribing device gets it.
  broker.stop();
  broker.start();
  {
    auto late = retained_for_new_subscriber(broker, t.svc, topic(dev.id, "config/update"));
    CHECK_FALSE(late);  // nothing retained survived: what follows comes from the database
    auto c = connect_device(broker, dev);
    REQUIRE(c->subscribe(topic(dev.id, "config/update"), 1) == 1);
    CHECK(next_update(*c, dev.id)["version"] == 1);
    ack(*c, dev.id, 1, "applied");
    CHECK(show_reaches(db, dev.id, "status", "applied"));
  }
  // A config stored while the broker is down goes out after it starts.
  broker.stop();
  {
    CommandResult r = ctl(db, {"zone", "set", dev.id, "--file", "-"}, zone_config(3));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  broker.start();
  {
    auto c = connect_device(broker, dev);
    REQUIRE(c->subscribe(topic(dev.id, "config/update"), 1) == 1);
    CHECK(next_update(*c, dev.id)["version"] == 2);
    ack(*c, dev.id, 2, "applied");
    CHECK(show_reaches(db, dev.id, "applied_version", 2));
  }
  // Applied: after another restart nothing is owed, nothing is sent.
  broker.stop();
  broker.start();
  auto c = connect_device(broker, dev);
  REQUIRE(c->subscribe(topic(dev.id, "config/update"), 1) == 1);
  CHECK_FALSE(c->wait_for_message(700ms));
}

TEST_CASE(
    "zones: rs1ctl refuses bad files and configs and stores nothing, history keeps the newest 10",
    "[zones]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  fleet.add_device("dev-a");
  const std::string& db = broker.db_path();
  const std::string dir = broker.dir();

  struct Bad {
    std::vector<std::string> args;
    std::string err;
  };
  const std::string invalid = write_file(
      dir, "invalid.json",
      R"({"zones":[{"id":1,"name":"Sofa","type":"detect","points":[[0,0],[100,0],[0,100],[7000,5]]},)"
      R"({"id":1,"name":"Bow","type":"exclude","points":[[0,0],[10,10],[10,0],[0,10]]}]})");
  const std::string not_json = write_file(dir, "broken.json", "{\"zones\": [");
  const std::string good = write_file(dir, "good.json", zone_config(1));
  std::vector<Bad> cases = {
      {{"zone", "set", "dev-a", "--file", invalid},
       "rs1ctl: invalid zone config in " + invalid +
           ": /zones/0/points/3/0: x must be within -6000..6000; /zones/1/id: id 1 is already used "
           "by /zones/0; /zones/1/points/0: the edge from point 0 to point 1 crosses the edge from "
           "point 2 to point 3\n"},
      {{"zone", "set", "dev-a", "--file", not_json},
       "rs1ctl: " + not_json +
           " is not JSON: parse error at line 1, column 12: syntax error while parsing value - "
           "unexpected end of input; expected '[', '{', or a literal\n"},
      {{"zone", "set", "dev-a", "--file", dir + "/missing.json"},
       "rs1ctl: cannot read zone file " + dir + "/missing.json: No such file or directory\n"},
      {{"zone", "set", "dev-a", "--file", dir}, ""},  // a directory: unreadable
      {{"zone", "set", "nobody", "--file", good}, "rs1ctl: device nobody not found\n"},
      {{"zone", "rollback", "dev-a", "--version", "1"},
       "rs1ctl: device dev-a has no zone config\n"},
      {{"zone", "history", "nobody"}, "rs1ctl: device nobody not found\n"},
  };
  for (const auto& bad : cases) {
    CAPTURE(bad.args);
    CommandResult r = ctl(db, bad.args);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    if (!bad.err.empty()) {
      CHECK(r.err == bad.err);
    } else {
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
  }
  json shown = zone_show(db, "dev-a");
  CHECK(shown == json{{"device_id", "dev-a"},
                      {"desired_version", nullptr},
                      {"applied_version", nullptr},
                      {"status", nullptr},
                      {"config", nullptr}});
  CHECK(ctl_json(db, {"zone", "history", "dev-a"}) == json::array());
  // Usage errors exit 2.
  CHECK(ctl(db, {"zone", "set", "dev-a"}).exit_code == 2);
  CHECK(ctl(db, {"zone", "rollback", "dev-a", "--version", "0"}).exit_code == 2);
  CHECK(ctl(db, {"zone", "show", "bad/id"}).exit_code == 2);

  // Twelve versions: the newest 10 are kept; a pruned one cannot come back.
  for (int i = 1; i <= 12; ++i) {
    CommandResult r = ctl(db, {"zone", "set", "dev-a", "--file", "-"}, zone_config(1, 1 + i % 10));
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("zone version " + std::to_string(i) + " stored for dev-a") == 0);
  }
  json history = ctl_json(db, {"zone", "history", "dev-a"});
  REQUIRE(history.size() == 10);
  CHECK(history.front()["version"] == 12);
  CHECK(history.back()["version"] == 3);
  for (const auto& h : history) {
    CHECK(h["status"] == "pending");
    CHECK(h["created_at"].is_number_integer());
  }
  CommandResult pruned = ctl(db, {"zone", "rollback", "dev-a", "--version", "2"});
  CHECK(pruned.exit_code == 1);
  CHECK(pruned.err ==
        "rs1ctl: zone version 2 of dev-a is no longer kept (the newest 10 are kept: 3..12)\n");
  CHECK(zone_show(db, "dev-a")["desired_version"] == 12);
  // Every attempt is in the security log, refused ones too.
  auto events = fleet.events("admin_api_access");
  CHECK(std::count_if(events.begin(), events.end(), [](const SecurityEvent& e) {
          return e.details.find("\"zone set\"") != std::string::npos &&
                 e.details.find("\"failed\"") != std::string::npos;
        }) >= 3);
}

TEST_CASE("zones: rs1-sim devices apply what zone set pushes", "[zones]") {
  BrokerRunner broker(kFastFlush);
  const std::string& db = broker.db_path();
  std::string devices;
  for (const char* id : {"sim-1", "sim-2"}) devices += ctl(db, {"device", "add", id, "--json"}).out;
  const std::string file = write_file(broker.dir(), "devices.json", devices);
  broker.sync_changes();
  auto fleet = std::async(std::launch::async, [&] {
    return run_command(
        {RS1SIM_PATH, "fleet", "--devices", file, "--port", std::to_string(broker.port()),
         "--telemetry-per-min", "0", "--duration", "6", "--json"},
        {}, {}, 30s);
  });
  Fleet store(db);
  REQUIRE(wait_until([&] { return store.online("sim-1") && store.online("sim-2"); }, 4s));
  zone_set(broker, "sim-1", zone_config(2));
  zone_set(broker, "sim-2", zone_config(3));
  CHECK(show_reaches(db, "sim-1", "status", "applied"));
  CHECK(show_reaches(db, "sim-2", "applied_version", 1));
  CommandResult r = fleet.get();
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(json::parse(r.out)["configs_applied"] == 2);
}
