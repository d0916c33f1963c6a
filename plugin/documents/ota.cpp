#include "documents/ota.hpp"

namespace rs1::doc {

Json firmware_json(const FirmwareRecord& firmware) {
  return {{"version", firmware.version},
          {"sha256", firmware.sha256},
          {"size", firmware.size},
          {"created_at", firmware.created_at}};
}

Json firmware_list_json(const std::vector<FirmwareRecord>& firmware) {
  Json list = Json::array();
  for (const FirmwareRecord& f : firmware) list.push_back(firmware_json(f));
  return list;
}

Json rollout_counts_json(const RolloutCounts& counts) {
  Json j = Json::object();
  for (std::size_t i = 0; i < kDeviceOtaStatusCount; ++i) {
    j[status_name(static_cast<DeviceOtaStatus>(i))] = counts[i];
  }
  return j;
}

Json rollout_json(const Rollout& rollout, const RolloutCounts& counts) {
  return {{"rollout_id", rollout.id},
          {"version", rollout.version},
          {"state", state_name(rollout.state)},
          {"reason", value_or_null(rollout.reason)},
          {"stages", rollout.policy.stages},
          {"stage", rollout.stage + 1},
          {"counts", rollout_counts_json(counts)},
          {"all", rollout.all},
          {"max_failure_rate", rollout.policy.max_failure_rate},
          {"min_finished", rollout.policy.min_finished},
          {"max_per_minute", rollout.policy.max_per_minute},
          {"timeout_min", rollout.policy.timeout_min},
          {"retries", rollout.policy.retries},
          {"created_at", rollout.created_at},
          {"updated_at", rollout.updated_at}};
}

Json rollout_device_json(const RolloutDevice& device) {
  return {{"device_id", device.device_id},
          {"status", status_name(device.status)},
          {"attempts", device.attempts},
          {"error", value_or_null(device.error)},
          {"updated_at", device.updated_at}};
}

Json rollout_devices_json(const std::vector<RolloutDevice>& devices) {
  Json list = Json::array();
  for (const RolloutDevice& device : devices) list.push_back(rollout_device_json(device));
  return list;
}

Json rollout_status_json(const Rollout& rollout, const RolloutCounts& counts, bool with_devices) {
  Json doc = rollout_json(rollout, counts);
  if (with_devices) doc["devices"] = rollout_devices_json(rollout.devices);
  return doc;
}

}  // namespace rs1::doc
