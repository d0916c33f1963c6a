#include "documents/devices.hpp"

namespace rs1::doc {

Json device_json(const DeviceRecord& device) {
  return {{"device_id", device.device_id},
          {"model", value_or_null(device.model)},
          {"status", device.status},
          {"online", device.online},
          {"last_seen", value_or_null(device.last_seen)},
          {"state", raw_object_or_null(device.state)},
          {"firmware_version", value_or_null(device.firmware_version)},
          {"created_at", device.created_at}};
}

Json device_list_json(const std::vector<DeviceRecord>& devices) {
  Json list = Json::array();
  for (const DeviceRecord& device : devices) list.push_back(device_json(device));
  return list;
}

Json device_added_json(const std::string& device_id, const std::string& secret) {
  return {{"device_id", device_id}, {"secret", secret}};
}

}  // namespace rs1::doc
