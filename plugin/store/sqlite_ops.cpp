// SQL of the operations jobs: hourly aggregates, archive chunks and their
// bookkeeping, the heartbeat, job outcomes, whole-database checks and the
// online copy (sqlite3_backup, stepped under one read snapshot).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {
namespace {

using Json = nlohmann::json;

std::string check_result(Connection& c, const char* pragma) {
  Query q = c.query(pragma);
  std::string first;
  if (q.step()) first = q.text(0);
  return first.empty() ? std::string("no answer") : first;
}

// A read transaction for the life of the object: one snapshot for several
// statements, ended however the scope is left.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& c) : c_(c) { c_.exec("BEGIN", "cannot begin a read"); }
  ~ReadSnapshot() {
    if (!sqlite3_get_autocommit(c_.handle()))
      sqlite3_exec(c_.handle(), "COMMIT", nullptr, nullptr, nullptr);
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  Connection& c_;
};

struct Close {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct Finish {
  void operator()(sqlite3_backup* b) const noexcept { sqlite3_backup_finish(b); }
};

std::unique_ptr<sqlite3, Close> open_raw(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, Close> db(raw);
  if (rc != SQLITE_OK) throw_open_error(raw, rc, path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

void exec_raw(sqlite3* db, const char* sql, const std::string& context) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = context + ": " + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    throw StoreError(kind_of(rc), msg);
  }
}

std::string first_row(sqlite3* db, const char* sql, const std::string& context) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  if (rc != SQLITE_OK) throw_error(db, rc, context);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, &sqlite3_finalize);
  rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
    return p ? p : "";
  }
  if (rc == SQLITE_DONE) return "no answer";
  throw_error(db, rc, context);
}

