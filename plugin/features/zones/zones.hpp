// Zones (SPEC §5 config/update and config/status, §6, §8 `zone`): each
// device's versioned zone configs (1, 2, …; the newest kZoneVersionsKept
// kept), the desired version the broker pushes and the version the device
// says it applied. The decisions are pure: which version comes next and
// which go, what an acknowledgement changes (an ack of an older version
// never marks a newer one applied), what the broker still owes a device.
// The rules of a config itself are in zone_config.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/payload.hpp"
#include "core/store_error.hpp"

namespace rs1 {

constexpr std::int64_t kZoneVersionsKept = 10;
// A device's rejection reason is kept to this many bytes.
constexpr std::size_t kMaxZoneErrorBytes = 1024;

// One stored version (`zone history`).
struct ZoneVersion {
  std::int64_t version = 0;
  std::int64_t created_at = 0;
  std::string status;  // pending | applied | rejected
  std::optional<std::string> error;
  std::optional<std::int64_t> acked_at;
  std::optional<std::int64_t> rollback_of;  // the version this one re-published
  std::string config;                       // canonical JSON
};

// `zone show`: all unset when the device never had a config.
struct ZoneSummary {
  std::optional<std::int64_t> desired_version;
  std::optional<std::int64_t> applied_version;
  std::optional<std::string> status;  // the desired version's
  std::optional<std::string> config;  // the desired version's
};

// What the broker must deliver: a device's desired version and whether the
// device has answered it yet.
struct ZoneDesired {
  std::string device_id;
  std::int64_t version = 0;
  std::string config;
  std::string status;  // pending | applied | rejected
};

// A device's config/status, recorded through the ingest writer.
struct ZoneAck {
  std::string device_id;
  std::int64_t version = 0;
  std::string status;  // applied | rejected
  std::optional<std::string> error;
  std::int64_t at_s = 0;
};

// --- decisions --------------------------------------------------------------

// A new version after `desired` (none yet: 1), and the oldest one kept once
// it is stored: older ones are deleted.
struct ZoneVersionPlan {
  std::int64_t version = 1;
  std::int64_t oldest_kept = 1;
};
ZoneVersionPlan plan_next_version(std::optional<std::int64_t> desired);
// Whether `version` is still kept when `desired` is the newest.
bool zone_version_kept(std::int64_t version, std::int64_t desired);

// What the store knows when an acknowledgement arrives.
struct ZoneAckState {
  std::optional<std::int64_t> desired_version;  // none: the device never had a config
  std::optional<std::int64_t> applied_version;
  bool version_kept = false;  // the acknowledged version's row still exists
};
// What the acknowledgement changes.
struct ZoneAckEffect {
  bool record_on_version = false;               // set the version's status and error
  std::optional<std::int64_t> applied_version;  // the device's new applied version
  std::optional<std::string> ignored;           // why nothing changes at all
};
ZoneAckEffect decide_zone_ack(const ZoneAckState& state, const ZoneAck& ack);

// The broker owes a device version `waiting`: does this report settle it
// (the device answered that very version, applied or rejected)?
bool zone_ack_settles(std::int64_t waiting, const ConfigStatusReport& report);

// The ack the writer records for a device's report at `now_s` (its error
// cut to kMaxZoneErrorBytes on a character boundary).
ZoneAck zone_ack_of(const std::string& device_id, const ConfigStatusReport& report,
                    std::int64_t now_s);

// The config/update payload: {"version":N,"config":{…}}; `config` is the
// stored canonical JSON.
std::string zone_update_payload(std::int64_t version, const std::string& config);

// --- store ------------------------------------------------------------------

class ZoneStore {
 public:
  virtual ~ZoneStore() = default;
  // Stores `config` (canonical JSON of a valid config) as the device's next
  // version and prunes the oldest beyond kZoneVersionsKept, in one
  // transaction. Throws StoreError(conflict) for an unknown device.
  virtual ZoneVersion add_version(const std::string& device_id, const std::string& config,
                                  std::int64_t now_s) = 0;
  // add_version, but only while the device's desired version is still
  // `expected` (0: it has none yet), checked and stored in one transaction:
  // nothing when another version came first (an editor's stale ETag).
  virtual std::optional<ZoneVersion> add_version_if(const std::string& device_id,
                                                    std::int64_t expected,
                                                    const std::string& config,
                                                    std::int64_t now_s) = 0;
  // Stores version `version`'s config again as the next version. Throws
  // StoreError(conflict) for an unknown device or a version not kept.
  virtual ZoneVersion roll_back(const std::string& device_id, std::int64_t version,
                                std::int64_t now_s) = 0;
  // Nothing for an unknown device.
  virtual std::optional<ZoneSummary> summary(const std::string& device_id) = 0;
  // Newest first; nothing for an unknown device.
  virtual std::optional<std::vector<ZoneVersion>> history(const std::string& device_id) = 0;
  // The desired version of one device (nothing when it has none), and of
  // every device whose desired version is still pending.
  virtual std::optional<ZoneDesired> desired(const std::string& device_id) = 0;
  virtual std::vector<ZoneDesired> pending() = 0;
};

}  // namespace rs1
