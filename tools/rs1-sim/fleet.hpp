// `rs1-sim fleet`: RS-1 devices as the firmware behaves, many on one thread
// (ClientLoop): hourly HMAC logins through a connect ramp, subscriptions and
// state at every connect, jittered telemetry, answers to config/update and
// diag/request, and OTA triggers followed through (HTTP download on a worker
// thread, size and sha256 checked, progress reported, the new version run).
// A refused login is retried slowly, a lost connection with backoff. For
// demos and soak runs; tests run it in-process with run_fleet().
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <mutex>
#include <string>
#include <vector>

#include "rs1-sim/devices_file.hpp"

namespace rs1::sim {

struct FleetOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  double telemetry_per_min = 6;  // per device; 0: none
  int duration_s = 0;            // 0: until stopped
  std::string firmware_version = "1.0.0";
  int connects_per_s = 500;
  double ota_fail_rate = 0;  // share of OTA installs that report failed
  int status_every_s = 10;
  // When set: one "device_id,seq,sent_unix_ms,acked_unix_ms" line for every
  // telemetry/env reading the broker acknowledged (PUBACK success), for a
  // soak run to check against the database.
  std::string acked_out;
  // When set: the broker's database, polled to time readings from publish to
  // commit (CommitProbe); probe_out gets the samples.
  std::string probe_db;
  std::string probe_out;
  // How long `installing` lasts before `success` (not on the command line:
  // tests shorten it).
  std::chrono::milliseconds install_time{2000};
};

struct FleetReport {
  std::int64_t devices = 0;
  std::int64_t connected = 0;         // online at the end, before the clean disconnects
  std::int64_t logins = 0;            // accepted CONNACKs
  std::int64_t logins_refused = 0;    // CONNACK not authorized (or bad credentials, banned)
  std::int64_t connect_failures = 0;  // no TCP connection, no CONNACK in time, other CONNACK codes
  std::int64_t connections_lost = 0;  // sessions ended by the broker or the network
  std::int64_t messages_sent = 0;     // every uplink, QoS 1
  std::int64_t messages_refused = 0;  // PUBACK with a failure code: the broker dropped it
  std::int64_t telemetry_sent = 0;
  std::int64_t telemetry_skipped = 0;  // readings not sent: too many unacknowledged already
  std::int64_t telemetry_acked = 0;    // readings the broker acknowledged with success
  std::int64_t states_sent = 0;
  std::int64_t downlinks_received = 0;
  std::int64_t configs_applied = 0;
  std::int64_t configs_rejected = 0;
  std::int64_t diag_answered = 0;
  std::int64_t ota_started = 0;
  std::int64_t ota_succeeded = 0;
  std::int64_t ota_failed = 0;
  // With FleetOptions::probe_db: publish -> committed of sampled readings.
  std::int64_t probe_samples = 0;
  std::int64_t probe_timeouts = 0;
  double commit_p50_ms = 0;
  double commit_p99_ms = 0;
  double commit_max_ms = 0;
  double elapsed_s = 0;

  std::string json() const;  // one line
  std::string text() const;  // one "name value" line each
};

// The counters of a running fleet, for another thread to watch (tests).
class FleetProgress {
 public:
  FleetReport latest() const {
    std::lock_guard<std::mutex> lock(mu_);
    return report_;
  }
  void update(const FleetReport& report) {
    std::lock_guard<std::mutex> lock(mu_);
    report_ = report;
  }

 private:
  mutable std::mutex mu_;
  FleetReport report_;
};

// Runs until `stop` is set or the duration passes, then disconnects every
// device cleanly. Status lines go to `status` every status_every_s;
// `progress`, when given, gets the counters every 100 ms. Throws
// std::runtime_error when the fleet cannot start (too few descriptors).
FleetReport run_fleet(const FleetOptions& options, const std::vector<SimDevice>& devices,
                      const std::atomic<bool>& stop, std::ostream& status,
                      FleetProgress* progress = nullptr);

void add_fleet_command(CLI::App& app);

}  // namespace rs1::sim
