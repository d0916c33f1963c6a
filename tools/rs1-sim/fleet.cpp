#include "fleet.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "core/identity.hpp"
#include "rs1-sim/broker_process.hpp"
#include "rs1-sim/client_loop.hpp"
#include "rs1-sim/command.hpp"

namespace rs1::sim {

namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// CONNECTs awaiting CONNACK at once: below mosquitto's listen backlog.
constexpr int kConnectWindow = 64;
// A refused login is retried this rarely: a revoked device must not hammer
// the broker (nor raise auth_failure_repeated for its whole NAT).
constexpr auto kRefusedRetry = 60s;
constexpr int kMaxBackoffS = 30;
// Devices per process: a libmosquitto client holds three descriptors.
constexpr std::size_t kDevicesPerProcess = 5000;

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Downloads `url` (plain HTTP, as the broker's listener serves it) and checks
// it against the trigger; the error a device would report, empty when good.
std::string download_and_check(const std::string& url, const std::string& sha256,
                               std::int64_t size) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return "unsupported URL (the simulator speaks plain HTTP): " + url;
  auto slash = url.find('/', scheme.size());
  std::string origin = slash == std::string::npos ? url : url.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  httplib::Client http(origin);
  http.set_connection_timeout(10, 0);
  http.set_read_timeout(60, 0);
  auto res = http.Get(path.c_str());
  if (!res) return "download failed: " + httplib::to_string(res.error());
  if (res->status != 200) return "download failed: HTTP " + std::to_string(res->status);
  if (size >= 0 && static_cast<std::int64_t>(res->body.size()) != size) {
    return "size mismatch: got " + std::to_string(res->body.size()) + " bytes, expected " +
           std::to_string(size);
  }
  if (sha256_hex(res->body) != sha256) return "sha256 mismatch";
  return {};
}

class Fleet : public ClientHandler {
 public:
  Fleet(const FleetOptions& o, const std::vector<SimDevice>& devices, std::ostream& status)
      : o_(o), status_(status), rng_(std::random_device{}()) {
    for (std::size_t i = 0; i < devices.size(); ++i) {
      Device d;
      d.identity = devices[i];
      d.secret_hash = sha256_hex(devices[i].secret);
      d.firmware = o.firmware_version;
      ClientOptions co;
      co.client_id = devices[i].device_id;
      co.username = devices[i].device_id;
      d.client = &loop_.add(co, *this);
      d.client->tag = i;
      devices_.push_back(std::move(d));
    }
    if (o.telemetry_per_min > 0)
      period_ = std::chrono::duration<double>(60.0 / o.telemetry_per_min);
  }

  FleetReport run(const std::atomic<bool>& stop) {
    report_.devices = static_cast<std::int64_t>(devices_.size());
    const auto start = Clock::now();
    const auto end =
        o_.duration_s > 0 ? start + std::chrono::seconds(o_.duration_s) : Clock::time_point::max();
    loop_.every(50ms, [this] { connect_some(); });
    loop_.every(100ms, [this] { send_telemetry(); });
    loop_.every(std::chrono::seconds(std::max(1, o_.status_every_s)), [this] { print_status(); });
    connect_some();
    while (!stop.load() && Clock::now() < end) loop_.run_once(100ms);

    stopping_ = true;
    report_.connected = online_;
    for (auto& d : devices_) d.client->disconnect();
    loop_.run_until(
        [&] {
          return std::none_of(devices_.begin(), devices_.end(),
                              [](const Device& d) { return d.client->open(); });
        },
        5s);
    // Their results are posted to the loop, which is still alive.
    for (auto& t : downloads_) t.join();
    return report_;
  }

  void on_connect(Client& c, int rc) override {
    Device& d = devices_[c.tag];
    d.connecting = false;
    --pending_;
    auto now = Clock::now();
    if (rc != 0) {
      ++report_.logins_refused;
      d.refused = true;
      d.next_connect = now + kRefusedRetry + jitter(10s);
      return;  // the broker closes the connection; on_disconnect follows
    }
    ++report_.logins;
    d.refused = false;
    d.online = true;
    ++online_;
    d.backoff_s = 1;
    d.connected_at = now;
    const std::string base = "opticworks/" + d.identity.device_id;
    for (const char* downlink : {"/ota/trigger", "/config/update", "/diag/request"}) {
      c.subscribe(base + downlink, 1);
    }
    publish_state(d);
    if (period_.count() > 0) {
      d.next_telemetry = now + std::chrono::duration_cast<Clock::duration>(period_ * uniform());
    }
  }

