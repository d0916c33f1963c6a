// SQL for telemetry queries (rows are written by sqlite_ingest.cpp).
#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {

std::string Telemetry::sql_for(const TelemetryQuery& tq) {
  // Only the conditions asked for, so SQLite uses the (device, time) index.
  // Without a device, devices drive the join (CROSS JOIN fixes the order):
  // one index seek per device into its time window, and only the rows in the
  // window are sorted, never the whole table. A second index on time alone
  // would do it without the sort but cost every ingested row a second
  // B-tree insert.
  std::string sql =
      "SELECT d.device_id, t.metric, t.received_at_ms, t.payload FROM devices d "
      "CROSS JOIN telemetry t ON t.device_ref = d.id WHERE 1";
  if (tq.device_id) sql += " AND d.device_id = ?1";
  if (tq.metric) sql += " AND t.metric = ?2";
  if (tq.since_ms) sql += " AND t.received_at_ms >= ?3";
  if (tq.until_ms) sql += " AND t.received_at_ms <= ?4";
  sql += " ORDER BY t.received_at_ms, t.rowid LIMIT ?5";
  return sql;
}

std::vector<TelemetryRecord> Telemetry::query(const TelemetryQuery& tq) {
  Connection::OneShot stmt(c_, sql_for(tq));
  Query& q = stmt.query();
  if (tq.device_id) q.bind(1, *tq.device_id);
  if (tq.metric) q.bind(2, *tq.metric);
  if (tq.since_ms) q.bind(3, *tq.since_ms);
  if (tq.until_ms) q.bind(4, *tq.until_ms);
  q.bind(5, tq.limit);
  std::vector<TelemetryRecord> out;
  while (q.step()) out.push_back(TelemetryRecord{q.text(0), q.text(1), q.integer(2), q.text(3)});
  return out;
}

std::int64_t Telemetry::count() {
  Query q = c_.query("SELECT count(*) FROM telemetry");
  q.step();
  return q.integer(0);
}

}  // namespace rs1::sqlite
