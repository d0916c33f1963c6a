// `rs1-sim fleet` against a real broker with the plugin: devices provisioned
// by the real rs1ctl, an admin account made by rs1ctl sending downlinks, a
// firmware server on cpp-httplib, and what the broker stored, what an
// operator sees on the wire and what the fleet counted. The fleet runs
// in-process (run_fleet on a thread) and as the built binary.
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/payload.hpp"
#include "harness.hpp"
#include "rs1-sim/client_loop.hpp"
#include "rs1-sim/fleet.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

using SteadyClock = std::chrono::steady_clock;

const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});

CommandResult ctl(const BrokerRunner& broker, std::vector<std::string> args) {
  args.insert(args.begin(), {RS1CTL_PATH, "--db", broker.db_path()});
  args.push_back("--json");
  return run_command(args, {{"RS1_DB", std::nullopt}});
}

// Devices provisioned the way the README says: what `rs1ctl device add
// --json` prints, appended to a file, whose path is returned.
std::string provision_with_rs1ctl(const BrokerRunner& broker, const std::vector<std::string>& ids,
                                  const std::string& name = "devices.json") {
  std::string file = broker.dir() + "/" + name;
  std::ofstream out(file);
  for (const auto& id : ids) {
    auto r = ctl(broker, {"device", "add", id});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    out << r.out;
  }
  return file;
}

// An admin account from `rs1ctl account add NAME --role admin --json`,
// logged in.
std::unique_ptr<MqttClient> admin_with_rs1ctl(const BrokerRunner& broker,
                                              const std::string& name = "ops") {
  auto r = ctl(broker, {"account", "add", name, "--role", "admin"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json account = json::parse(r.out);
  return connect_account(broker, Account{account.at("username"), account.at("password")},
                         Protocol::v5);
}

void revoke_with_rs1ctl(const BrokerRunner& broker, const std::string& id) {
  auto r = ctl(broker, {"device", "revoke", id});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// The fleet on its own thread, stopped by stop() or at destruction.
class RunningFleet {
 public:
  RunningFleet(const std::string& devices_file, sim::FleetOptions options)
      : options_(std::move(options)), devices_(sim::read_devices_file(devices_file)) {
    thread_ = std::thread([this] {
      try {
        report_ = sim::run_fleet(options_, devices_, stop_, status_, &progress_);
      } catch (const std::exception& e) {
        error_ = e.what();
      }
    });
  }
  ~RunningFleet() { stop(); }
  RunningFleet(const RunningFleet&) = delete;
  RunningFleet& operator=(const RunningFleet&) = delete;

  const sim::FleetReport& stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return report_;
  }
  sim::FleetReport now() const { return progress_.latest(); }
  // Waits until the live counters satisfy `pred`.
  bool wait_for(const std::function<bool(const sim::FleetReport&)>& pred, Millis timeout = 10s) {
    return wait_until([&] { return pred(progress_.latest()); }, timeout, 20ms);
  }
  // Only once stopped: the fleet thread writes it.
  std::string status_lines() const { return status_.str(); }
  const std::string& error() const { return error_; }

 private:
  sim::FleetOptions options_;
  std::vector<sim::SimDevice> devices_;
  std::atomic<bool> stop_{false};
  std::ostringstream status_;
  sim::FleetProgress progress_;
  sim::FleetReport report_;
  std::string error_;
  std::thread thread_;
};

sim::FleetOptions options_for(const BrokerRunner& broker) {
  sim::FleetOptions o;
  o.port = broker.port();
  o.telemetry_per_min = 0;
  o.status_every_s = 3600;
  o.install_time = 100ms;
  return o;
}

// Online with its state stored: it has subscribed to its downlinks by then
// (the fleet subscribes before it publishes its state, on one connection).
// A v5 PUBACK that took the message: 0, or 0x10 when nobody subscribes.
bool accepted(int puback) { return puback == 0 || puback == 0x10; }

bool ready(Fleet& fleet, const std::string& id) {
  return wait_until(
      [&] {
        auto d = fleet.device(id);
        return d && d->online && d->state.has_value();
      },
      10s, 20ms);
}

// The next message on `topic` whose JSON has `key` == `value`.
std::optional<json> wait_for(MqttClient& client, const std::string& topic, const std::string& key,
                             const json& value, Millis timeout = 10s) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    auto m = client.wait_for_message(100ms);
    if (!m || m->topic != topic) continue;
    json j = json::parse(m->payload, nullptr, false);
    if (j.is_object() && j.contains(key) && j[key] == value) return j;
  }
  return std::nullopt;
}