  void on_disconnect(Client& c, int) override {
    Device& d = devices_[c.tag];
    if (d.connecting) {  // closed before any CONNACK
      d.connecting = false;
      --pending_;
    }
    if (d.online) {
      d.online = false;
      --online_;
      if (!stopping_) ++report_.connections_lost;
    }
    if (stopping_ || d.refused) return;  // a refused login keeps its slow retry
    d.next_connect = Clock::now() + std::chrono::seconds(d.backoff_s) +
                     jitter(std::chrono::seconds(d.backoff_s));
    d.backoff_s = std::min(kMaxBackoffS, d.backoff_s * 2);
  }

  void on_message(Client& c, const mosquitto_message& m) override {
    Device& d = devices_[c.tag];
    const std::string prefix = "opticworks/" + d.identity.device_id + "/";
    const std::string topic = m.topic ? m.topic : "";
    if (topic.rfind(prefix, 0) != 0) return;
    const std::string what = topic.substr(prefix.size());
    Json payload = Json::parse(static_cast<const char*>(m.payload),
                               static_cast<const char*>(m.payload) + m.payloadlen, nullptr, false);
    if (what == "config/update") {
      on_config(d, payload);
    } else if (what == "diag/request") {
      on_diag(d, payload);
    } else if (what == "ota/trigger") {
      on_trigger(d, payload);
    }
  }

 private:
  struct Device {
    SimDevice identity;
    std::string secret_hash;
    Client* client = nullptr;
    std::string firmware;
    bool connecting = false;
    bool online = false;
    bool refused = false;
    bool ota_busy = false;
    int backoff_s = 1;
    std::int64_t seq = 0;
    Clock::time_point next_connect{};
    Clock::time_point next_telemetry{};
    Clock::time_point connected_at{};
  };

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  Clock::duration jitter(Clock::duration up_to) {
    return std::chrono::duration_cast<Clock::duration>(up_to * uniform());
  }

  void connect_some() {
    if (stopping_) return;
    // The ramp: connects_per_s spread over the 50 ms ticks.
    int budget = std::max(1, o_.connects_per_s / 20);
    auto now = Clock::now();
    const std::int64_t hour = hour_of(unix_now());
    for (std::size_t n = 0; n < devices_.size() && budget > 0 && pending_ < kConnectWindow; ++n) {
      Device& d = devices_[cursor_];
      cursor_ = (cursor_ + 1) % devices_.size();
      if (d.connecting || d.client->open() || now < d.next_connect) continue;
      --budget;
      d.client->set_password(password_for_hour(d.secret_hash, d.identity.device_id, hour));
      if (loop_.connect(*d.client, o_.host, o_.port) != MOSQ_ERR_SUCCESS) {
        // Nobody listening (the broker restarts): back off like a device.
        d.next_connect =
            now + std::chrono::seconds(d.backoff_s) + jitter(std::chrono::seconds(d.backoff_s));
        d.backoff_s = std::min(kMaxBackoffS, d.backoff_s * 2);
        continue;
      }
      d.connecting = true;
      ++pending_;
    }
  }

  void send_telemetry() {
    if (period_.count() <= 0 || stopping_) return;
    auto now = Clock::now();
    auto period = std::chrono::duration_cast<Clock::duration>(period_);
    for (auto& d : devices_) {
      if (!d.online || now < d.next_telemetry) continue;
      d.next_telemetry = std::max(d.next_telemetry + period, now);
      std::uint64_t s = static_cast<std::uint64_t>(d.seq++);
      Json reading = {{"seq", s},
                      {"temp_c", 20.0 + static_cast<double>((s * 37) % 80) / 10},
                      {"humidity", 35.0 + static_cast<double>((s * 13) % 300) / 10},
                      {"co2_ppm", 420 + (s * 7) % 500},
                      {"lux", (s * 11) % 900},
                      {"presence", s % 3 == 0},
                      {"targets", s % 4}};
      if (d.client->publish("opticworks/" + d.identity.device_id + "/telemetry/env", reading.dump(),
                            0) == MOSQ_ERR_SUCCESS) {
        ++report_.telemetry_sent;
      }
    }
  }

