// SQL for what the ingest writer writes: telemetry rows, device updates,
// security events and delivered downlinks, one transaction per batch.
#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {

void Ingest::begin_serving(std::int64_t now_s) {
  Transaction tx(c_);
  c_.query("UPDATE devices SET online = 0 WHERE online <> 0").run();
  c_.query("INSERT INTO meta (key, value) VALUES ('broker_started_at', ?1) "
           "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
      .bind(1, std::to_string(now_s))
      .run();
  tx.commit();
}

void Ingest::write_batch(const WriteBatch& batch) {
  Transaction tx(c_);
  if (!batch.telemetry.empty()) {
    // One statement for the batch's rows: looked up once, reset per row.
    Query insert = c_.query(
        "INSERT INTO telemetry (device_ref, metric, received_at_ms, payload) "
        "VALUES (?1, ?2, ?3, ?4)");
    for (const TelemetryRowView row : batch.telemetry) {
      insert.bind(1, row.device_ref)
          .bind(2, row.metric)
          .bind(3, row.received_at_ms)
          .bind(4, row.payload)
          .run();
      insert.reset();
    }
  }
  for (const auto& u : batch.devices) {
    c_.query("UPDATE devices SET last_seen = max(coalesce(last_seen, 0), ?2), "
             "online = coalesce(?3, online), state = coalesce(?4, state), "
             "firmware_version = coalesce(?5, firmware_version) WHERE id = ?1")
        .bind(1, u.device_ref)
        .bind(2, u.last_seen)
        .bind(3, u.online)
        .bind(4, u.state)
        .bind(5, u.firmware_version)
        .run();
  }
  for (const auto& e : batch.events) SecurityLog::insert(c_, e);
  for (const auto& d : batch.diag_sent) Diag::mark_sent(c_, d);
  for (const auto& a : batch.zone_acks) Zones::record_ack(c_, a);
  for (const auto& r : batch.rollouts) Rollouts::write_progress(c_, r);
  for (const auto& d : batch.rollout_devices) Rollouts::write_device(c_, d);
  tx.commit();
}

}  // namespace rs1::sqlite
