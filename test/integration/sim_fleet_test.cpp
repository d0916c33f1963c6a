// `rs1-sim fleet` against a real broker with the plugin: devices provisioned
// by the real rs1ctl, followed by what the broker stored and by what an
// operator account sees on the wire.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "rs1-sim/fleet.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

// Devices provisioned the way the README says: `rs1ctl device add --json`
// appended to a file, which is returned.
std::string provision_with_rs1ctl(const BrokerRunner& broker, const std::vector<std::string>& ids) {
  std::string file = broker.dir() + "/devices.json";
  std::ofstream out(file);
  for (const auto& id : ids) {
    auto r = run_command({RS1CTL_PATH, "--db", broker.db_path(), "device", "add", id, "--json"});
    REQUIRE(r.exit_code == 0);
    out << r.out;
  }
  return file;
}

// The fleet on its own thread until stop() or destruction.
class RunningFleet {
 public:
  RunningFleet(const BrokerRunner& broker, const std::string& devices_file,
               double telemetry_per_min = 0) {
    sim::FleetOptions o;
    o.port = broker.port();
    o.telemetry_per_min = telemetry_per_min;
    o.status_every_s = 3600;
    options_ = o;
    devices_ = sim::read_devices_file(devices_file);
    thread_ = std::thread([this] {
      try {
        report_ = sim::run_fleet(options_, devices_, stop_, status_);
      } catch (const std::exception& e) {
        error_ = e.what();
      }
    });
  }
  ~RunningFleet() { stop(); }
  const sim::FleetReport& stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return report_;
  }
  const std::string& error() const { return error_; }

 private:
  sim::FleetOptions options_;
  std::vector<sim::SimDevice> devices_;
  std::atomic<bool> stop_{false};
  std::ostringstream status_;
  sim::FleetReport report_;
  std::string error_;
  std::thread thread_;
};

// Online with its state stored: it has subscribed to its downlinks by then
// (the fleet subscribes before it publishes its state, on one connection).
bool ready(Fleet& fleet, const std::string& id) {
  return wait_until(
      [&] {
        auto d = fleet.device(id);
        return d && d->online && d->state.has_value();
      },
      10s, 50ms);
}

// Waits for the next message on `topic` whose JSON has `key` == `value`.
std::optional<json> wait_for(MqttClient& client, const std::string& topic, const std::string& key,
                             const json& value, Millis timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = client.wait_for_message(Millis(100));
    if (!m || m->topic != topic) continue;
    json j = json::parse(m->payload, nullptr, false);
    if (j.is_object() && j.contains(key) && j[key] == value) return j;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("sim fleet: devices provisioned with rs1ctl log in, report state and send telemetry",
          "[sim]") {
  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  const std::vector<std::string> ids = {"sim-1", "sim-2", "sim-3"};
  std::string file = provision_with_rs1ctl(broker, ids);

  RunningFleet running(broker, file, 120);
  for (const auto& id : ids) {
    CAPTURE(id);
    REQUIRE(ready(fleet, id));
    CHECK(fleet.device(id)->firmware_version == "1.0.0");
    CHECK(wait_until([&] { return fleet.telemetry_count(id) >= 2; }, 10s, 50ms));
  }
  const sim::FleetReport& report = running.stop();
  CHECK(running.error().empty());
  CHECK(report.devices == 3);
  CHECK(report.logins == 3);
  CHECK(report.connected == 3);
  CHECK(report.logins_refused == 0);
  CHECK(report.connections_lost == 0);
  // Everything the fleet sent is a row: none was refused or lost.
  std::size_t expected = static_cast<std::size_t>(report.telemetry_sent);
  CHECK(wait_until(
      [&] {
        std::size_t rows = 0;
        for (const auto& id : ids) rows += fleet.telemetry_count(id);
        return rows == expected;
      },
      5s, 50ms));
  // The clean disconnects take the devices offline.
  for (const auto& id : ids) CHECK(wait_until([&] { return !fleet.online(id); }, 5s, 50ms));
}

TEST_CASE("sim fleet: a revoked device is refused, counted and not retried at once", "[sim]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-ok", "sim-revoked"});
  fleet.revoke("sim-revoked");

  RunningFleet running(broker, file);
  REQUIRE(ready(fleet, "sim-ok"));
  std::this_thread::sleep_for(3s);  // long enough for a hammering device to retry many times
  const sim::FleetReport& report = running.stop();
  CHECK(report.logins == 1);
  CHECK(report.logins_refused == 1);
  CHECK_FALSE(fleet.online("sim-revoked"));
}