  void print_status() {
    status_ << "fleet: " << online_ << "/" << devices_.size() << " connected, " << report_.logins
            << " logins, " << report_.logins_refused << " refused, " << report_.connections_lost
            << " connections lost, " << report_.telemetry_sent << " telemetry sent, "
            << report_.configs_applied + report_.configs_rejected + report_.diag_answered +
                   report_.ota_succeeded + report_.ota_failed
            << " downlinks handled" << std::endl;
  }

  void publish(Device& d, const std::string& suffix, const Json& payload) {
    if (!d.online) return;
    d.client->publish("opticworks/" + d.identity.device_id + "/" + suffix, payload.dump(), 1);
  }

  void publish_state(Device& d) {
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - d.connected_at);
    publish(d, "state",
            {{"firmware_version", d.firmware},
             {"model", "RS-1"},
             {"uptime_s", uptime.count()},
             {"rssi_dbm", -55 - static_cast<int>(d.client->tag % 30)}});
    ++report_.states_sent;
  }

  void on_config(Device& d, const Json& p) {
    if (!p.is_object() || !p.contains("version") || !p["version"].is_number_integer()) return;
    Json status = {{"version", p["version"]}};
    auto config = p.find("config");
    if (config != p.end() && config->is_object()) {
      status["status"] = "applied";
      ++report_.configs_applied;
    } else {
      status["status"] = "rejected";
      status["error"] = "\"config\" is not an object";
      ++report_.configs_rejected;
    }
    publish(d, "config/status", status);
  }

  void on_diag(Device& d, const Json& p) {
    if (!p.is_object() || !p.contains("request_id") || !p["request_id"].is_string()) return;
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - d.connected_at);
    Json answer = {{"request_id", p["request_id"]},
                   {"firmware_version", d.firmware},
                   {"uptime_s", uptime.count()},
                   {"rssi_dbm", -55 - static_cast<int>(d.client->tag % 30)},
                   {"heap_free", 81920 - static_cast<int>(d.seq % 4096)},
                   {"telemetry_sent", d.seq}};
    if (p.contains("what")) answer["what"] = p["what"];
    publish(d, "telemetry/diag", answer);
    ++report_.diag_answered;
  }

  void ota_status(Device& d, std::int64_t rollout_id, const std::string& version,
                  const std::string& status, int progress, const std::string& error = {}) {
    Json s = {{"rollout_id", rollout_id},
              {"version", version},
              {"status", status},
              {"progress", progress}};
    if (!error.empty()) s["error"] = error;
    publish(d, "ota/status", s);
  }

  void on_trigger(Device& d, const Json& p) {
    if (!p.is_object() || !p.contains("rollout_id") || !p["rollout_id"].is_number_integer() ||
        !p.contains("version") || !p["version"].is_string()) {
      return;  // nothing to report progress against
    }
    const std::int64_t rollout_id = p["rollout_id"].get<std::int64_t>();
    const std::string version = p["version"].get<std::string>();
    if (d.ota_busy) return;  // the same trigger again (QoS 1 redelivery): already at it
    ota_status(d, rollout_id, version, "downloading", 0);
    if (!p.contains("url") || !p["url"].is_string() || !p.contains("sha256") ||
        !p["sha256"].is_string()) {
      finish_ota(d, rollout_id, version, "the trigger has no url or sha256");
      return;
    }
    if (p.contains("expires_at") && p["expires_at"].is_number() &&
        p["expires_at"].get<std::int64_t>() < unix_now()) {
      finish_ota(d, rollout_id, version, "the trigger has expired");
      return;
    }
    std::int64_t size =
        p.contains("size") && p["size"].is_number_integer() ? p["size"].get<std::int64_t>() : -1;
    d.ota_busy = true;
    std::size_t index = d.client->tag;
    // Never on the loop thread: a download takes seconds, the fleet must not.
    downloads_.emplace_back([this, index, rollout_id, version, url = p["url"].get<std::string>(),
                             sha = p["sha256"].get<std::string>(), size] {
      std::string error;
      try {
        error = download_and_check(url, sha, size);
      } catch (const std::exception& e) {
        error = std::string("download failed: ") + e.what();
      }
      loop_.post([this, index, rollout_id, version, error] {
        finish_ota(devices_[index], rollout_id, version, error);
      });
    });
  }

  void finish_ota(Device& d, std::int64_t rollout_id, const std::string& version,
                  const std::string& error) {
    d.ota_busy = false;
    if (!error.empty()) {
      ota_status(d, rollout_id, version, "failed", 0, error);
      ++report_.ota_failed;
      return;
    }
    ota_status(d, rollout_id, version, "verifying", 100);
    ota_status(d, rollout_id, version, "installing", 100);
    if (uniform() < o_.ota_fail_rate) {
      ota_status(d, rollout_id, version, "failed", 100, "install failed (simulated)");
      ++report_.ota_failed;
      return;
    }
    ota_status(d, rollout_id, version, "success", 100);
    d.firmware = version;  // now running it, as the next state says
    publish_state(d);
    ++report_.ota_succeeded;
  }

  const FleetOptions& o_;
  std::ostream& status_;
  std::mt19937_64 rng_;
  ClientLoop loop_;
  std::vector<Device> devices_;
  std::vector<std::thread> downloads_;
  std::chrono::duration<double> period_{0};
  std::size_t cursor_ = 0;
  int pending_ = 0;
  std::int64_t online_ = 0;
  bool stopping_ = false;
  FleetReport report_;
};

