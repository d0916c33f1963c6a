// SPEC §8 `device add`, `device show` and `device list`, also the Device
// API's device bodies (SPEC §10).
#pragma once

#include <string>
#include <vector>

#include "documents/json.hpp"
#include "features/devices/device.hpp"

namespace rs1::doc {

// {"device_id","model","status","online","last_seen","state","firmware_version",
// "created_at"}; the stored state exactly as the device sent it.
Json device_json(const DeviceRecord& device);
// An array of device_json, in the given order.
Json device_list_json(const std::vector<DeviceRecord>& devices);
// {"device_id","secret"}: the secret shown once, when the device is provisioned.
Json device_added_json(const std::string& device_id, const std::string& secret);

}  // namespace rs1::doc
