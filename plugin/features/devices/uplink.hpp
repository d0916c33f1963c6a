// What a device's accepted-or-not uplink becomes (SPEC §5): a drop with its
// reason, or the rows and updates to queue. Pure; the MESSAGE handler
// applies the rate limit, then this decision, then queues what it says.
// OTA and zone features take their reports from here as they land.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/payload.hpp"
#include "core/topic_rules.hpp"
#include "features/devices/device.hpp"
#include "features/telemetry/telemetry.hpp"

namespace rs1 {

struct UplinkDecision {
  std::optional<DropReason> drop;        // set: not stored, not forwarded
  // telemetry/<metric>: views into the topic and payload, copied when queued.
  std::optional<TelemetryRowView> row;
  std::optional<DeviceUpdate> update;    // state (with last_seen)
  std::optional<OtaStatusReport> ota_status;
  std::optional<ConfigStatusReport> config_status;
};

UplinkDecision decide_uplink(std::int64_t device_ref, const ParsedTopic& topic,
                             std::string_view payload, std::int64_t now_ms,
                             std::size_t max_payload_bytes);

}  // namespace rs1
