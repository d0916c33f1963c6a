// The files of the operations jobs under data_dir (SPEC §9): archive day
// files (gzip members of NDJSON lines, appended, fsynced), backups (written
// beside their final name, fsynced, renamed), and the file-system facts the
// health checks need. Throws StoreError.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "features/ops/ops_store.hpp"
#include "features/telemetry/telemetry.hpp"

namespace rs1 {

std::string archive_root(const std::string& data_dir);  // <data_dir>/archive/telemetry
std::string backup_dir(const std::string& data_dir);    // <data_dir>/backups

// The size of a file, 0 when it does not exist.
std::int64_t file_size_or_zero(const std::string& path);
// Cuts `path` back to `size` bytes (removes it when size is 0) and fsyncs.
void truncate_file(const std::string& path, std::int64_t size);

// One archive line: {"device_id","metric","received_at_ms","payload"}.
std::string archive_line(const ArchiveRow& row);
// Appends one gzip member holding `rows` to `path` (creating it and its
// directories), then fsyncs the file (and the directory when the file is new).
void append_archive_member(const std::string& path, const std::vector<ArchiveRow>& rows);
// Relative paths of every file under the archive root (YYYY/MM/DD.ndjson.gz and anything else).
std::vector<std::string> list_archive_files(const std::string& root);
// Every line of a (multi-member) gzip file, in order, parsed; a line that is
// not an archive row is skipped. Returns false when `visit` asked to stop.
bool read_archive_file(const std::string& path,
                       const std::function<bool(TelemetryRecord&&)>& visit);

// Regular files in the backup directory, with their size and mtime (unix s).
struct BackupFile {
  std::string name;
  std::int64_t size = 0;
  std::int64_t mtime = 0;
};
std::vector<BackupFile> list_backups(const std::string& dir);

void make_directories(const std::string& path);
void fsync_path(const std::string& path);                             // a file or a directory
void rename_durably(const std::string& from, const std::string& to);  // then fsyncs the directory
void remove_file(const std::string& path);                            // absent is fine

// Free and total bytes of the file system holding `path`.
struct DiskSpace {
  std::uint64_t free_bytes = 0;
  std::uint64_t total_bytes = 0;
};
std::optional<DiskSpace> disk_space(const std::string& path);

// Whether some process has the SQLite database at `path` open in WAL mode
// (a shared lock on its -shm file's DMS byte, which every connection holds).
// Only for a database this process has not opened: closing the descriptor
// it opens drops every POSIX lock this process holds on that file.
bool database_in_use(const std::string& path);

}  // namespace rs1

namespace rs1 {
// The health check of signing_key_file: readable by this process (absent is
// fine: OTA creates it at first use). Sets `detail`.
bool signing_key_readable(const std::string& path, std::string& detail);
}  // namespace rs1