Json report_to_json(const FleetReport& r) {
  return {{"devices", r.devices},
          {"connected", r.connected},
          {"logins", r.logins},
          {"logins_refused", r.logins_refused},
          {"connections_lost", r.connections_lost},
          {"telemetry_sent", r.telemetry_sent},
          {"states_sent", r.states_sent},
          {"configs_applied", r.configs_applied},
          {"configs_rejected", r.configs_rejected},
          {"diag_answered", r.diag_answered},
          {"ota_succeeded", r.ota_succeeded},
          {"ota_failed", r.ota_failed}};
}

FleetReport report_from_json(const Json& j) {
  FleetReport r;
  r.devices = j.at("devices");
  r.connected = j.at("connected");
  r.logins = j.at("logins");
  r.logins_refused = j.at("logins_refused");
  r.connections_lost = j.at("connections_lost");
  r.telemetry_sent = j.at("telemetry_sent");
  r.states_sent = j.at("states_sent");
  r.configs_applied = j.at("configs_applied");
  r.configs_rejected = j.at("configs_rejected");
  r.diag_answered = j.at("diag_answered");
  r.ota_succeeded = j.at("ota_succeeded");
  r.ota_failed = j.at("ota_failed");
  return r;
}

void add_up(FleetReport& total, const FleetReport& part) {
  Json t = report_to_json(total), p = report_to_json(part);
  for (auto& [key, value] : t.items())
    value = value.get<std::int64_t>() + p.at(key).get<std::int64_t>();
  total = report_from_json(t);
}

// More devices than one process can hold (see kDevicesPerProcess): each
// slice runs in a child process that sends its report back on a pipe.
// SIGINT/SIGTERM to the parent reaches the children too.
FleetReport run_in_processes(const FleetOptions& o, const std::vector<SimDevice>& devices,
                             const std::atomic<bool>& stop, std::ostream& status) {
  struct Child {
    pid_t pid;
    int report_fd;
    bool exited = false;
  };
  std::vector<Child> children;
  for (std::size_t first = 0; first < devices.size(); first += kDevicesPerProcess) {
    std::vector<SimDevice> slice(
        devices.begin() + static_cast<std::ptrdiff_t>(first),
        devices.begin() +
            static_cast<std::ptrdiff_t>(std::min(devices.size(), first + kDevicesPerProcess)));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::cout.flush();
    status.flush();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::close(fds[0]);
      int code = 0;
      try {
        Fleet fleet(o, slice, status);
        std::string line = report_to_json(fleet.run(stop)).dump() + "\n";
        (void)!::write(fds[1], line.data(), line.size());
      } catch (const std::exception& e) {
        status << "rs1-sim fleet: " << e.what() << std::endl;
        code = 1;
      }
      ::_exit(code);
    }
    ::close(fds[1]);
    children.push_back({pid, fds[0]});
  }
  // The children end by themselves (--duration) or on the stop signal,
  // which is passed on in case it came to this process alone.
  for (bool all_exited = false; !all_exited;) {
    all_exited = true;
    for (auto& c : children) {
      if (!c.exited && ::waitpid(c.pid, nullptr, WNOHANG) == c.pid) c.exited = true;
      all_exited &= c.exited;
    }
    if (stop.load()) {
      for (const auto& c : children) {
        if (!c.exited) ::kill(c.pid, SIGTERM);
      }
    }
    if (!all_exited) std::this_thread::sleep_for(100ms);
  }
  FleetReport total;
  std::string failures;
  for (const auto& c : children) {
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(c.report_fd, buf, sizeof buf)) > 0;)
      text.append(buf, static_cast<std::size_t>(n));
    ::close(c.report_fd);
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded()) {
      failures = "a fleet process failed";
      continue;
    }
    add_up(total, report_from_json(j));
  }
  if (!failures.empty()) throw std::runtime_error(failures);
  return total;
}

}  // namespace

