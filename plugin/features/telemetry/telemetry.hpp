// Telemetry (SPEC §5 `telemetry/<metric>`, §8 `telemetry query`): the row the
// broker queues, the query rs1ctl runs, and the narrow store interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store_error.hpp"

namespace rs1 {

struct TelemetryRow {
  std::int64_t device_ref = 0;
  std::string metric;
  std::int64_t received_at_ms = 0;
  std::string payload;
};

struct TelemetryQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> until_ms;
  std::int64_t limit = 1000;
};

struct TelemetryRecord {
  std::string device_id;
  std::string metric;
  std::int64_t received_at_ms = 0;
  std::string payload;  // JSON object text, exactly as the device sent it
};

class TelemetryStore {
 public:
  virtual ~TelemetryStore() = default;
  // Oldest first.
  virtual std::vector<TelemetryRecord> query(const TelemetryQuery& q) = 0;
  // Every row held (the bench checks that none was lost).
  virtual std::int64_t count() = 0;
};

}  // namespace rs1
