// Devices (SPEC §4, §8 `device`): the model, the presence and state updates
// the broker queues for the writer, and the narrow store interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/store_error.hpp"

namespace rs1 {

// What a login needs, kept in memory by the broker.
struct DeviceCredentials {
  std::int64_t ref = 0;  // compact key, used by telemetry rows; never reused
  std::string device_id;
  std::string secret_hash;
  bool active = true;
};

// SPEC §8 `device show`.
struct DeviceRecord {
  std::string device_id;
  std::optional<std::string> model;
  std::string status;  // active | revoked
  bool online = false;
  std::optional<std::int64_t> last_seen;
  std::optional<std::string> state;  // JSON object text
  std::optional<std::string> firmware_version;
  std::int64_t created_at = 0;
};

// A device to provision.
struct NewDevice {
  std::string device_id;
  std::optional<std::string> model;
  std::string secret_hash;
};

// Presence, last_seen and state, applied by the ingest writer.
struct DeviceUpdate {
  std::int64_t device_ref = 0;
  std::int64_t last_seen = 0;
  std::optional<bool> online;
  std::optional<std::string> state;  // JSON object text
  std::optional<std::string> firmware_version;
};

// A page of `device list` (the Device API's GET /api/v1/devices): devices
// whose id sorts after `after_id`, in device id order, so a page is stable
// while devices are added or deleted (keyset, never an offset).
struct DevicePageQuery {
  std::optional<std::string> status;       // active | revoked
  std::optional<bool> online;              // the stored presence
  std::optional<std::string> id_contains;  // a device id substring, matched literally
  std::optional<std::string> after_id;     // the last id of the previous page
  std::int64_t limit = 100;
};

// The fleet overview (GET /api/v1/fleet). The four device states partition
// `total`: `revoked` counts every revoked device, whatever its presence;
// `online` active devices whose stored presence is online; `offline` active
// devices seen before (last_seen set) and not online now; `never_seen` active
// devices never seen (no last_seen) and not online.
struct FleetCounts {
  std::int64_t total = 0;
  std::int64_t online = 0;
  std::int64_t offline = 0;
  std::int64_t never_seen = 0;
  std::int64_t revoked = 0;
  // Devices per reported firmware version (revoked ones included; devices
  // that never reported one are not counted), by version.
  std::vector<std::pair<std::string, std::int64_t>> firmware;
};

class DeviceStore {
 public:
  virtual ~DeviceStore() = default;
  // All of them in one transaction, or none: throws StoreError(conflict) when
  // an id is taken by a device or an account.
  virtual void add(const std::vector<NewDevice>& devices, std::int64_t now_s) = 0;
  void add_one(const std::string& device_id, const std::optional<std::string>& model,
               const std::string& secret_hash, std::int64_t now_s) {
    add({NewDevice{device_id, model, secret_hash}}, now_s);
  }
  virtual std::vector<DeviceRecord> list() = 0;
  virtual std::optional<DeviceRecord> get(const std::string& device_id) = 0;
  // At most q.limit devices, in device id order.
  virtual std::vector<DeviceRecord> page(const DevicePageQuery& q) = 0;
  // Counted by the database (no row is loaded).
  virtual FleetCounts fleet_counts() = 0;
  // False when there is no such device.
  virtual bool set_status(const std::string& device_id, const std::string& status) = 0;
  // Removes the device with its telemetry; false when there is no such device.
  virtual bool remove(const std::string& device_id) = 0;
  virtual std::vector<DeviceCredentials> load_credentials() = 0;
  virtual std::optional<DeviceCredentials> find_credentials(const std::string& device_id) = 0;
};

}  // namespace rs1
