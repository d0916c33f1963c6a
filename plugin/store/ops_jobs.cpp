#include "store/ops_jobs.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <thread>

namespace rs1 {
namespace {

using SteadyClock = std::chrono::steady_clock;

// After a write that held the lock for `held`, at least as long again, so a
// writer waiting on it finds it free.
void yield_after(SteadyClock::duration held) {
  std::this_thread::sleep_for(std::max<SteadyClock::duration>(held, std::chrono::milliseconds(5)));
}

// A chunk whose rows were not deleted (its delete and the marker's removal
// are one transaction): its member may or may not be in the file. Cuts the
// file back to before it; the rows are still in the database and move again.
bool roll_back_pending(OpsStore& ops, const std::string& root) {
  auto pending = ops.archive_pending();
  if (!pending) return false;
  truncate_file(root + "/" + pending->file, pending->size_before);
  ops.clear_archive_pending();
  return true;
}

// Runs one chunk's file write and delete; when either fails (a full or
// failing disk), cuts the member back out at once, so no reader of the
// archive sees half a member or a row both there and in the database, then
// rethrows. When even that fails, the marker stays for the next run.
template <typename Step>
void chunk_or_roll_back(OpsStore& ops, const std::string& root, Step step) {
  try {
    step();
  } catch (...) {
    try {
      roll_back_pending(ops, root);
    } catch (...) {
    }
    throw;
  }
}

}  // namespace

AggregationResult aggregate_due_hours(Database& db, const OpsJobContext& ctx, std::int64_t now_ms) {
  AggregationResult result;
  OpsStore& ops = db.ops();
  for (;;) {
    auto hours =
        hours_to_aggregate(ops.aggregated_through_ms(), ops.oldest_telemetry_ms(), now_ms, 48);
    if (hours.empty()) break;
    for (std::int64_t h : hours) {
      if (ctx.stopping()) return result;
      auto started = SteadyClock::now();
      ops.aggregate_hour(h);
      ++result.hours;
      yield_after(std::chrono::milliseconds(1) + (SteadyClock::now() - started) / 8);
    }
  }
  // Aggregates are kept as long as the archive.
  const std::int64_t keep_from_s =
      (now_ms - static_cast<std::int64_t>(ctx.archive_retention_days) * kOpsDayMs) / 1000;
  for (;;) {
    if (ctx.stopping()) break;
    auto started = SteadyClock::now();
    std::size_t n = ops.delete_hourly_before(hour_floor(keep_from_s * 1000) / 1000, 5000);
    result.aggregates_deleted += n;
    if (n < 5000) break;
    yield_after(SteadyClock::now() - started);
  }
  return result;
}

ArchiveResult archive_old_rows(Database& db, const OpsJobContext& ctx, std::int64_t now_ms,
                               std::size_t chunk_rows, const ArchiveStepHook& hook) {
  ArchiveResult result;
  OpsStore& ops = db.ops();
  const std::string root = archive_root(ctx.data_dir);

  // What an interrupted run left (a crash between a chunk's write and its delete).
  if (roll_back_pending(ops, root)) result.recovered = true;

  const std::int64_t cutoff = archive_cutoff_ms(now_ms, ctx.hot_days, ops.aggregated_through_ms());

  // The fast path: the table's head in rowid order (the order rows came in),
  // so each chunk's delete empties whole table pages. A chunk grows while its
  // delete holds the write lock briefly and shrinks when it takes longer:
  // the ingest writer never waits for more than a fraction of a flush window.
  std::size_t rows_per_chunk = std::min<std::size_t>(chunk_rows, 5000);
  while (!ctx.stopping()) {
    std::vector<ArchiveRow> rows = ops.archive_head(cutoff, rows_per_chunk);
    if (rows.empty()) break;
    const std::int64_t first = rows.front().rowid;
    const std::int64_t last = rows.back().rowid;
    const std::int64_t day = day_floor(rows.front().received_at_ms);
    const std::size_t taken = rows.size();
    // Rows of a deleted device go without a line.
    rows.erase(std::remove_if(rows.begin(), rows.end(),
                              [](const ArchiveRow& r) { return r.device_id.empty(); }),
               rows.end());
    if (!rows.empty()) {
      const std::string rel = archive_relative_path(day);
      const std::string path = root + "/" + rel;
      ops.set_archive_pending(ArchivePending{rel, file_size_or_zero(path)});
      chunk_or_roll_back(ops, root, [&] { append_archive_member(path, rows); });
      if (hook) hook(rel);  // the tests' crash: nothing rolled back
    }
    auto started = SteadyClock::now();
    chunk_or_roll_back(ops, root, [&] {
      ops.delete_archived_range(first, last, day, std::min(day + kOpsDayMs, cutoff));
    });
    const auto held = SteadyClock::now() - started;
    result.rows += rows.size();
    ++result.chunks;
    if (held < std::chrono::milliseconds(20) && taken == rows_per_chunk) {
      rows_per_chunk = std::min(chunk_rows, rows_per_chunk * 2);
    } else if (held > std::chrono::milliseconds(40)) {
      rows_per_chunk =
          std::max<std::size_t>(std::min<std::size_t>(chunk_rows, 500), rows_per_chunk / 2);
    }
    yield_after(held);
  }

  // Old rows behind newer ones (a day's late rows): by device and time.
  while (!ctx.stopping()) {
    auto oldest = ops.oldest_telemetry_ms();
    if (!oldest || *oldest >= cutoff) break;
    const std::int64_t day = day_floor(*oldest);
    std::vector<ArchiveRow> rows = ops.archive_chunk(day, std::min(day + kOpsDayMs, cutoff),
                                                     std::min<std::size_t>(chunk_rows, 5000));
    if (rows.empty()) break;
    const std::string rel = archive_relative_path(day);
    const std::string path = root + "/" + rel;
    ops.set_archive_pending(ArchivePending{rel, file_size_or_zero(path)});
    std::vector<std::int64_t> ids;
    ids.reserve(rows.size());
    for (const auto& r : rows) ids.push_back(r.rowid);
    chunk_or_roll_back(ops, root, [&] { append_archive_member(path, rows); });
    if (hook) hook(rel);
    auto started = SteadyClock::now();
    chunk_or_roll_back(ops, root, [&] { ops.delete_archived(ids); });
    result.rows += rows.size();
    ++result.chunks;
    yield_after(SteadyClock::now() - started);
  }

  for (const auto& rel :
       archive_files_to_delete(list_archive_files(root), now_ms, ctx.archive_retention_days)) {
    remove_file(root + "/" + rel);
    ++result.files_deleted;
  }
  return result;
}

void read_archive(const std::string& data_dir, std::optional<std::int64_t> since_ms,
                  std::optional<std::int64_t> until_ms,
                  const std::function<bool(TelemetryRecord&&)>& visit) {
  const std::string root = archive_root(data_dir);
  for (const auto& rel : archive_files_for_window(list_archive_files(root), since_ms, until_ms)) {
    if (!read_archive_file(root + "/" + rel, visit)) return;
  }
}

BackupResult run_backup(Database& db, const OpsJobContext& ctx, std::int64_t now_ms,
                        const CopyPacing& pacing) {
  const std::string dir = backup_dir(ctx.data_dir);
  make_directories(dir);
  const std::string name = backup_file_name(now_ms);
  const std::string final_path = dir + "/" + name;
  const std::string tmp = dir + "/." + name + ".tmp-" + std::to_string(::getpid());
  remove_file(tmp);
  try {
    db.ops().copy_to(tmp, pacing);
    std::string check = integrity_check_file(tmp);
    if (check != "ok") {
      throw StoreError(StoreError::Kind::fatal,
                       "backup " + tmp + " failed integrity_check: " + check);
    }
    fsync_path(tmp);
    rename_durably(tmp, final_path);
  } catch (...) {
    try {
      remove_file(tmp);
      remove_file(tmp + "-journal");
    } catch (...) {
    }
    throw;
  }
  BackupResult result;
  result.file = final_path;
  result.size = file_size_or_zero(final_path);
  result.created_at = now_ms / 1000;
  std::vector<std::string> names;
  for (const auto& b : list_backups(dir)) names.push_back(b.name);
  for (const auto& old : backups_to_delete(names, now_ms, ctx.backup_retention_days)) {
    remove_file(dir + "/" + old);
    ++result.deleted;
  }
  return result;
}

std::optional<std::int64_t> newest_backup_ms(const std::string& data_dir) {
  std::optional<std::int64_t> newest;
  for (const auto& b : list_backups(backup_dir(data_dir))) {
    if (!backup_day_of(b.name)) continue;
    if (!newest || b.mtime * 1000 > *newest) newest = b.mtime * 1000;
  }
  return newest;
}

std::vector<TelemetryRecord> query_telemetry_with_archive(Database& db, const std::string& data_dir,
                                                          const TelemetryQuery& query) {
  std::vector<TelemetryRecord> rows = db.telemetry().query(query);
  if (!query.since_ms) return rows;
  std::vector<TelemetryRecord> archived;
  read_archive(data_dir, query.since_ms, query.until_ms, [&](TelemetryRecord&& r) {
    if (r.received_at_ms < *query.since_ms) return true;
    if (query.until_ms && r.received_at_ms > *query.until_ms) return true;
    if (query.device_id && r.device_id != *query.device_id) return true;
    if (query.metric && r.metric != *query.metric) return true;
    archived.push_back(std::move(r));
    return true;
  });
  if (archived.empty()) return rows;
  rows.insert(rows.begin(), std::make_move_iterator(archived.begin()),
              std::make_move_iterator(archived.end()));
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.received_at_ms < b.received_at_ms;
  });
  if (rows.size() > static_cast<std::size_t>(query.limit))
    rows.resize(static_cast<std::size_t>(query.limit));
  return rows;
}

}  // namespace rs1
