// What a simulated RS-1 device says and how it reads its downlinks (SPEC §5):
// the uplink payloads (state, telemetry, config/status, telemetry/diag,
// ota/status) and the parsing of config/update, diag/request and
// ota/trigger. Pure functions: no MQTT, no clock, no randomness of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace rs1::sim {

// The sensor values a device reports: they drift a little at every reading,
// each device on its own walk, within what a room looks like.
struct Readings {
  double temp_c = 21.0;
  double humidity_pct = 40.0;
  double co2_ppm = 600.0;
  double lux = 300.0;
  double pressure_hpa = 1013.0;
  double noise_db = 38.0;
  int people = 0;
  int rssi_dbm = -60;

  // A starting point somewhere in the usual range.
  static Readings initial(std::mt19937_64& rng);
  void drift(std::mt19937_64& rng);
};

// `{"firmware_version":V,"model":"RS-1","uptime_s":N,"rssi_dbm":N}`.
std::string state_payload(const std::string& firmware_version, std::int64_t uptime_s, int rssi_dbm);

// About 200 bytes of numeric fields (the plugin aggregates the numeric
// top-level fields of telemetry), plus `seq` so gaps can be seen.
std::string telemetry_payload(const Readings& readings, std::uint64_t seq, std::int64_t uptime_s);

// The answer to a config/update: the config/status payload and whether it
// was applied. Nothing when the update has no usable version (an integer
// >= 1): config/status cannot name what it would reject.
struct ConfigReply {
  std::string payload;
  bool applied = false;
};
std::optional<ConfigReply> config_reply(std::string_view update);

// What the device knows about itself for a diagnostic answer.
struct DiagFacts {
  std::string firmware_version;
  std::int64_t uptime_s = 0;
  int rssi_dbm = 0;
  std::int64_t reconnects = 0;
  std::uint64_t telemetry_sent = 0;
};
// The telemetry/diag payload for a diag/request: `request_id` (null when the
// request has none, with an `error`), the requested `what` echoed, and a
// few plausible fields.
std::string diag_reply(std::string_view request, const DiagFacts& facts);

// An ota/trigger downlink. `rollout_id` and `version` are what every
// ota/status must carry; the rest says what to download.
struct OtaTrigger {
  std::int64_t rollout_id = 0;
  std::string version;
  std::string url;
  std::string sha256;  // 64 lowercase hex characters
  std::int64_t size = 0;
  std::int64_t expires_at = 0;  // unix seconds
};
struct TriggerParse {
  // Set when the trigger names a rollout and a version, so a status can be
  // reported against it; unset for a payload nobody could answer.
  std::optional<OtaTrigger> trigger;
  // Why the trigger cannot be followed (reported as `failed`); empty when
  // it can.
  std::string error;
};
// `now_s` decides whether the trigger has expired.
TriggerParse parse_ota_trigger(std::string_view payload, std::int64_t now_s);

// `{"rollout_id","version","status","progress"[,"error"]}`.
std::string ota_status_payload(std::int64_t rollout_id, const std::string& version,
                               const std::string& status, int progress,
                               const std::string& error = {});

}  // namespace rs1::sim
