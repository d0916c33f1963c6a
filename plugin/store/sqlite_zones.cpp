// SQL for zone configs: versions stored by rs1ctl (and later the API),
// acknowledgements recorded by the ingest writer.
#include <algorithm>

#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {
namespace {

constexpr const char* kVersionColumns =
    "SELECT version, created_at, status, error, acked_at, rollback_of, config FROM zone_versions";

ZoneVersion version_of(const Query& q) {
  ZoneVersion v;
  v.version = q.integer(0);
  v.created_at = q.integer(1);
  v.status = q.text(2);
  v.error = q.opt_text(3);
  v.acked_at = q.opt_integer(4);
  v.rollback_of = q.opt_integer(5);
  v.config = q.text(6);
  return v;
}

bool device_exists(Connection& c, const std::string& device_id) {
  Query q = c.query("SELECT 1 FROM devices WHERE device_id = ?1");
  q.bind(1, device_id);
  return q.step();
}

std::optional<std::int64_t> desired_of(Connection& c, const std::string& device_id) {
  Query q = c.query("SELECT desired_version FROM zone_configs WHERE device_id = ?1");
  q.bind(1, device_id);
  if (!q.step()) return std::nullopt;
  return q.integer(0);
}

StoreError no_device(const std::string& device_id) {
  return StoreError(StoreError::Kind::conflict, "device " + device_id + " not found");
}

// Inside the caller's transaction.
ZoneVersion store_next(Connection& c, const std::string& device_id, const std::string& config,
                       std::optional<std::int64_t> rollback_of, std::int64_t now_s) {
  const ZoneVersionPlan plan = plan_next_version(desired_of(c, device_id));
  c.query(
       "INSERT INTO zone_configs (device_id, desired_version) VALUES (?1, ?2) "
       "ON CONFLICT (device_id) DO UPDATE SET desired_version = excluded.desired_version")
      .bind(1, device_id)
      .bind(2, plan.version)
      .run();
  c.query(
       "INSERT INTO zone_versions (device_id, version, config, created_at, rollback_of) "
       "VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, device_id)
      .bind(2, plan.version)
      .bind(3, config)
      .bind(4, now_s)
      .bind(5, rollback_of)
      .run();
  c.query("DELETE FROM zone_versions WHERE device_id = ?1 AND version < ?2")
      .bind(1, device_id)
      .bind(2, plan.oldest_kept)
      .run();
  ZoneVersion v;
  v.version = plan.version;
  v.created_at = now_s;
  v.status = "pending";
  v.rollback_of = rollback_of;
  v.config = config;
  return v;
}

}  // namespace

ZoneVersion Zones::add_version(const std::string& device_id, const std::string& config,
                               std::int64_t now_s) {
  Transaction tx(c_);
  if (!device_exists(c_, device_id)) throw no_device(device_id);
  ZoneVersion v = store_next(c_, device_id, config, std::nullopt, now_s);
  tx.commit();
  return v;
}

std::optional<ZoneVersion> Zones::add_version_if(const std::string& device_id,
                                                 std::int64_t expected, const std::string& config,
                                                 std::int64_t now_s) {
  Transaction tx(c_);
  if (!device_exists(c_, device_id)) throw no_device(device_id);
  if (desired_of(c_, device_id).value_or(0) != expected) return std::nullopt;
  ZoneVersion v = store_next(c_, device_id, config, std::nullopt, now_s);
  tx.commit();
  return v;
}

ZoneVersion Zones::roll_back(const std::string& device_id, std::int64_t version,
                             std::int64_t now_s) {
  Transaction tx(c_);
  if (!device_exists(c_, device_id)) throw no_device(device_id);
  std::optional<std::string> config;
  {
    Query q = c_.query("SELECT config FROM zone_versions WHERE device_id = ?1 AND version = ?2");
    q.bind(1, device_id).bind(2, version);
    if (q.step()) config = q.text(0);
  }
  if (!config) {
    std::optional<std::int64_t> desired = desired_of(c_, device_id);
    std::string why;
    if (!desired) {
      why = "device " + device_id + " has no zone config";
    } else if (version > *desired) {
      why = "device " + device_id + " has no zone version " + std::to_string(version) +
            " (the newest is " + std::to_string(*desired) + ")";
    } else {
      why = "zone version " + std::to_string(version) + " of " + device_id +
            " is no longer kept (the newest " + std::to_string(kZoneVersionsKept) + " are kept: " +
            std::to_string(std::max<std::int64_t>(1, *desired - kZoneVersionsKept + 1)) + ".." +
            std::to_string(*desired) + ")";
    }
    throw StoreError(StoreError::Kind::conflict, why);
  }
  ZoneVersion v = store_next(c_, device_id, *config, version, now_s);
  tx.commit();
  return v;
}

std::optional<ZoneSummary> Zones::summary(const std::string& device_id) {
  if (!device_exists(c_, device_id)) return std::nullopt;
  ZoneSummary s;
  Query q = c_.query(
      "SELECT z.desired_version, z.applied_version, v.status, v.config FROM zone_configs z "
      "LEFT JOIN zone_versions v ON v.device_id = z.device_id AND v.version = z.desired_version "
      "WHERE z.device_id = ?1");
  q.bind(1, device_id);
  if (q.step()) {
    s.desired_version = q.integer(0);
    s.applied_version = q.opt_integer(1);
    s.status = q.opt_text(2);
    s.config = q.opt_text(3);
  }
  return s;
}

std::optional<std::vector<ZoneVersion>> Zones::history(const std::string& device_id) {
  if (!device_exists(c_, device_id)) return std::nullopt;
  std::vector<ZoneVersion> out;
  Query q = c_.query(std::string(kVersionColumns) + " WHERE device_id = ?1 ORDER BY version DESC");
  q.bind(1, device_id);
  while (q.step()) out.push_back(version_of(q));
  return out;
}

std::optional<ZoneDesired> Zones::desired(const std::string& device_id) {
  Query q = c_.query(
      "SELECT z.device_id, z.desired_version, v.config, v.status FROM zone_configs z "
      "JOIN zone_versions v ON v.device_id = z.device_id AND v.version = z.desired_version "
      "WHERE z.device_id = ?1");
  q.bind(1, device_id);
  if (!q.step()) return std::nullopt;
  return ZoneDesired{q.text(0), q.integer(1), q.text(2), q.text(3)};
}

std::vector<ZoneDesired> Zones::pending() {
  Query q = c_.query(
      "SELECT z.device_id, z.desired_version, v.config, v.status FROM zone_configs z "
      "JOIN zone_versions v ON v.device_id = z.device_id AND v.version = z.desired_version "
      "WHERE v.status = 'pending' ORDER BY z.device_id");
  std::vector<ZoneDesired> out;
  while (q.step()) out.push_back(ZoneDesired{q.text(0), q.integer(1), q.text(2), q.text(3)});
  return out;
}

void Zones::record_ack(Connection& c, const ZoneAck& ack) {
  ZoneAckState state;
  {
    Query q =
        c.query("SELECT desired_version, applied_version FROM zone_configs WHERE device_id = ?1");
    q.bind(1, ack.device_id);
    if (q.step()) {
      state.desired_version = q.integer(0);
      state.applied_version = q.opt_integer(1);
    }
  }
  {
    Query q = c.query("SELECT 1 FROM zone_versions WHERE device_id = ?1 AND version = ?2");
    q.bind(1, ack.device_id).bind(2, ack.version);
    state.version_kept = q.step();
  }
  const ZoneAckEffect effect = decide_zone_ack(state, ack);
  if (effect.record_on_version) {
    c.query(
         "UPDATE zone_versions SET status = ?3, error = ?4, acked_at = ?5 "
         "WHERE device_id = ?1 AND version = ?2")
        .bind(1, ack.device_id)
        .bind(2, ack.version)
        .bind(3, ack.status)
        .bind(4, ack.status == "rejected" ? ack.error : std::nullopt)
        .bind(5, ack.at_s)
        .run();
  }
  if (effect.applied_version) {
    c.query("UPDATE zone_configs SET applied_version = ?2, applied_at = ?3 WHERE device_id = ?1")
        .bind(1, ack.device_id)
        .bind(2, *effect.applied_version)
        .bind(3, ack.at_s)
        .run();
  }
}

}  // namespace rs1::sqlite
