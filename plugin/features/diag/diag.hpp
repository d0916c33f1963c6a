// Diagnostics (SPEC §5 `diag/request`, §8 `diag`): a request rs1ctl stores,
// the broker delivers to the device once it is online and subscribed, and
// the device answers as ordinary telemetry on `telemetry/diag`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store_error.hpp"

namespace rs1 {

constexpr std::int64_t kDiagTtlS = 24 * 3600;  // a request not delivered by then is dropped
constexpr std::size_t kDiagHeldPerDevice = 16;  // requests waiting for one device at most

struct DiagRequest {
  std::string request_id;
  std::string device_id;
  std::vector<std::string> what;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::optional<std::int64_t> sent_at;
};

// The broker's record that a request went out (through the ingest writer).
struct DiagSent {
  std::string request_id;
  std::int64_t sent_at = 0;
};

// A new request for `device_id`: a fresh id (32 hex characters), made at
// `now_s`, dropped kDiagTtlS later if not delivered. rs1ctl diag and the
// Device API's POST /api/v1/devices/{id}/diag both make theirs here and
// store it with DiagStore::add.
DiagRequest new_diag_request(const std::string& device_id, std::vector<std::string> what,
                             std::int64_t now_s);

// Why an item of `what` cannot be asked for (an empty name), or nothing.
std::optional<std::string> diag_item_problem(const std::string& item);

// The `diag/request` payload: {"request_id","what"}.
std::string diag_request_payload(const DiagRequest& request);

class DiagStore {
 public:
  virtual ~DiagStore() = default;
  // Throws StoreError(conflict) when the device already holds
  // kDiagHeldPerDevice requests not yet sent and not expired, or when the
  // device does not exist.
  virtual void add(const DiagRequest& request) = 0;
  virtual std::optional<DiagRequest> get(const std::string& request_id) = 0;
  // Not sent and not expired at `now_s`, oldest first.
  virtual std::vector<DiagRequest> pending(std::int64_t now_s) = 0;
};

}  // namespace rs1
