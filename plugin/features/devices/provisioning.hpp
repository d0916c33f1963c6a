// Provisioning a device (SPEC §8 `device add`, §10 POST /api/v1/devices):
// a fresh secret, its hash stored with the device, the secret shown once.
// rs1ctl and the Device API both call this.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/identity.hpp"
#include "features/devices/device.hpp"

namespace rs1 {

// The id is taken: by a device (`by_device`) or by an account name.
struct DeviceIdTaken : std::runtime_error {
  DeviceIdTaken(const std::string& device_id, bool by_device)
      : std::runtime_error(by_device ? "device " + device_id + " already exists"
                                     : device_id + " is already an account name"),
        by_device(by_device) {}
  bool by_device;
};

// Stores the device with a new secret and returns the secret. The id must be
// a valid device id (is_valid_device_id). Throws DeviceIdTaken, or
// StoreError for anything else.
DeviceSecret provision_device(DeviceStore& store, const std::string& device_id,
                              const std::optional<std::string>& model, std::int64_t now_s);

}  // namespace rs1
