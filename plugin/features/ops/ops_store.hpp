// What the operations jobs keep in the database: hourly aggregates, the
// archive's chunks and their bookkeeping, the heartbeat, job outcomes, and
// the whole-database checks and online copies. One narrow interface; the
// SQLite implementation is store/sqlite_ops.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/store_error.hpp"
#include "features/ops/ops.hpp"
#include "features/security_log/security_log.hpp"

namespace rs1 {

struct HourlyAggregate {
  std::string device_id;
  std::string metric;
  std::int64_t hour = 0;  // unix seconds of the hour's start
  std::int64_t count = 0;
  std::string fields;  // JSON object {"NAME":{"min","max","avg"}}
};

struct HourlyQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::optional<std::int64_t> since_s;  // hour start at or after
  std::optional<std::int64_t> until_s;  // hour start at or before
  std::int64_t limit = 100000;
};

// A raw row on its way to the archive.
struct ArchiveRow {
  std::int64_t rowid = 0;
  std::string device_id;  // empty: its device was deleted (the row goes with it)
  std::string metric;
  std::int64_t received_at_ms = 0;
  std::string payload;
};

struct ArchivePending {
  std::string file;  // relative to the archive root
  std::int64_t size_before = 0;
};

// How an online copy proceeds: pages per step, the pause between steps, and
// a way to give up (the broker stopping).
struct CopyPacing {
  int pages_per_step = 256;
  int pause_ms = 2;
  std::function<bool()> cancelled;
};

class OpsStore {
 public:
  virtual ~OpsStore() = default;

  // "ok", or SQLite's first complaint.
  virtual std::string quick_check() = 0;
  virtual std::string integrity_check() = 0;

  // -------- aggregation
  virtual std::optional<std::int64_t> aggregated_through_ms() = 0;
  virtual std::optional<std::int64_t> oldest_telemetry_ms() = 0;
  // Computes the hour [hour_ms, hour_ms + 1 h) from the raw rows (reading
  // outside any write lock), replaces its aggregates and advances
  // aggregated_through_ms in one short transaction.
  virtual void aggregate_hour(std::int64_t hour_ms) = 0;
  virtual std::vector<HourlyAggregate> hourly(const HourlyQuery& q) = 0;
  // Deletes at most `max_rows` aggregates of hours before `before_s`; returns how many.
  virtual std::size_t delete_hourly_before(std::int64_t before_s, std::size_t max_rows) = 0;

  // -------- archive
  // Up to `max_rows` rows received in [from_ms, before_ms), in rowid order.
  virtual std::vector<ArchiveRow> archive_chunk(std::int64_t from_ms, std::int64_t before_ms,
                                                std::size_t max_rows) = 0;
  // The fast path, which empties the table from its start: the rows of
  // lowest rowid, in rowid order, up to `max_rows`, as long as each was
  // received before `before_ms` and on the day of the first. A row whose
  // device is gone comes with an empty device_id.
  virtual std::vector<ArchiveRow> archive_head(std::int64_t before_ms, std::size_t max_rows) = 0;
  // One transaction: deletes the rows with rowid in [first_rowid, last_rowid]
  // received in [from_ms, before_ms) (a head chunk, whole) and clears the
  // pending chunk; returns how many went.
  virtual std::size_t delete_archived_range(std::int64_t first_rowid, std::int64_t last_rowid,
                                            std::int64_t from_ms, std::int64_t before_ms) = 0;
  virtual std::optional<ArchivePending> archive_pending() = 0;
  virtual void set_archive_pending(const ArchivePending& p) = 0;
  // One transaction: deletes the rows and clears the pending chunk.
  virtual void delete_archived(const std::vector<std::int64_t>& rowids) = 0;
  virtual void clear_archive_pending() = 0;

  // -------- heartbeat and job outcomes
  virtual void write_heartbeat(const Heartbeat& h) = 0;
  virtual std::optional<Heartbeat> heartbeat() = 0;
  // A job's last outcome: nothing when it never ran; empty string when it
  // succeeded, else its error.
  virtual void record_job(const std::string& job, const std::string& error,
                          std::int64_t now_ms) = 0;
  virtual std::optional<std::string> job_error(const std::string& job) = 0;

  // -------- deleted devices
  // Deletes, in bounded chunks, the telemetry rows and hourly aggregates of
  // devices that are gone (a `device delete` interrupted between its chunks,
  // rows queued for a device as it was deleted); returns how many went.
  virtual std::size_t sweep_deleted_devices() = 0;

  // -------- checkpoints
  // Copies what the write-ahead log holds into the database file, as far as
  // readers allow, without waiting for or blocking the writer (SQLite: a
  // PASSIVE checkpoint). The broker's ingest writer never checkpoints inside
  // its own commits; this, run every second off its thread, does it instead.
  // A writer that never pauses keeps the log from starting over (it appends
  // while the copy runs), so once the log holds more than `bound_pages` and
  // the copy left less than a quarter of that, the rest is copied holding
  // the write lock for a moment (RESTART, giving up after 50 ms), and the
  // writer's next commit starts the log from its beginning.
  static constexpr std::int64_t kWalBoundPages = 16384;  // 64 MiB of 4 KiB pages
  virtual void checkpoint(std::int64_t bound_pages = kWalBoundPages) = 0;

  // -------- copies
  // A consistent online copy of the whole database into `dest_path` (a new
  // file), stepped in small pieces under one read snapshot, so writers go on.
  // Throws StoreError; a cancelled copy throws too and leaves `dest_path` to
  // the caller to remove.
  virtual void copy_to(const std::string& dest_path, const CopyPacing& pacing) = 0;
};

// Checks and copies of database files that no connection holds yet (a
// backup being verified, a restore). SQLite: store/sqlite_ops.cpp.
std::string integrity_check_file(const std::string& path);
void copy_database_file(const std::string& src_path, const std::string& dest_path);
// Appends `event` to the security log of the database file at `path` (a
// restored copy no connection holds yet), in its own rollback-journal
// transaction. Throws StoreError.
void append_security_event_to_file(const std::string& path, const SecurityEvent& event);

}  // namespace rs1
