#include "features/zones/zones.hpp"

namespace rs1 {

ZoneVersionPlan plan_next_version(std::optional<std::int64_t> desired) {
  ZoneVersionPlan plan;
  plan.version = desired ? *desired + 1 : 1;
  plan.oldest_kept = plan.version - kZoneVersionsKept + 1;
  if (plan.oldest_kept < 1) plan.oldest_kept = 1;
  return plan;
}

bool zone_version_kept(std::int64_t version, std::int64_t desired) {
  return version >= 1 && version <= desired && version > desired - kZoneVersionsKept;
}

ZoneAckEffect decide_zone_ack(const ZoneAckState& state, const ZoneAck& ack) {
  ZoneAckEffect effect;
  if (!state.desired_version) {
    effect.ignored = "the device has no zone config";
    return effect;
  }
  if (ack.version < 1 || ack.version > *state.desired_version) {
    effect.ignored = "version " + std::to_string(ack.version) + " was never sent";
    return effect;
  }
  if (ack.status == "applied") {
    effect.record_on_version = state.version_kept;
    // Reports can arrive out of order (a late duplicate of an older one):
    // the applied version only ever moves forward.
    if (!state.applied_version || ack.version > *state.applied_version) {
      effect.applied_version = ack.version;
    }
  } else {
    if (state.applied_version && ack.version == *state.applied_version) {
      effect.ignored = "version " + std::to_string(ack.version) + " is already applied";
      return effect;
    }
    effect.record_on_version = state.version_kept;
  }
  if (!effect.record_on_version && !effect.applied_version) {
    effect.ignored = "version " + std::to_string(ack.version) + " is no longer kept";
  }
  return effect;
}

bool zone_ack_settles(std::int64_t waiting, const ConfigStatusReport& report) {
  return report.version == waiting;
}

ZoneAck zone_ack_of(const std::string& device_id, const ConfigStatusReport& report,
                    std::int64_t now_s) {
  ZoneAck ack;
  ack.device_id = device_id;
  ack.version = report.version;
  ack.status = report.status;
  ack.at_s = now_s;
  if (report.error) {
    std::string e = *report.error;
    if (e.size() > kMaxZoneErrorBytes) {
      std::size_t cut = kMaxZoneErrorBytes;
      // Back to the start of a UTF-8 character.
      while (cut > 0 && (static_cast<unsigned char>(e[cut]) & 0xC0) == 0x80) --cut;
      e.resize(cut);
    }
    ack.error = std::move(e);
  }
  return ack;
}

std::string zone_update_payload(std::int64_t version, const std::string& config) {
  // The stored config is canonical JSON already: spliced, not re-parsed.
  return "{\"version\":" + std::to_string(version) + ",\"config\":" + config + "}";
}

}  // namespace rs1
