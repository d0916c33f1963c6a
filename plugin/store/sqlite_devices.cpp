// SQL for devices.
#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {
namespace {

constexpr const char* kDeviceColumns =
    "SELECT device_id, model, status, online, last_seen, state, firmware_version, created_at "
    "FROM devices";
constexpr const char* kCredentialColumns =
    "SELECT id, device_id, device_secret_hash, status FROM devices";

DeviceCredentials credentials_of(const Query& q) {
  return DeviceCredentials{q.integer(0), q.text(1), q.text(2), q.text(3) == "active"};
}

DeviceRecord record_of(const Query& q) {
  DeviceRecord r;
  r.device_id = q.text(0);
  r.model = q.opt_text(1);
  r.status = q.text(2);
  r.online = q.integer(3) != 0;
  r.last_seen = q.opt_integer(4);
  r.state = q.opt_text(5);
  r.firmware_version = q.opt_text(6);
  r.created_at = q.integer(7);
  return r;
}

}  // namespace

void Devices::add(const std::vector<NewDevice>& devices, std::int64_t now_s) {
  Transaction tx(c_);
  for (const auto& d : devices) {
    c_.query("INSERT INTO devices (device_id, model, device_secret_hash, created_at) "
             "VALUES (?1, ?2, ?3, ?4)")
        .bind(1, d.device_id)
        .bind(2, d.model)
        .bind(3, d.secret_hash)
        .bind(4, now_s)
        .run();
  }
  tx.commit();
}

std::vector<DeviceRecord> Devices::list() {
  std::vector<DeviceRecord> out;
  Query q = c_.query(std::string(kDeviceColumns) + " ORDER BY device_id");
  while (q.step()) out.push_back(record_of(q));
  return out;
}

std::optional<DeviceRecord> Devices::get(const std::string& device_id) {
  Query q = c_.query(std::string(kDeviceColumns) + " WHERE device_id = ?1");
  q.bind(1, device_id);
  if (!q.step()) return std::nullopt;
  return record_of(q);
}

