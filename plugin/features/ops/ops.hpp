// The decisions of the operations jobs (SPEC §9): which hours to aggregate,
// where the archive cut lies and which day file a row goes to, which archive
// files and backups retention deletes, when a backup is due, and the health
// verdicts. Pure: time is always a parameter (unix ms, UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rs1 {

constexpr std::int64_t kOpsHourMs = 3600 * 1000;
constexpr std::int64_t kOpsDayMs = 24 * kOpsHourMs;
// A backup older than this is overdue (a day and two hours of slack).
constexpr std::int64_t kBackupMaxAgeMs = 26 * kOpsHourMs;

std::int64_t hour_floor(std::int64_t ms);
std::int64_t day_floor(std::int64_t ms);

// The hour starts (unix ms) to aggregate now, oldest first: every complete
// hour (its end at or before now_ms) after `aggregated_through_ms` (the end
// of the last hour done; nothing: none done yet), from the hour of the
// oldest raw row on (nothing: no rows, so nothing to do), at most
// `max_hours` of them so one run stays short; the rest follow next run.
std::vector<std::int64_t> hours_to_aggregate(std::optional<std::int64_t> aggregated_through_ms,
                                             std::optional<std::int64_t> oldest_row_ms,
                                             std::int64_t now_ms, std::size_t max_hours);

// Raw rows received before the returned time move to the archive: older than
// hot_days, and never an hour that is not aggregated yet (the aggregate is
// computed from the raw rows).
std::int64_t archive_cutoff_ms(std::int64_t now_ms, int hot_days,
                               std::optional<std::int64_t> aggregated_through_ms);

// "YYYY/MM/DD.ndjson.gz" under <data_dir>/archive/telemetry/ for the UTC day of `ms`.
std::string archive_relative_path(std::int64_t ms);
// The day start (unix ms) a relative archive path names, or nothing when it
// is not one of ours.
std::optional<std::int64_t> archive_day_of(std::string_view relative_path);
// The archive files (relative paths) whose whole day is older than
// retention_days before now_ms. Names that are not ours are left alone.
std::vector<std::string> archive_files_to_delete(const std::vector<std::string>& relative_paths,
                                                 std::int64_t now_ms, int retention_days);
// Of the archive files, those that may hold rows in [since_ms, until_ms],
// oldest day first.
std::vector<std::string> archive_files_for_window(const std::vector<std::string>& relative_paths,
                                                  std::optional<std::int64_t> since_ms,
                                                  std::optional<std::int64_t> until_ms);

// "YYYY-MM-DD.sqlite" under <data_dir>/backups/ for the UTC day of `ms`.
std::string backup_file_name(std::int64_t ms);
std::optional<std::int64_t> backup_day_of(std::string_view file_name);
// Backups whose day is more than retention_days before today.
std::vector<std::string> backups_to_delete(const std::vector<std::string>& file_names,
                                           std::int64_t now_ms, int retention_days);
// At start: a backup is due when there is none or the newest (its mtime) is
// older than 26 h.
bool backup_due_at_start(std::optional<std::int64_t> newest_backup_ms, std::int64_t now_ms);

// ------------------------------------------------------------------ health

// What the broker writes every few seconds (the heartbeat row) and the
// health check reads.
struct Heartbeat {
  std::int64_t time_ms = 0;         // when it was written
  std::int64_t pid = 0;             // the broker's process
  std::int64_t queue_depth = 0;     // writer queue then
  std::int64_t queue_max = 0;       // ingest_queue_max
  std::int64_t last_commit_ms = 0;  // the writer's last successful commit (0: none yet)
  bool same_file = true;            // db_path is still the file the broker opened
};

struct HealthInputs {
  std::int64_t now_ms = 0;
  bool database_ok = false;  // reachable and quick_check "ok"
  std::string database_detail;
  std::optional<Heartbeat> heartbeat;  // none: no broker ever wrote one
  std::optional<std::int64_t> newest_backup_ms;
  std::uint64_t free_bytes = 0;
  std::uint64_t total_bytes = 0;
  bool signing_key_readable = false;
  std::string signing_key_detail;
  std::optional<std::string>
      archive_failure;  // the archive job's last error, if its last run failed
};

struct HealthVerdict {
  std::string name;
  bool ok = false;
  std::string detail;
};

// A heartbeat older than this means the broker (or its writer) is gone.
constexpr std::int64_t kHeartbeatMaxAgeMs = 30 * 1000;
// The writer is behind when it has not committed for this long while rows wait.
constexpr std::int64_t kWriterStallMs = 10 * 1000;

// Checks in a fixed order: database, broker, writer, backup, disk,
// signing_key, archive.
std::vector<HealthVerdict> health_verdicts(const HealthInputs& in);
bool all_ok(const std::vector<HealthVerdict>& verdicts);

}  // namespace rs1