// The ota/status messages of `topic`, in order, up to the first that is
// `success` or `failed`; each must pass the plugin's own schema check.
std::vector<json> ota_statuses(MqttClient& client, const std::string& topic, Millis timeout = 15s) {
  std::vector<json> seen;
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    auto m = client.wait_for_message(100ms);
    if (!m || m->topic != topic) continue;
    CAPTURE(m->payload);
    CHECK(parse_ota_status(m->payload).has_value());
    seen.push_back(json::parse(m->payload));
    if (seen.back()["status"] == "success" || seen.back()["status"] == "failed") break;
  }
  return seen;
}

std::vector<std::string> steps_of(const std::vector<json>& statuses) {
  std::vector<std::string> steps;
  for (const auto& s : statuses) steps.push_back(s["status"]);
  return steps;
}

// A firmware server standing in for the broker's /firmware listener: serves
// `/fw/<name>` and counts the requests.
class FirmwareServer {
 public:
  FirmwareServer() {
    server_.Get(R"(/fw/([\w.-]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_;
      auto it = images_.find(req.matches[1]);
      if (it == images_.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FirmwareServer() {
    server_.stop();
    thread_.join();
  }
  void add(const std::string& name, std::string image) {
    std::lock_guard<std::mutex> lock(mu_);
    images_[name] = std::move(image);
  }
  std::string url(const std::string& name) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/fw/" + name;
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::string> images_;
  int requests_ = 0;
};

// Bytes that are not all alike, so a wrong offset would change the hash.
std::string firmware_image(std::size_t size) {
  std::string image(size, '\0');
  std::uint32_t x = 2463534242u;
  for (auto& c : image) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return image;
}

json trigger(std::int64_t rollout_id, const std::string& version, const std::string& url,
             const std::string& sha256, std::size_t size, std::int64_t expires_at) {
  return {{"rollout_id", rollout_id}, {"version", version}, {"url", url},
          {"sha256", sha256},         {"size", size},       {"expires_at", expires_at}};
}

}  // namespace

TEST_CASE(
    "sim fleet: devices provisioned with rs1ctl log in, report their state and send "
    "telemetry",
    "[sim]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  const std::vector<std::string> ids = {"sim-1", "sim-2", "sim-3"};
  std::string file = provision_with_rs1ctl(broker, ids);
  broker.sync_changes();  // known to the broker before the first CONNECT

  auto o = options_for(broker);
  o.telemetry_per_min = 240;  // one every 0.25 s, well under the broker's 600/min
  o.firmware_version = "2.4.1";
  o.status_every_s = 1;
  RunningFleet running(file, o);
  for (const auto& id : ids) {
    CAPTURE(id);
    REQUIRE(ready(fleet, id));
    auto d = fleet.device(id);
    CHECK(d->firmware_version == "2.4.1");
    json state = json::parse(*d->state);
    CHECK(state["model"] == "RS-1");
    CHECK(state["uptime_s"].is_number_integer());
    CHECK(wait_until([&] { return fleet.telemetry_count(id) >= 3; }, 10s, 50ms));
    for (const auto& row : fleet.telemetry(id)) {
      CAPTURE(row.payload);
      CHECK(row.metric == "env");
      CHECK(row.payload.size() >= 150);
      CHECK(row.payload.size() <= 260);
      json p = json::parse(row.payload);
      for (const char* field : {"seq", "temp_c", "humidity_pct", "co2_ppm", "lux", "people"}) {
        CHECK(p[field].is_number());
      }
    }
  }
  // Long enough for a status line.
  REQUIRE(running.wait_for([](const sim::FleetReport& r) { return r.elapsed_s >= 1.2; }));
  const sim::FleetReport& report = running.stop();
  CHECK(running.error().empty());
  CHECK(report.devices == 3);
  CHECK(report.logins == 3);
  CHECK(report.connected == 3);
  CHECK(report.logins_refused == 0);
  CHECK(report.connect_failures == 0);
  CHECK(report.connections_lost == 0);
  CHECK(report.states_sent == 3);
  CHECK(report.messages_refused == 0);
  CHECK(report.messages_sent == report.states_sent + report.telemetry_sent);
  // Every reading the fleet sent is a row: none was refused or lost.
  const auto expected = static_cast<std::size_t>(report.telemetry_sent);
  CHECK(wait_until(
      [&] {
        std::size_t rows = 0;
        for (const auto& id : ids) rows += fleet.telemetry_count(id);
        return rows == expected;
      },
      5s, 50ms));
  // The clean disconnects take the devices offline.
  for (const auto& id : ids) CHECK(wait_until([&] { return !fleet.online(id); }, 5s, 50ms));
  std::string status = running.status_lines();
  CHECK(contains(status, "rs1-sim fleet: 3 devices -> 127.0.0.1:" + std::to_string(broker.port())));
  CHECK(contains(status, "rs1-sim fleet: 3/3 online"));
}

TEST_CASE("sim fleet: a refused login is counted and retried slowly, also after a revocation",
          "[sim]") {
  // Revoked before the broker starts, so it is refused from its first try.
  BrokerRunner broker(BrokerConfig{}, BrokerRunner::Start::later);
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-ok", "sim-revoked", "sim-later"});
  revoke_with_rs1ctl(broker, "sim-revoked");
  broker.start();

  RunningFleet running(file, options_for(broker));
  REQUIRE(running.wait_for([](const sim::FleetReport& r) { return r.logins_refused >= 1; }));
  const auto first_refusal = SteadyClock::now();
  REQUIRE(ready(fleet, "sim-ok"));
  REQUIRE(ready(fleet, "sim-later"));
  REQUIRE(running.wait_for([](const sim::FleetReport& r) { return r.logins == 2; }));

  // A device that never logged in may have been provisioned a moment ago
  // (the broker learns of it within 2 s, SPEC §8): its first refusal is
  // tried once more after 1-3 s, refused again, and then only after a minute.
  REQUIRE(running.wait_for([](const sim::FleetReport& r) { return r.logins_refused == 2; }, 5s));
  const auto second_refusal = SteadyClock::now();
  CHECK(second_refusal - first_refusal >= 800ms);  // jittered 2 s: not at once

  // Revoked while online: kicked within 2 s, back about a second later,
  // refused.
  revoke_with_rs1ctl(broker, "sim-later");
  CHECK(running.wait_for(
      [](const sim::FleetReport& r) { return r.connections_lost == 1 && r.logins_refused == 3; },
      8s));
  // A device retrying at once, or every few seconds, would be counted again
  // here.
  std::this_thread::sleep_for(3s);
  const sim::FleetReport& report = running.stop();
  CHECK(report.logins == 2);
  CHECK(report.logins_refused == 3);
  CHECK(report.connections_lost == 1);
  CHECK(report.connected == 1);
  CHECK_FALSE(fleet.online("sim-revoked"));
  CHECK_FALSE(fleet.online("sim-later"));
}

TEST_CASE("sim fleet: a lost connection comes back after a backoff", "[sim]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  RunningFleet running(file, options_for(broker));
  REQUIRE(ready(fleet, "sim-1"));

  // The same device logs in elsewhere: the broker ends the fleet's session
  // (session taken over), and the fleet takes it back about a second later.
  auto secret = sim::read_devices_file(file).at(0).secret;
  MqttClient other("sim-1", Protocol::v5);
  other.credentials("sim-1", password_for_hour(sha256_hex(secret), "sim-1", hour_of(unix_s())));
  const auto kicked_at = SteadyClock::now();
  REQUIRE(other.connect(broker.port()) == 0);
  REQUIRE(running.wait_for([](const sim::FleetReport& r) { return r.connections_lost == 1; }));
  REQUIRE(other.wait_disconnected(5s));
  CHECK(SteadyClock::now() - kicked_at >= 400ms);  // not at once: jittered 1 s
  REQUIRE(running.wait_for([](const sim::FleetReport& r) { return r.logins == 2; }));
  CHECK(wait_until([&] { return fleet.online("sim-1"); }, 3s));
  const sim::FleetReport& report = running.stop();
  CHECK(report.connections_lost == 1);
  CHECK(report.logins == 2);
  CHECK(report.states_sent == 2);
  CHECK(report.connected == 1);
}

TEST_CASE("sim fleet: a broker that is not there is retried with a growing backoff", "[sim]") {
  // Nobody listens on the port (the runner's broker is never started).
  BrokerRunner absent(BrokerConfig{}, BrokerRunner::Start::later);
  std::string file = absent.dir() + "/devices.json";
  std::ofstream(file) << R"({"device_id":"sim-1","secret":")" << std::string(64, 'b') << "\"}\n";
  auto o = options_for(absent);
  o.port = free_port();
  o.status_every_s = 1;
  RunningFleet running(file, o);
  REQUIRE(running.wait_for([](const sim::FleetReport& r) { return r.elapsed_s >= 5.0; }));
  const sim::FleetReport& report = running.stop();
  // Tries at 0 s, then after 0.5-1.5 s, 1-3 s, 2-6 s, 4-12 s: three or four
  // in 5 s. Retrying every second would almost always make five or more.
  CHECK(report.connect_failures >= 3);
  CHECK(report.connect_failures <= 4);
  CHECK(report.logins == 0);
  CHECK(report.connected == 0);
  CHECK(contains(running.status_lines(), "last error: sim-1: Connection refused"));
}

TEST_CASE("sim fleet: config updates from an admin account are answered on config/status",
          "[sim]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  auto admin = admin_with_rs1ctl(broker);
  REQUIRE(admin->subscribe("opticworks/sim-1/config/status", 1) == 1);

  // Retained, as the broker publishes zone configs: the device finds it
  // when it subscribes.
  json config = {{"version", 1},
                 {"config",
                  {{"zones",
                    {{{"id", 1},
                      {"name", "Sofa"},
                      {"type", "detect"},
                      {"points", {{-1000, 500}, {1000, 500}, {0, 2500}}}}}},
                   {"sensitivity", 5}}}};
  REQUIRE(accepted(admin->publish("opticworks/sim-1/config/update", config.dump(), 1, true)));
  RunningFleet running(file, options_for(broker));
  auto status = wait_for(*admin, "opticworks/sim-1/config/status", "version", 1);
  REQUIRE(status);
  CHECK((*status)["status"] == "applied");
  CHECK_FALSE(status->contains("error"));
  REQUIRE(ready(fleet, "sim-1"));

  json bad = {{"version", 2}, {"config", "zones"}};
  REQUIRE(accepted(admin->publish("opticworks/sim-1/config/update", bad.dump(), 1)));
  status = wait_for(*admin, "opticworks/sim-1/config/status", "version", 2);
  REQUIRE(status);
  CHECK((*status)["status"] == "rejected");
  CHECK((*status)["error"] == "\"config\" is not an object");

  // No version: there is nothing config/status could name, so no answer.
  REQUIRE(accepted(admin->publish("opticworks/sim-1/config/update", R"({"config":{}})", 1)));
  REQUIRE(accepted(admin->publish("opticworks/sim-1/config/update", "not json", 1)));
  json third = {{"version", 3}, {"config", json::object()}};
  REQUIRE(accepted(admin->publish("opticworks/sim-1/config/update", third.dump(), 1)));
  status = wait_for(*admin, "opticworks/sim-1/config/status", "version", 3);
  REQUIRE(status);
  CHECK((*status)["status"] == "applied");

  const sim::FleetReport& report = running.stop();
  CHECK(report.configs_applied == 2);
  CHECK(report.configs_rejected == 1);
  CHECK(report.downlinks_received == 5);
  CHECK(report.messages_refused == 0);  // every config/status passed the plugin's schema
  CHECK(admin->received_count() == 3);
}

TEST_CASE("sim fleet: a diagnostic request is answered on telemetry/diag with its request_id",
          "[sim]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1", "sim-2"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  auto admin = admin_with_rs1ctl(broker);
  REQUIRE(admin->subscribe("opticworks/+/telemetry/diag", 1) == 1);
  auto o = options_for(broker);
  o.firmware_version = "1.2.3";
  RunningFleet running(file, o);
  REQUIRE(ready(fleet, "sim-1"));
  REQUIRE(ready(fleet, "sim-2"));

  json request = {{"request_id", "req-42"}, {"what", {"wifi", "uptime"}}};
  REQUIRE(accepted(admin->publish("opticworks/sim-2/diag/request", request.dump(), 1)));
  auto answer = admin->wait_for_message(5s);
  REQUIRE(answer);
  CHECK(answer->topic == "opticworks/sim-2/telemetry/diag");
  json j = json::parse(answer->payload);
  CHECK(j["request_id"] == "req-42");
  CHECK(j["what"] == json({"wifi", "uptime"}));
  CHECK(j["firmware_version"] == "1.2.3");
  CHECK(j["uptime_s"].is_number_integer());
  CHECK(j["rssi_dbm"].is_number_integer());
  CHECK(j["free_heap_bytes"].is_number_integer());
  // Only the device asked answers.
  CHECK_FALSE(admin->wait_for_message(300ms));
  // The answer is telemetry: the broker stored it.
  CHECK(wait_until([&] { return fleet.telemetry("sim-2", std::string("diag")).size() == 1; }, 5s));
  CHECK(json::parse(fleet.telemetry("sim-2", std::string("diag"))[0].payload)["request_id"] ==
        "req-42");
  CHECK(fleet.telemetry("sim-1", std::string("diag")).empty());

  const sim::FleetReport& report = running.stop();
  CHECK(report.diag_answered == 1);
}

TEST_CASE("sim fleet: an OTA trigger is downloaded, verified, installed and the new version runs",
          "[sim]") {
  FirmwareServer server;
  const std::string image = firmware_image(300 * 1024);
  server.add("rs1-2.0.0.bin", image);

  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  auto admin = admin_with_rs1ctl(broker);
  REQUIRE(admin->subscribe("opticworks/sim-1/ota/status", 1) == 1);
  RunningFleet running(file, options_for(broker));
  REQUIRE(ready(fleet, "sim-1"));
  REQUIRE(fleet.device("sim-1")->firmware_version == "1.0.0");

  json t = trigger(7, "2.0.0", server.url("rs1-2.0.0.bin"), sha256_hex(image), image.size(),
                   unix_s() + 900);
  REQUIRE(accepted(admin->publish("opticworks/sim-1/ota/trigger", t.dump(), 1)));
  auto seen = ota_statuses(*admin, "opticworks/sim-1/ota/status");
  auto steps = steps_of(seen);
  CAPTURE(steps);
  REQUIRE(seen.size() >= 4);
  CHECK(steps.front() == "downloading");
  CHECK(seen.front()["progress"] == 0);
  // Download progress in between, never going back.
  const std::vector<std::string> last(steps.end() - 3, steps.end());
  CHECK(last == std::vector<std::string>{"verifying", "installing", "success"});
  int progress = 0;
  for (const auto& s : seen) {
    CHECK(s["rollout_id"] == 7);
    CHECK(s["version"] == "2.0.0");
    CHECK(s["progress"] >= progress);
    progress = s["progress"];
    if (s["status"] != "downloading") CHECK(s["progress"] == 100);
    CHECK_FALSE(s.contains("error"));
  }
  CHECK(wait_until([&] { return fleet.device("sim-1")->firmware_version == "2.0.0"; }, 5s));
  CHECK(server.requests() == 1);

  const sim::FleetReport& report = running.stop();
  CHECK(report.ota_started == 1);
  CHECK(report.ota_succeeded == 1);
  CHECK(report.ota_failed == 0);
  CHECK(report.messages_refused == 0);
}

TEST_CASE(
    "sim fleet: a wrong image, a missing image or an expired trigger fails and the version "
    "stays",
    "[sim]") {
  FirmwareServer server;
  const std::string image = firmware_image(64 * 1024);
  server.add("good.bin", image);

  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  const std::vector<std::string> ids = {"sim-sha", "sim-size", "sim-404", "sim-expired"};
  std::string file = provision_with_rs1ctl(broker, ids);
  broker.sync_changes();  // known to the broker before the first CONNECT
  auto admin = admin_with_rs1ctl(broker);
  RunningFleet running(file, options_for(broker));
  for (const auto& id : ids) REQUIRE(ready(fleet, id));

  struct Case {
    std::string id;
    json trigger;
    std::vector<std::string> steps;  // the statuses after the first downloading
    std::string error;               // what the failure says, in part
  };
  const std::int64_t later = unix_s() + 900;
  const std::vector<Case> cases = {
      {"sim-sha",
       trigger(1, "2.0.0", server.url("good.bin"), std::string(64, '0'), image.size(), later),
       {"verifying", "failed"},
       "sha256 mismatch"},
      {"sim-size",
       trigger(2, "2.0.0", server.url("good.bin"), sha256_hex(image), image.size() + 1, later),
       {"verifying", "failed"},
       "size mismatch: got 65536 bytes, expected 65537"},
      {"sim-404",
       trigger(3, "2.0.0", server.url("gone.bin"), sha256_hex(image), image.size(), later),
       {"failed"},
       "download failed: HTTP 404"},
      {"sim-expired",
       trigger(4, "2.0.0", server.url("good.bin"), sha256_hex(image), image.size(), unix_s() - 5),
       {"failed"},
       "expired"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.id);
    const std::string topic = "opticworks/" + c.id + "/ota/status";
    REQUIRE(admin->subscribe(topic, 1) == 1);
    REQUIRE(accepted(admin->publish("opticworks/" + c.id + "/ota/trigger", c.trigger.dump(), 1)));
    auto seen = ota_statuses(*admin, topic);
    auto steps = steps_of(seen);
    CAPTURE(steps);
    REQUIRE_FALSE(seen.empty());
    // An expired trigger is refused before any download.
    std::size_t first = 0;
    if (c.id != "sim-expired") {
      CHECK(steps.front() == "downloading");
      while (first < steps.size() && steps[first] == "downloading") ++first;
    }
    CHECK(std::vector<std::string>(steps.begin() + static_cast<std::ptrdiff_t>(first),
                                   steps.end()) == c.steps);
    CHECK(seen.back()["rollout_id"] == c.trigger["rollout_id"]);
    CHECK(seen.back()["version"] == "2.0.0");
    CHECK(contains(seen.back().value("error", ""), c.error));
  }
  // Only the three live triggers reached the server.
  CHECK(server.requests() == 3);
  std::this_thread::sleep_for(300ms);
  for (const auto& id : ids) CHECK(fleet.device(id)->firmware_version == "1.0.0");

  const sim::FleetReport& report = running.stop();
  CHECK(report.ota_started == 3);
  CHECK(report.ota_failed == 4);
  CHECK(report.ota_succeeded == 0);
  CHECK(report.messages_refused == 0);
}

TEST_CASE("sim fleet: --ota-fail-rate 1 makes every install report failed", "[sim]") {
  FirmwareServer server;
  const std::string image = firmware_image(16 * 1024);
  server.add("img.bin", image);
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  auto admin = admin_with_rs1ctl(broker);
  REQUIRE(admin->subscribe("opticworks/sim-1/ota/status", 1) == 1);
  auto o = options_for(broker);
  o.ota_fail_rate = 1;
  RunningFleet running(file, o);
  REQUIRE(ready(fleet, "sim-1"));

  json t =
      trigger(9, "2.0.0", server.url("img.bin"), sha256_hex(image), image.size(), unix_s() + 900);
  REQUIRE(accepted(admin->publish("opticworks/sim-1/ota/trigger", t.dump(), 1)));
  auto seen = ota_statuses(*admin, "opticworks/sim-1/ota/status");
  auto steps = steps_of(seen);
  CAPTURE(steps);
  REQUIRE(steps.size() >= 4);
  CHECK(std::vector<std::string>(steps.end() - 3, steps.end()) ==
        std::vector<std::string>{"verifying", "installing", "failed"});
  CHECK(contains(seen.back().value("error", ""), "--ota-fail-rate"));
  std::this_thread::sleep_for(300ms);
  CHECK(fleet.device("sim-1")->firmware_version == "1.0.0");
  const sim::FleetReport& report = running.stop();
  CHECK(report.ota_failed == 1);
  CHECK(report.ota_succeeded == 0);
}

TEST_CASE("sim fleet: the binary runs for --duration, exits 0 and prints its summary", "[sim]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1", "sim-2"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  const auto start = SteadyClock::now();
  auto r =
      run_command({RS1SIM_PATH, "fleet", "--devices", file, "--port", std::to_string(broker.port()),
                   "--duration", "3", "--telemetry-per-min", "60", "--json"},
                  {}, {}, 30s);
  const auto took = SteadyClock::now() - start;
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(took >= 3s);
  CHECK(took < 10s);
  // One JSON document on one line.
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  json summary = json::parse(r.out, nullptr, false);
  REQUIRE(summary.is_object());
  CHECK(summary["devices"] == 2);
  CHECK(summary["logins"] == 2);
  CHECK(summary["connected"] == 2);
  CHECK(summary["logins_refused"] == 0);
  CHECK(summary["telemetry_sent"] >= 2);
  CHECK(summary["elapsed_s"] >= 3);
  CHECK(contains(r.err, "rs1-sim fleet: 2 devices -> 127.0.0.1:" + std::to_string(broker.port())));
  CHECK(wait_until([&] { return fleet.telemetry_count("sim-1") >= 1; }, 5s));
  CHECK(wait_until([&] { return !fleet.online("sim-1") && !fleet.online("sim-2"); }, 3s));

  // The text summary: one "name value" line each.
  r = run_command({RS1SIM_PATH, "fleet", "--devices", file, "--port", std::to_string(broker.port()),
                   "--duration", "1"},
                  {}, {}, 30s);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "devices             2\n"));
  CHECK(contains(r.out, "logins              2\n"));
  CHECK(contains(r.out, "logins refused      0\n"));
}

