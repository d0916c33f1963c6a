// The bodies of the operations jobs (SPEC §9), on a connection of their own
// and never on the broker thread: the scheduler's jobs in broker/ops.cpp and
// rs1ctl's `backup now` call them. Every bulk change runs in short
// transactions with a pause after each, so the ingest writer never waits for
// more than one of them. The decisions come from features/ops/ops.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "store/database.hpp"
#include "store/ops_files.hpp"

namespace rs1 {

struct OpsJobContext {
  std::string data_dir;
  int hot_days = 30;
  int archive_retention_days = 365;
  int backup_retention_days = 30;
  // Polled between chunks: the broker is stopping.
  std::function<bool()> stopping = [] { return false; };
};

struct AggregationResult {
  std::size_t hours = 0;
  std::size_t aggregates_deleted = 0;
};
// Aggregates every complete hour not yet done (catching up on hours missed
// while the broker was down) and deletes aggregates past the archive retention.
AggregationResult aggregate_due_hours(Database& db, const OpsJobContext& ctx, std::int64_t now_ms);

struct ArchiveResult {
  std::size_t rows = 0;
  std::size_t chunks = 0;
  std::size_t files_deleted = 0;
  bool recovered = false;  // an interrupted chunk was rolled back first
};
// Test seam: called after a chunk's gzip member is fsynced and before its
// rows are deleted; a throw there is a crash between the two steps.
using ArchiveStepHook = std::function<void(const std::string& file)>;
// Moves raw rows older than hot_days (and aggregated) to the day files, in
// chunks of at most `chunk_rows` (sized by how long their delete holds the
// write lock); then deletes day files past the archive retention.
ArchiveResult archive_old_rows(Database& db, const OpsJobContext& ctx, std::int64_t now_ms,
                               std::size_t chunk_rows = 50000, const ArchiveStepHook& hook = {});

// Reads the archive day files that may hold rows of the window, oldest day
// first, each row through `visit` (false: stop).
void read_archive(const std::string& data_dir, std::optional<std::int64_t> since_ms,
                  std::optional<std::int64_t> until_ms,
                  const std::function<bool(TelemetryRecord&&)>& visit);

// `telemetry query` (SPEC §8) and the Device API's telemetry: the stored rows
// of `query`, and with a `since_ms` the archived ones of the window too (a
// row is in exactly one of the two), merged oldest first, at most
// query.limit.
std::vector<TelemetryRecord> query_telemetry_with_archive(Database& db, const std::string& data_dir,
                                                          const TelemetryQuery& query);

struct BackupResult {
  std::string file;  // full path
  std::int64_t size = 0;
  std::int64_t created_at = 0;  // unix s
  std::size_t deleted = 0;      // old backups removed by retention
};
// An online backup to <data_dir>/backups/YYYY-MM-DD.sqlite: copied under one
// read snapshot in small steps into a temporary name, integrity_check'ed,
// fsynced, renamed; then retention. Throws StoreError.
BackupResult run_backup(Database& db, const OpsJobContext& ctx, std::int64_t now_ms,
                        const CopyPacing& pacing);

// The newest backup's mtime (unix ms) among files named like ours.
std::optional<std::int64_t> newest_backup_ms(const std::string& data_dir);

}  // namespace rs1
