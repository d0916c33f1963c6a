// What the ingest writer writes: batches of telemetry rows, device updates,
// security events, diag and zone records and the rollout engine's progress,
// each batch one transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "features/devices/device.hpp"
#include "features/diag/diag.hpp"
#include "features/ota/rollout.hpp"
#include "features/security_log/security_log.hpp"
#include "features/telemetry/telemetry.hpp"
#include "features/zones/zones.hpp"

namespace rs1 {

// Every kind of item a batch holds, in the order write_batch applies them.
enum class WriteKind : std::size_t {
  telemetry_row,
  device_update,
  security_event,
  diag_sent,
  zone_ack,
  rollout_progress,
  rollout_device,
};
inline constexpr std::size_t kWriteKindCount = 7;

// The kind's metric label ("device_update") and its words in a log line.
inline const char* write_kind_label(WriteKind k) {
  static const char* const labels[kWriteKindCount] = {
      "telemetry_row", "device_update", "security_event", "diag_sent",
      "zone_ack",      "rollout",       "rollout_device"};
  return labels[static_cast<std::size_t>(k)];
}
inline const char* write_kind_words(WriteKind k) {
  static const char* const words[kWriteKindCount] = {
      "telemetry row(s)",          "device update(s)",     "security event(s)",
      "diag record(s)",            "zone acknowledgement(s)", "rollout progress record(s)",
      "rollout device record(s)"};
  return words[static_cast<std::size_t>(k)];
}

struct WriteBatch {
  TelemetryRows telemetry;
  std::vector<DeviceUpdate> devices;
  std::vector<SecurityEvent> events;
  std::vector<DiagSent> diag_sent;
  std::vector<ZoneAck> zone_acks;
  // The rollout engine's progress, rollouts then devices.
  std::vector<RolloutProgress> rollouts;
  std::vector<RolloutDeviceRow> rollout_devices;

  // Calls f(kind, list) for every list, in WriteKind order: the one place
  // that knows them all (sizes, splitting, accounting for losses).
  template <typename F>
  void each_list(F&& f) {
    each_list_of(f, *this);
  }
  template <typename F>
  void each_list(F&& f) const {
    each_list_of(f, *this);
  }
  // The same walk over several batches at once: f(kind, list of each...).
  template <typename F, typename... Batches>
  static void each_list_of(F& f, Batches&... b) {
    f(WriteKind::telemetry_row, b.telemetry...);
    f(WriteKind::device_update, b.devices...);
    f(WriteKind::security_event, b.events...);
    f(WriteKind::diag_sent, b.diag_sent...);
    f(WriteKind::zone_ack, b.zone_acks...);
    f(WriteKind::rollout_progress, b.rollouts...);
    f(WriteKind::rollout_device, b.rollout_devices...);
  }

  std::size_t size() const {
    std::size_t n = 0;
    each_list([&](WriteKind, const auto& list) { n += list.size(); });
    return n;
  }
  bool empty() const { return size() == 0; }
  void clear() {
    each_list([](WriteKind, auto& list) { list.clear(); });
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