TEST_CASE("sim fleet: SIGTERM disconnects the devices and prints the summary", "[sim]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  // `timeout` delivers SIGTERM after 2 s and exits with the fleet's status.
  auto r =
      run_command({"/usr/bin/timeout", "--preserve-status", "-s", "TERM", "2", RS1SIM_PATH, "fleet",
                   "--devices", file, "--port", std::to_string(broker.port()), "--json"},
                  {}, {}, 30s);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  json summary = json::parse(r.out, nullptr, false);
  REQUIRE(summary.is_object());
  CHECK(summary["logins"] == 1);
  CHECK(summary["connected"] == 1);
  // A clean DISCONNECT: offline at once, not after a keepalive timeout.
  CHECK(wait_until([&] { return !fleet.online("sim-1"); }, 3s));
  CHECK(contains(broker.log(), "Client sim-1 disconnected."));
}

TEST_CASE("sim fleet: a bad devices file or bad options are refused clearly", "[sim]") {
  BrokerRunner broker;
  const std::string port = std::to_string(broker.port());
  const std::string secret(64, 'a');
  // rs1ctl's pretty-printed documents; the second has no secret.
  std::string file = broker.dir() + "/bad.json";
  std::ofstream(file) << "{\n  \"device_id\": \"a\",\n  \"secret\": \"" << secret << "\"\n}\n"
                      << "{\n  \"device_id\": \"b\"\n}\n";
  auto r = run_command({RS1SIM_PATH, "fleet", "--devices", file, "--port", port});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "rs1-sim fleet: " + file + ": line 5: no \"secret\" string\n");
  CHECK(r.out.empty());

  // The line of the error inside a document, not where the document starts.
  std::ofstream(file) << "{\"device_id\":\"a\",\"secret\":\"" << secret << "\"}\n\n"
                      << "{\n  \"device_id\": \"b\",\n  \"secret\": nope\n}\n";
  r = run_command({RS1SIM_PATH, "fleet", "--devices", file, "--port", port});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "rs1-sim fleet: " + file + ": line 5: invalid JSON\n");

  r = run_command({RS1SIM_PATH, "fleet", "--devices", broker.dir() + "/missing.json"});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "rs1-sim fleet: cannot read " + broker.dir() +
                     "/missing.json: No such file or directory\n");

  r = run_command({RS1SIM_PATH, "fleet"});
  CHECK(r.exit_code == 2);
  CHECK(contains(r.err, "--devices"));
  r = run_command({RS1SIM_PATH, "fleet", "--devices", file, "--ota-fail-rate", "1.5"});
  CHECK(r.exit_code == 2);
  CHECK(contains(r.err, "--ota-fail-rate"));
  // Nothing reached the broker.
  CHECK_FALSE(contains(broker.log(), "New client connected"));
}