namespace {

// `text` for a LIKE pattern with '\\' as the escape: % and _ match only themselves.
std::string like_literal(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

std::vector<DeviceRecord> Devices::page(const DevicePageQuery& q) {
  // One statement per combination of filters (at most 16), each cached.
  std::string sql = std::string(kDeviceColumns) + " WHERE 1";
  if (q.after_id) sql += " AND device_id > ?1";
  if (q.status) sql += " AND status = ?2";
  if (q.online) sql += " AND (online <> 0) = ?3";
  if (q.id_contains) sql += " AND device_id LIKE ?4 ESCAPE '\\'";
  sql += " ORDER BY device_id LIMIT ?5";
  // Bound as SQLITE_STATIC: the pattern must outlive the query.
  const std::string pattern = q.id_contains ? "%" + like_literal(*q.id_contains) + "%" : "";
  Query query = c_.query(sql);
  if (q.after_id) query.bind(1, *q.after_id);
  if (q.status) query.bind(2, *q.status);
  if (q.online) query.bind(3, static_cast<std::int64_t>(*q.online ? 1 : 0));
  if (q.id_contains) query.bind(4, pattern);
  query.bind(5, q.limit);
  std::vector<DeviceRecord> out;
  while (query.step()) out.push_back(record_of(query));
  return out;
}

FleetCounts Devices::fleet_counts() {
  FleetCounts counts;
  {
    {
      Query q = c_.query(
          "SELECT COUNT(*), "
          "COALESCE(SUM(status = 'revoked'), 0), "
          "COALESCE(SUM(status = 'active' AND online <> 0), 0), "
          "COALESCE(SUM(status = 'active' AND online = 0 AND last_seen IS NOT NULL), 0), "
          "COALESCE(SUM(status = 'active' AND online = 0 AND last_seen IS NULL), 0) "
          "FROM devices");
      if (q.step()) {
        counts.total = q.integer(0);
        counts.revoked = q.integer(1);
        counts.online = q.integer(2);
        counts.offline = q.integer(3);
        counts.never_seen = q.integer(4);
      }
    }
    {
      Query q = c_.query(
          "SELECT firmware_version, COUNT(*) FROM devices WHERE firmware_version IS NOT NULL "
          "GROUP BY firmware_version ORDER BY firmware_version");
      while (q.step()) counts.firmware.emplace_back(q.text(0), q.integer(1));
    }
  }
  return counts;
}

bool Devices::set_status(const std::string& device_id, const std::string& status) {
  Transaction tx(c_);
  c_.query("UPDATE devices SET status = ?2 WHERE device_id = ?1").bind(1, device_id).bind(2, status).run();
  bool found = c_.changes() > 0;
  tx.commit();
  return found;
}

bool Devices::remove(const std::string& device_id) {
  // The device first, in one short transaction (the broker then kicks it and
  // takes nothing more from it); its telemetry after, in bounded chunks with
  // a pause between them, so the ingest writer never waits for more than one
  // chunk (a device may hold millions of rows). Rows of a deleted device are
  // never shown nor archived (every read joins devices).
  std::optional<std::int64_t> ref;
  {
    Query q = c_.query("SELECT id FROM devices WHERE device_id = ?1");
    q.bind(1, device_id);
    if (q.step()) ref = q.integer(0);
  }
  if (!ref) {
    // Perhaps an interrupted delete of this very device: finish it.
    sweep_deleted_devices(c_);
    return false;
  }
  {
    Transaction tx(c_);
    c_.query("DELETE FROM diag_requests WHERE device_id = ?1").bind(1, device_id).run();
    c_.query("DELETE FROM devices WHERE id = ?1").bind(1, *ref).run();
    if (c_.changes() == 0) return false;  // deleted meanwhile
    tx.commit();
  }
  // Its rows, its hourly aggregates, and whatever an interrupted delete of
  // another device left behind.
  sweep_deleted_devices(c_);
  return true;
}

namespace {

// The next device_ref above `after` in `table` (one index seek), if any.
std::optional<std::int64_t> next_ref(Connection& c, const std::string& table, std::int64_t after) {
  Query q = c.query("SELECT device_ref FROM " + table +
                    " WHERE device_ref > ?1 ORDER BY device_ref LIMIT 1");
  q.bind(1, after);
  if (!q.step()) return std::nullopt;
  return q.integer(0);
}

bool device_exists(Connection& c, std::int64_t ref) {
  Query q = c.query("SELECT 1 FROM devices WHERE id = ?1");
  q.bind(1, ref);
  return q.step();
}

// Pauses at least as long as the chunk held the lock, so a waiting writer
// always finds it free.
void yield_after(std::chrono::steady_clock::time_point started) {
  const auto held = std::chrono::steady_clock::now() - started;
  std::this_thread::sleep_for(
      std::max<std::chrono::steady_clock::duration>(held, std::chrono::milliseconds(10)));
}

// Runs `sql` (a DELETE of at most ?2 rows of device ?1) until it deletes
// fewer than a chunk, each chunk its own short transaction.
std::size_t delete_in_chunks(Connection& c, const char* sql, std::int64_t device_ref) {
  std::size_t total = 0;
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    int deleted = 0;
    {
      Transaction tx(c);
      c.query(sql)
          .bind(1, device_ref)
          .bind(2, static_cast<std::int64_t>(Devices::kDeleteChunkRows))
          .run();
      deleted = c.changes();
      tx.commit();
    }
    total += static_cast<std::size_t>(deleted);
    if (deleted < static_cast<int>(Devices::kDeleteChunkRows)) return total;
    yield_after(started);
  }
}

std::size_t delete_hourly_of(Connection& c, std::int64_t device_ref) {
  return delete_in_chunks(
      c,
      "DELETE FROM telemetry_hourly WHERE (device_ref, metric, hour) IN (SELECT device_ref, "
      "metric, hour FROM telemetry_hourly WHERE device_ref = ?1 LIMIT ?2)",
      device_ref);
}

}  // namespace

std::size_t delete_rows_of(Connection& c, std::int64_t device_ref) {
  return delete_in_chunks(c,
                          "DELETE FROM telemetry WHERE rowid IN (SELECT rowid FROM telemetry "
                          "WHERE device_ref = ?1 LIMIT ?2)",
                          device_ref);
}

std::size_t sweep_deleted_devices(Connection& c) {
  // Device ids are never reused (AUTOINCREMENT), so a device_ref with no
  // device is a deleted one's for good. One seek per distinct device_ref.
  std::size_t total = 0;
  for (const char* table : {"telemetry", "telemetry_hourly"}) {
    std::int64_t after = std::numeric_limits<std::int64_t>::min();
    while (auto ref = next_ref(c, table, after)) {
      after = *ref;
      if (device_exists(c, *ref)) continue;
      total +=
          std::string(table) == "telemetry" ? delete_rows_of(c, *ref) : delete_hourly_of(c, *ref);
    }
  }
  return total;
}

std::vector<DeviceCredentials> Devices::load_credentials() {
  std::vector<DeviceCredentials> out;
  Query q = c_.query(kCredentialColumns);
  while (q.step()) out.push_back(credentials_of(q));
  return out;
}

std::optional<DeviceCredentials> Devices::find_credentials(const std::string& device_id) {
  Query q = c_.query(std::string(kCredentialColumns) + " WHERE device_id = ?1");
  q.bind(1, device_id);
  if (!q.step()) return std::nullopt;
  return credentials_of(q);
}

}  // namespace rs1::sqlite