TEST_CASE("sim fleet: zone configs and diagnostic requests are answered", "[sim]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1"});
  Account op = fleet.add_account("operator", Role::admin);
  auto watcher = connect_account(broker, op);
  REQUIRE(watcher->subscribe("opticworks/sim-1/#", 1) == 1);

  RunningFleet running(broker, file);
  REQUIRE(ready(fleet, "sim-1"));

  json config = {{"version", 3}, {"config", {{"zones", json::array()}, {"sensitivity", 5}}}};
  REQUIRE(watcher->publish("opticworks/sim-1/config/update", config.dump(), 1) == 0);
  auto status = wait_for(*watcher, "opticworks/sim-1/config/status", "version", 3);
  REQUIRE(status);
  CHECK((*status)["status"] == "applied");

  json bad = {{"version", 4}, {"config", "zones"}};
  REQUIRE(watcher->publish("opticworks/sim-1/config/update", bad.dump(), 1) == 0);
  status = wait_for(*watcher, "opticworks/sim-1/config/status", "version", 4);
  REQUIRE(status);
  CHECK((*status)["status"] == "rejected");
  CHECK((*status)["error"].is_string());

  json diag = {{"request_id", "req-42"}, {"what", {"wifi", "uptime"}}};
  REQUIRE(watcher->publish("opticworks/sim-1/diag/request", diag.dump(), 1) == 0);
  auto answer = wait_for(*watcher, "opticworks/sim-1/telemetry/diag", "request_id", "req-42");
  REQUIRE(answer);
  CHECK((*answer)["firmware_version"] == "1.0.0");
  CHECK((*answer)["what"] == json({"wifi", "uptime"}));
  // The answer is telemetry: the broker stored it.
  CHECK(wait_until([&] { return fleet.telemetry("sim-1", std::string("diag")).size() == 1; }, 5s));

  const sim::FleetReport& report = running.stop();
  CHECK(report.configs_applied == 1);
  CHECK(report.configs_rejected == 1);
  CHECK(report.diag_answered == 1);
}

TEST_CASE("sim fleet: an OTA trigger is downloaded, checked, installed and run", "[sim]") {
  // The firmware server: a stand-in for the broker's /firmware listener.
  const std::string image(300 * 1024, '\x5a');
  httplib::Server server;
  server.Get("/firmware/image", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(image, "application/octet-stream");
  });
  int http_port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(http_port > 0);
  std::thread serving([&] { server.listen_after_bind(); });

  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::string file = provision_with_rs1ctl(broker, {"sim-1"});
  Account op = fleet.add_account("operator", Role::admin);
  auto watcher = connect_account(broker, op);
  REQUIRE(watcher->subscribe("opticworks/sim-1/ota/status", 1) == 1);
  RunningFleet running(broker, file);
  REQUIRE(ready(fleet, "sim-1"));

  const std::string url = "http://127.0.0.1:" + std::to_string(http_port) + "/firmware/image";
  auto trigger = [&](int rollout, const std::string& version, const std::string& sha256) {
    json t = {{"rollout_id", rollout}, {"version", version},   {"url", url},
              {"sha256", sha256},      {"size", image.size()}, {"expires_at", unix_s() + 900}};
    REQUIRE(watcher->publish("opticworks/sim-1/ota/trigger", t.dump(), 1) == 0);
  };
  auto statuses_until = [&](const std::string& last) {
    std::vector<json> seen;
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = watcher->wait_for_message(Millis(100));
      if (!m) continue;
      seen.push_back(json::parse(m->payload));
      if (seen.back()["status"] == last) break;
    }
    return seen;
  };

  trigger(7, "2.0.0", sha256_hex(image));
  auto seen = statuses_until("success");
  std::vector<std::string> steps;
  for (const auto& s : seen) {
    steps.push_back(s["status"]);
    CHECK(s["rollout_id"] == 7);
    CHECK(s["version"] == "2.0.0");
  }
  CHECK(steps == std::vector<std::string>{"downloading", "verifying", "installing", "success"});
  CHECK(wait_until([&] { return fleet.device("sim-1")->firmware_version == "2.0.0"; }, 5s));

  // A corrupted image: reported failed, and the device stays on 2.0.0.
  trigger(8, "3.0.0", std::string(64, '0'));
  seen = statuses_until("failed");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0]["status"] == "downloading");
  CHECK(seen[1]["status"] == "failed");
  CHECK(seen[1]["error"] == "sha256 mismatch");
  std::this_thread::sleep_for(300ms);
  CHECK(fleet.device("sim-1")->firmware_version == "2.0.0");

  const sim::FleetReport& report = running.stop();
  CHECK(report.ota_succeeded == 1);
  CHECK(report.ota_failed == 1);
  server.stop();
  serving.join();
}

TEST_CASE("sim fleet: the binary runs for --duration and prints its summary", "[sim]") {
  BrokerRunner broker;
  std::string file = provision_with_rs1ctl(broker, {"sim-1", "sim-2"});
  auto r = run_command({RS1SIM_PATH, "fleet", "--devices", file, "--port",
                        std::to_string(broker.port()), "--duration", "2", "--json"},
                       {}, {}, 30s);
  CHECK(r.exit_code == 0);
  json summary = json::parse(r.out, nullptr, false);
  REQUIRE(summary.is_object());
  CHECK(summary["devices"] == 2);
  CHECK(summary["logins"] == 2);
  CHECK(summary["connected"] == 2);
}

TEST_CASE("sim fleet: a bad devices file or a missing option is refused clearly", "[sim]") {
  BrokerRunner broker;
  std::string file = broker.dir() + "/bad.json";
  std::ofstream(file) << "{\"device_id\":\"a\",\"secret\":\"" << std::string(64, 'a') << "\"}\n"
                      << "{\"device_id\":\"b\"}\n";
  auto r = run_command(
      {RS1SIM_PATH, "fleet", "--devices", file, "--port", std::to_string(broker.port())});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "rs1-sim fleet: " + file + ": line 2: no \"secret\" string\n");
  CHECK(r.out.empty());

  r = run_command({RS1SIM_PATH, "fleet", "--devices", broker.dir() + "/missing.json"});
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "cannot read " + broker.dir() + "/missing.json"));

  r = run_command({RS1SIM_PATH, "fleet"});
  CHECK(r.exit_code == 2);
  CHECK(contains(r.err, "--devices"));
}