TEST_CASE(
    "sim fleet: --acked-out lists the readings the broker acknowledged and --probe-db times their "
    "commits",
    "[sim]") {
  BrokerRunner broker(kFastFlush);
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1", "sim-2", "sim-3"});
  broker.sync_changes();  // known to the broker before the first CONNECT
  const std::string acked = broker.dir() + "/acked.csv";
  const std::string probes = broker.dir() + "/probe.csv";
  auto r =
      run_command({RS1SIM_PATH, "fleet", "--devices", file, "--port", std::to_string(broker.port()),
                   "--duration", "4", "--telemetry-per-min", "120", "--acked-out", acked,
                   "--probe-db", broker.db_path(), "--probe-out", probes, "--json"},
                  {}, {}, 30s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json summary = json::parse(r.out, nullptr, false);
  REQUIRE(summary.is_object());
  // Two readings a second from each of three devices for about 4 s.
  CHECK(summary["telemetry_acked"] >= 12);
  CHECK(summary["telemetry_acked"] <= summary["telemetry_sent"]);

  // One line per acknowledged reading, each of them a row (SIGTERM commits
  // what is still queued).
  broker.stop();
  std::map<std::string, std::set<std::uint64_t>> stored;
  for (const std::string id : {"sim-1", "sim-2", "sim-3"}) {
    for (const auto& row : fleet.telemetry(id, "env")) {
      stored[id].insert(json::parse(row.payload).at("seq").get<std::uint64_t>());
    }
  }
  std::ifstream in(acked);
  std::int64_t lines = 0, missing = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    std::istringstream fields(line);
    std::string id, seq, sent, acked_at;
    REQUIRE(std::getline(fields, id, ','));
    REQUIRE(std::getline(fields, seq, ','));
    REQUIRE(std::getline(fields, sent, ','));
    REQUIRE(std::getline(fields, acked_at, ','));
    CHECK(std::stoll(acked_at) >= std::stoll(sent));
    if (stored[id].count(std::stoull(seq)) == 0) ++missing;
  }
  CHECK(lines == summary["telemetry_acked"]);
  CHECK(missing == 0);

  // The probe: samples, each one a line, none slower than a few flushes
  // (ingest_flush_ms 50) and none faster than nothing.
  CHECK(summary["probe_samples"] >= 3);
  CHECK(summary["probe_timeouts"] == 0);
  CHECK(summary["commit_p50_ms"] > 0);
  CHECK(summary["commit_p99_ms"] >= summary["commit_p50_ms"]);
  CHECK(summary["commit_max_ms"] >= summary["commit_p99_ms"]);
  CHECK(summary["commit_max_ms"] < 2000);
  std::ifstream samples(probes);
  std::int64_t sample_lines = 0;
  for (std::string line; std::getline(samples, line);) ++sample_lines;
  CHECK(sample_lines == summary["probe_samples"]);
}

TEST_CASE("sim fleet: a simulated device holds one descriptor, no wake-up socket pair", "[sim]") {
  auto open_descriptors = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  struct Quiet : sim::ClientHandler {
  } handler;
  sim::ClientLoop loop;
  const auto before = open_descriptors();
  for (int i = 0; i < 50; ++i) {
    sim::ClientOptions options;
    options.client_id = "fd-" + std::to_string(i);
    loop.add(options, handler);
  }
  // libmosquitto would open two per client here.
  CHECK(open_descriptors() == before);
  // Everyone else still gets real socket pairs.
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  ::close(pair[0]);
  ::close(pair[1]);
}
