// What the ingest writer writes: batches of telemetry rows, device updates
// and security events, each batch one transaction.
#pragma once

#include <cstdint>
#include <vector>

#include "features/devices/device.hpp"
#include "features/diag/diag.hpp"
#include "features/ota/rollout.hpp"
#include "features/security_log/security_log.hpp"
#include "features/telemetry/telemetry.hpp"

namespace rs1 {

struct WriteBatch {
  std::vector<TelemetryRow> telemetry;
  std::vector<DeviceUpdate> devices;
  std::vector<SecurityEvent> events;
  std::vector<DiagSent> diag_sent;
  // The rollout engine's progress, rollouts then devices.
  std::vector<RolloutProgress> rollouts;
  std::vector<RolloutDeviceRow> rollout_devices;

  std::size_t size() const {
    return telemetry.size() + devices.size() + events.size() + diag_sent.size() +
           rollouts.size() + rollout_devices.size();
  }
  bool empty() const { return size() == 0; }
  void clear() {
    telemetry.clear();
    devices.clear();
    events.clear();
    diag_sent.clear();
    rollouts.clear();
    rollout_devices.clear();
  }
};

class IngestStore {
 public:
  virtual ~IngestStore() = default;
  // At start: proves with a real write that the database is writable, and
  // marks every device offline.
  virtual void begin_serving(std::int64_t now_s) = 0;
  // One transaction: all of the batch or, on StoreError, none of it.
  virtual void write_batch(const WriteBatch& batch) = 0;
};

}  // namespace rs1
