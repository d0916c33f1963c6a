#include "features/devices/uplink.hpp"

namespace rs1 {

UplinkDecision decide_uplink(std::int64_t device_ref, const ParsedTopic& topic,
                             std::string_view payload, std::int64_t now_ms,
                             std::size_t max_payload_bytes) {
  UplinkDecision d;
  if (auto reason = check_uplink(topic, payload, max_payload_bytes)) {
    d.drop = reason;
    return d;
  }
  switch (topic.kind) {
    case DeviceTopic::telemetry:
      d.row = TelemetryRowView{device_ref, topic.metric, now_ms, payload};
      break;
    case DeviceTopic::state: {
      // The scanner accepted the object; a value the DOM parser cannot hold
      // (1e400) only means no firmware version is taken from it.
      auto state = parse_state(payload);
      if (!state) state = StateReport{};
      DeviceUpdate u;
      u.device_ref = device_ref;
      u.last_seen = now_ms / 1000;
      u.state = std::string(payload);
      u.firmware_version = std::move(state->firmware_version);
      d.update = std::move(u);
      break;
    }
    case DeviceTopic::ota_status:
      d.ota_status = parse_ota_status(payload);
      break;
    case DeviceTopic::config_status:
      d.config_status = parse_config_status(payload);
      break;
    default:
      d.drop = DropReason::invalid_schema;  // a downlink is never an uplink
      break;
  }
  return d;
}

}  // namespace rs1