std::string FleetReport::json() const { return report_to_json(*this).dump(); }

std::string FleetReport::text() const {
  std::ostringstream out;
  out << "devices            " << devices << "\n"
      << "connected at end   " << connected << "\n"
      << "logins             " << logins << "\n"
      << "logins refused     " << logins_refused << "\n"
      << "connections lost   " << connections_lost << "\n"
      << "telemetry sent     " << telemetry_sent << "\n"
      << "states sent        " << states_sent << "\n"
      << "configs applied    " << configs_applied << "\n"
      << "configs rejected   " << configs_rejected << "\n"
      << "diag answered      " << diag_answered << "\n"
      << "OTA succeeded      " << ota_succeeded << "\n"
      << "OTA failed         " << ota_failed << "\n";
  return out.str();
}

FleetReport run_fleet(const FleetOptions& options, const std::vector<SimDevice>& devices,
                      const std::atomic<bool>& stop, std::ostream& status) {
  if (devices.size() > kDevicesPerProcess) return run_in_processes(options, devices, stop, status);
  std::uint64_t wanted = 3 * devices.size() + 256;
  if (raise_file_limit(wanted) < wanted) {
    throw std::runtime_error(std::to_string(devices.size()) + " devices need " +
                             std::to_string(wanted) + " open files: raise the limit (ulimit -n)");
  }
  Fleet fleet(options, devices, status);
  return fleet.run(stop);
}

void add_fleet_command(CLI::App& app) {
  auto options = std::make_shared<FleetOptions>();
  auto devices_file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "fleet",
      "Simulate RS-1 devices against a broker: logins, state, telemetry, answers to zone configs "
      "and diagnostics, OTA downloads. Runs until SIGINT/SIGTERM or --duration, then prints a "
      "summary");
  cmd->add_option("--devices", *devices_file,
                  "devices file: `rs1ctl device add ID --json` output, one object a line (or a "
                  "JSON array)")
      ->required();
  cmd->add_option("--host", options->host, "broker address")->capture_default_str();
  cmd->add_option("--port", options->port, "broker MQTT port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--telemetry-per-min", options->telemetry_per_min,
                  "telemetry messages per device per minute (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60000.0));
  cmd->add_option("--duration", options->duration_s, "seconds to run (0: until stopped)")
      ->capture_default_str()
      ->check(CLI::Range(0, 365 * 86400));
  cmd->add_option("--firmware-version", options->firmware_version, "the version devices start on")
      ->capture_default_str();
  cmd->add_option("--connects-per-s", options->connects_per_s, "new connections per second at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--ota-fail-rate", options->ota_fail_rate,
                  "share of OTA installs that report failed (to see a rollout pause)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--status-every", options->status_every_s,
                  "seconds between status lines on stderr")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_flag("--json", *json, "print the summary as one JSON document");
  cmd->callback([options, devices_file, json] {
    try {
      auto devices = read_devices_file(*devices_file);
      install_stop_signals();
      FleetReport report = run_fleet(*options, devices, stop_requested(), std::cerr);
      std::cout << (*json ? report.json() + "\n" : report.text());
      exit_status() = 0;
    } catch (const std::exception& e) {
      std::cerr << "rs1-sim fleet: " << e.what() << "\n";
      exit_status() = 1;
    }
  });
}

}  // namespace rs1::sim
