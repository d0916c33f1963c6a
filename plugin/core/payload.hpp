// Device payload rules of SPEC §5: what an uplink must look like to be
// accepted, and the reasons a message is dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/topic_rules.hpp"

namespace rs1 {

// Why a device message was dropped; each has its own counter
// (rs1_messages_dropped_total{reason="..."}).
enum class DropReason {
  too_large,        // payload over max_payload_bytes
  not_json_object,  // not exactly one JSON object
  invalid_schema,   // ota/status or config/status breaking its schema
  rate_limited,     // over rate_limit_per_min
  queue_full,       // the ingest queue already holds ingest_queue_max rows
  invalid_metric,   // a telemetry metric over kMaxMetricLength or kMaxMetricLevels
};
constexpr std::size_t kDropReasonCount = 6;
const char* drop_reason_name(DropReason reason);
std::vector<std::string> drop_reason_names();  // in enum order

// A metric (the topic after "telemetry/") is stored with every row: keep it
// a name, not a payload.
constexpr std::size_t kMaxMetricLength = 128;
constexpr std::size_t kMaxMetricLevels = 16;
bool metric_within_limits(std::string_view metric);

struct OtaStatusReport {
  std::int64_t rollout_id = 0;
  std::string version;
  std::string status;  // downloading | verifying | installing | success | failed
  int progress = 0;
  std::optional<std::string> error;
};

struct ConfigStatusReport {
  std::int64_t version = 0;
  std::string status;  // applied | rejected
  std::optional<std::string> error;
};

// Parse and check against the schema; nothing when the payload breaks it.
// Unknown extra keys are allowed so newer firmware can add fields.
std::optional<OtaStatusReport> parse_ota_status(std::string_view payload);
std::optional<ConfigStatusReport> parse_config_status(std::string_view payload);

// The state fields the store keeps apart from the object itself.
struct StateReport {
  std::optional<std::string> firmware_version;  // "firmware_version", else "version"
};
std::optional<StateReport> parse_state(std::string_view payload);

// The verdict on one uplink: nothing when it is accepted.
std::optional<DropReason> check_uplink(const ParsedTopic& topic, std::string_view payload,
                                       std::size_t max_payload_bytes);
inline std::optional<DropReason> check_uplink(DeviceTopic kind, std::string_view payload,
                                              std::size_t max_payload_bytes) {
  return check_uplink(ParsedTopic{{}, kind, {}}, payload, max_payload_bytes);
}

}  // namespace rs1