// The copy's pages reach the disk a step at a time. sqlite3_backup commits
// the destination once, at the end: left alone, the kernel would hold
// hundreds of MiB dirty and write them out in one burst, and the live
// database's commits (their fsync on the same disk) would queue behind it.
class WriteBehind {
 public:
  explicit WriteBehind(std::string path) : path_(std::move(path)) {}
  ~WriteBehind() {
    if (fd_ >= 0) ::close(fd_);
  }
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Writes out what the copy has handed to the kernel so far, and waits.
  void flush() {
    if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return;  // not there yet: nothing to write out
    ::sync_file_range(
        fd_, 0, 0,
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Copies every page of `src` into `dest` (the file `dest_path`),
// `pages_per_step` at a time.
void step_copy(sqlite3* src, sqlite3* dest, const std::string& dest_path,
               const CopyPacing& pacing) {
  // A small cache: the pages go to the file (and out, below) as they come.
  exec_raw(dest, "PRAGMA cache_size=-1024", "cannot start the copy");
  WriteBehind out(dest_path);
  // SQLite says "disk I/O error": the file and the system's reason say more.
  auto copy_failed = [&](int rc) {
    const int sys = sqlite3_system_errno(dest);
    throw_error(dest, rc,
                "cannot copy the database to " + dest_path +
                    (sys != 0 ? std::string(" (") + std::strerror(sys) + ")" : std::string()));
  };
  std::unique_ptr<sqlite3_backup, Finish> b(sqlite3_backup_init(dest, "main", src, "main"));
  if (!b) throw_error(dest, sqlite3_errcode(dest), "cannot start the copy to " + dest_path);
  for (;;) {
    int rc = sqlite3_backup_step(b.get(), pacing.pages_per_step);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
      b.reset();
      copy_failed(rc);
    }
    out.flush();
    if (pacing.cancelled && pacing.cancelled()) {
      throw StoreError(StoreError::Kind::transient, "copy cancelled");
    }
    if (pacing.pause_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(pacing.pause_ms));
  }
  int rc = sqlite3_backup_finish(b.release());
  if (rc != SQLITE_OK) copy_failed(rc);
}

}  // namespace

std::string Ops::quick_check() { return check_result(c_, "PRAGMA quick_check(1)"); }
std::string Ops::integrity_check() { return check_result(c_, "PRAGMA integrity_check(1)"); }

std::optional<std::string> Ops::state(const std::string& key) {
  Query q = c_.query("SELECT value FROM ops_state WHERE key = ?1");
  q.bind(1, key);
  if (!q.step()) return std::nullopt;
  return q.text(0);
}

void Ops::set_state(const std::string& key, const std::string& value, std::int64_t now_ms) {
  c_.query(
        "INSERT INTO ops_state (key, value, updated_ms) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms")
      .bind(1, key)
      .bind(2, value)
      .bind(3, now_ms)
      .run();
}

std::optional<std::int64_t> Ops::aggregated_through_ms() {
  auto v = state("aggregated_through_ms");
  if (!v) return std::nullopt;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::int64_t> Ops::oldest_telemetry_ms() {
  // One index seek per device rather than a scan of every row.
  Query q = c_.query(
      "SELECT min((SELECT min(received_at_ms) FROM telemetry WHERE device_ref = d.id)) "
      "FROM devices d");
  if (!q.step() || q.is_null(0)) return std::nullopt;
  return q.integer(0);
}

void Ops::aggregate_hour(std::int64_t hour_ms) {
  // One row per (device, metric), its fields already the stored text: an
  // hour of 10,000 devices stays a few MiB, where a tree of JSON values per
  // field would take tens that the heap keeps after the job.
  struct Agg {
    std::int64_t device_ref;
    std::string metric;
    std::int64_t count;
    std::string fields;
  };
  std::vector<Agg> aggs;
  const std::int64_t end_ms = hour_ms + kOpsHourMs;
  {
    // Reads outside any write lock (devices drive the join, one index seek
    // each): the writer goes on meanwhile. Both queries come out in
    // (device, metric) order, so the numeric fields of each pair are merged
    // into its count row as they stream.
    ReadSnapshot snapshot(c_);
    Query counts = c_.query(
        "SELECT d.id, t.metric, count(*) FROM devices d CROSS JOIN telemetry t "
        "ON t.device_ref = d.id WHERE t.received_at_ms >= ?1 AND t.received_at_ms < ?2 "
        "GROUP BY 1, 2 ORDER BY 1, 2");
    counts.bind(1, hour_ms).bind(2, end_ms);
    Query fields = c_.query(
        "SELECT d.id, t.metric, j.key, min(j.value), max(j.value), avg(j.value), "
        "sum(j.type = 'real') FROM devices d CROSS JOIN telemetry t ON t.device_ref = d.id, "
        "json_each(CASE WHEN json_valid(t.payload) THEN t.payload ELSE '{}' END) j "
        "WHERE t.received_at_ms >= ?1 AND t.received_at_ms < ?2 "
        "AND j.type IN ('integer', 'real') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
    fields.bind(1, hour_ms).bind(2, end_ms);
    bool field_row = fields.step();
    while (counts.step()) {
      Agg agg{counts.integer(0), counts.text(1), counts.integer(2), {}};
      Json f = Json::object();
      // A pair ordered before this one has no count row: cannot happen (the
      // same rows feed both), skipped all the same.
      while (field_row && (fields.integer(0) < agg.device_ref ||
                           (fields.integer(0) == agg.device_ref && fields.text(1) < agg.metric))) {
        field_row = fields.step();
      }
      for (; field_row && fields.integer(0) == agg.device_ref && fields.text(1) == agg.metric;
           field_row = fields.step()) {
        Json& v = f[fields.text(2)];
        if (fields.integer(6) == 0) {  // integers only: keep them integers
          v["min"] = fields.integer(3);
          v["max"] = fields.integer(4);
        } else {
          v["min"] = fields.real(3);
          v["max"] = fields.real(4);
        }
        v["avg"] = fields.real(5);
      }
      agg.fields = f.dump();
      aggs.push_back(std::move(agg));
    }
  }
  const std::int64_t hour_s = hour_ms / 1000;
  Transaction tx(c_);
  c_.query("DELETE FROM telemetry_hourly WHERE hour = ?1").bind(1, hour_s).run();
  for (const Agg& agg : aggs) {
    c_.query(
          "INSERT INTO telemetry_hourly (device_ref, metric, hour, count, fields) "
          "VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, agg.device_ref)
        .bind(2, agg.metric)
        .bind(3, hour_s)
        .bind(4, agg.count)
        .bind(5, agg.fields)
        .run();
  }
  const std::int64_t through = std::max(end_ms, aggregated_through_ms().value_or(0));
  set_state("aggregated_through_ms", std::to_string(through), end_ms);
  tx.commit();
}

std::vector<HourlyAggregate> Ops::hourly(const HourlyQuery& hq) {
  std::string sql =
      "SELECT d.device_id, h.metric, h.hour, h.count, h.fields FROM telemetry_hourly h "
      "JOIN devices d ON d.id = h.device_ref WHERE 1";
  if (hq.device_id) sql += " AND d.device_id = ?1";
  if (hq.metric) sql += " AND h.metric = ?2";
  if (hq.since_s) sql += " AND h.hour >= ?3";
  if (hq.until_s) sql += " AND h.hour <= ?4";
  sql += " ORDER BY h.hour, d.device_id, h.metric LIMIT ?5";
  Connection::OneShot stmt(c_, sql);
  Query& q = stmt.query();
  if (hq.device_id) q.bind(1, *hq.device_id);
  if (hq.metric) q.bind(2, *hq.metric);
  if (hq.since_s) q.bind(3, *hq.since_s);
  if (hq.until_s) q.bind(4, *hq.until_s);
  q.bind(5, hq.limit);
  std::vector<HourlyAggregate> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.integer(2), q.integer(3), q.text(4)});
  return out;
}

std::size_t Ops::delete_hourly_before(std::int64_t before_s, std::size_t max_rows) {
  Transaction tx(c_);
  c_.query(
        "DELETE FROM telemetry_hourly WHERE (device_ref, metric, hour) IN "
        "(SELECT device_ref, metric, hour FROM telemetry_hourly WHERE hour < ?1 LIMIT ?2)")
      .bind(1, before_s)
      .bind(2, static_cast<std::int64_t>(max_rows))
      .run();
  auto n = static_cast<std::size_t>(c_.changes());
  tx.commit();
  return n;
}

std::vector<ArchiveRow> Ops::archive_chunk(std::int64_t from_ms, std::int64_t before_ms,
                                           std::size_t max_rows) {
  // Devices drive the join: one index seek per device into the window.
  Query q = c_.query(
      "SELECT t.rowid, d.device_id, t.metric, t.received_at_ms, t.payload FROM devices d "
      "CROSS JOIN telemetry t ON t.device_ref = d.id "
      "WHERE t.received_at_ms >= ?1 AND t.received_at_ms < ?2 LIMIT ?3");
  q.bind(1, from_ms).bind(2, before_ms).bind(3, static_cast<std::int64_t>(max_rows));
  std::vector<ArchiveRow> out;
  while (q.step()) out.push_back({q.integer(0), q.text(1), q.text(2), q.integer(3), q.text(4)});
  return out;
}

std::vector<ArchiveRow> Ops::archive_head(std::int64_t before_ms, std::size_t max_rows) {
  Query q = c_.query(
      "SELECT t.rowid, d.device_id, t.metric, t.received_at_ms, t.payload FROM telemetry t "
      "LEFT JOIN devices d ON d.id = t.device_ref ORDER BY t.rowid LIMIT ?1");
  q.bind(1, static_cast<std::int64_t>(max_rows));
  std::vector<ArchiveRow> out;
  std::int64_t day_end = 0;
  while (q.step()) {
    const std::int64_t received = q.integer(3);
    if (received >= before_ms) break;
    if (out.empty()) {
      day_end = day_floor(received) + kOpsDayMs;
    } else if (received >= day_end || received < day_end - kOpsDayMs) {
      break;
    }
    out.push_back(
        {q.integer(0), q.is_null(1) ? std::string() : q.text(1), q.text(2), received, q.text(4)});
  }
  return out;
}

std::size_t Ops::delete_archived_range(std::int64_t first_rowid, std::int64_t last_rowid,
                                       std::int64_t from_ms, std::int64_t before_ms) {
  Transaction tx(c_);
  c_.query(
        "DELETE FROM telemetry WHERE rowid BETWEEN ?1 AND ?2 AND received_at_ms >= ?3 "
        "AND received_at_ms < ?4")
      .bind(1, first_rowid)
      .bind(2, last_rowid)
      .bind(3, from_ms)
      .bind(4, before_ms)
      .run();
  auto n = static_cast<std::size_t>(c_.changes());
  c_.query("DELETE FROM archive_pending").run();
  tx.commit();
  return n;
}

std::optional<ArchivePending> Ops::archive_pending() {
  Query q = c_.query("SELECT file, size_before FROM archive_pending WHERE id = 1");
  if (!q.step()) return std::nullopt;
  return ArchivePending{q.text(0), q.integer(1)};
}

void Ops::set_archive_pending(const ArchivePending& p) {
  Transaction tx(c_);
  c_.query("INSERT OR REPLACE INTO archive_pending (id, file, size_before) VALUES (1, ?1, ?2)")
      .bind(1, p.file)
      .bind(2, p.size_before)
      .run();
  tx.commit();
}

void Ops::delete_archived(const std::vector<std::int64_t>& rowids) {
  Json ids = rowids;
  Transaction tx(c_);
  c_.query("DELETE FROM telemetry WHERE rowid IN (SELECT value FROM json_each(?1))")
      .bind(1, ids.dump())
      .run();
  c_.query("DELETE FROM archive_pending").run();
  tx.commit();
}

void Ops::clear_archive_pending() {
  Transaction tx(c_);
  c_.query("DELETE FROM archive_pending").run();
  tx.commit();
}

void Ops::write_heartbeat(const Heartbeat& h) {
  Json j = {{"time_ms", h.time_ms},
            {"pid", h.pid},
            {"queue_depth", h.queue_depth},
            {"queue_max", h.queue_max},
            {"last_commit_ms", h.last_commit_ms},
            {"same_file", h.same_file}};
  Transaction tx(c_);
  set_state("heartbeat", j.dump(), h.time_ms);
  tx.commit();
}

std::optional<Heartbeat> Ops::heartbeat() {
  auto v = state("heartbeat");
  if (!v) return std::nullopt;
  Json j = Json::parse(*v, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  Heartbeat h;
  h.time_ms = j.value("time_ms", std::int64_t{0});
  h.pid = j.value("pid", std::int64_t{0});
  h.queue_depth = j.value("queue_depth", std::int64_t{0});
  h.queue_max = j.value("queue_max", std::int64_t{0});
  h.last_commit_ms = j.value("last_commit_ms", std::int64_t{0});
  h.same_file = j.value("same_file", true);
  return h;
}

void Ops::record_job(const std::string& job, const std::string& error, std::int64_t now_ms) {
  Transaction tx(c_);
  set_state("job:" + job, error, now_ms);
  tx.commit();
}

std::optional<std::string> Ops::job_error(const std::string& job) { return state("job:" + job); }

std::size_t Ops::sweep_deleted_devices() { return rs1::sqlite::sweep_deleted_devices(c_); }

void Ops::copy_to(const std::string& dest_path, const CopyPacing& pacing) {
  {
    // One read snapshot for the whole copy: sqlite3_backup then never
    // restarts because the writer committed, and the copy is the database
    // as of BEGIN.
    ReadSnapshot snapshot(c_);
    c_.query("SELECT count(*) FROM sqlite_master").run();
    auto dest = open_raw(dest_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    step_copy(c_.handle(), dest.get(), dest_path, pacing);
    // A backup is one self-contained file: no -wal beside it.
    exec_raw(dest.get(), "PRAGMA journal_mode=DELETE", "cannot finish the copy");
  }
}

void Ops::checkpoint(std::int64_t bound_pages) {
  int in_log = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(c_.handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &in_log,
                                     &copied);
  // BUSY: another connection is checkpointing; the next run goes on from there.
  if (rc == SQLITE_BUSY) return;
  if (rc != SQLITE_OK) throw_error(c_.handle(), rc, "checkpoint failed");
  // Measured: 5 million rows at 155,000/s left a 1.2 GB log behind PASSIVE
  // copies alone. Far behind (a long reader's snapshot held the copy back)
  // the rest would hold the writer too long: PASSIVE goes on next second.
  if (in_log <= bound_pages || in_log - copied > bound_pages / 4) return;
  const int wait_ms = c_.busy_timeout_ms();
  c_.set_busy_timeout_ms(50);
  rc = sqlite3_wal_checkpoint_v2(c_.handle(), "main", SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
  c_.set_busy_timeout_ms(wait_ms);
  // BUSY: the writer's commit or a reader outlasted the 50 ms; next second.
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) throw_error(c_.handle(), rc, "checkpoint failed");
}

}  // namespace rs1::sqlite

namespace rs1 {

std::string integrity_check_file(const std::string& path) {
  using namespace rs1::sqlite;
  auto db = open_raw(path, SQLITE_OPEN_READONLY);
  // The default 2 MiB cache makes 1.1 million reads of a 230 MiB file
  // (3.8 s, 2.4 s of it in the kernel), 64 MiB 112,000 (1.3 s): the
  // broker's writer shares these cores.
  exec_raw(db.get(), "PRAGMA cache_size=-65536", "cannot check " + path);
  return first_row(db.get(), "PRAGMA integrity_check(1)", "integrity_check failed");
}

void copy_database_file(const std::string& src_path, const std::string& dest_path) {
  using namespace rs1::sqlite;
  auto src = open_raw(src_path, SQLITE_OPEN_READONLY);
  auto dest = open_raw(dest_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  step_copy(src.get(), dest.get(), dest_path, CopyPacing{1024, 0, {}});
  exec_raw(dest.get(), "PRAGMA journal_mode=DELETE", "cannot finish the copy");
}

void append_security_event_to_file(const std::string& path, const SecurityEvent& event) {
  using namespace rs1::sqlite;
  auto db = open_raw(path, SQLITE_OPEN_READWRITE);
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(),
                              "INSERT INTO security_log (event_type, severity, ip, details, time) "
                              "VALUES (?1, ?2, nullif(?3, ''), ?4, ?5)",
                              -1, &raw, nullptr);
  if (rc != SQLITE_OK) throw_error(db.get(), rc, "cannot record in " + path);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, &sqlite3_finalize);
  sqlite3_bind_text(raw, 1, event.event_type.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(raw, 2, event.severity.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(raw, 3, event.ip.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(raw, 4, event.details.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(raw, 5, event.time);
  rc = sqlite3_step(raw);
  if (rc != SQLITE_DONE) throw_error(db.get(), rc, "cannot record in " + path);
}

}  // namespace rs1
