// `rs1-sim fleet`: RS-1 devices as the firmware behaves, many on one thread
// (ClientLoop): hourly HMAC logins, state at every connect, telemetry at a
// steady rate, answers to config/update and diag/request, and OTA triggers
// followed through (HTTP download on a worker thread, size and sha256
// checked, progress reported, the new version run). For demos and soak runs.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "rs1-sim/devices_file.hpp"

namespace rs1::sim {

struct FleetOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  double telemetry_per_min = 6;  // per device
  int duration_s = 0;            // 0: until stopped
  std::string firmware_version = "1.0.0";
  int connects_per_s = 500;
  double ota_fail_rate = 0;  // share of installs that report failed
  int status_every_s = 10;
};

struct FleetReport {
  std::int64_t devices = 0;
  std::int64_t connected = 0;  // at the end, before the clean disconnects
  std::int64_t logins = 0;
  std::int64_t logins_refused = 0;
  std::int64_t connections_lost = 0;
  std::int64_t telemetry_sent = 0;
  std::int64_t states_sent = 0;
  std::int64_t configs_applied = 0;
  std::int64_t configs_rejected = 0;
  std::int64_t diag_answered = 0;
  std::int64_t ota_succeeded = 0;
  std::int64_t ota_failed = 0;
  std::string json() const;
  std::string text() const;
};

// Runs until `stop` is set or the duration passes; status lines go to
// `status` every status_every_s.
FleetReport run_fleet(const FleetOptions& options, const std::vector<SimDevice>& devices,
                      const std::atomic<bool>& stop, std::ostream& status);

void add_fleet_command(CLI::App& app);

}  // namespace rs1::sim
