// The operations glue: see ops.hpp. Decisions come from features/ops, the
// work from store/ops_jobs; this file starts, paces and reports them.
#include "broker/ops.hpp"

#include <sys/stat.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include <stdexcept>

namespace rs1 {
namespace {

std::string error_text(const std::exception& e) { return e.what(); }

}  // namespace

void check_database_at_start(Database& db, const std::string& db_path) {
  std::string result;
  try {
    result = db.ops().quick_check();
  } catch (const std::exception& e) {
    result = e.what();
  }
  if (result != "ok") {
    throw std::runtime_error("database " + db_path + " is corrupt (quick_check: " + result +
                             "); restore a backup (rs1ctl backup restore)");
  }
}

FileIdentity file_identity(const std::string& path) {
  FileIdentity id;
  // Relative to where the broker started, not where it may have moved since.
  id.path = path;
  if (!path.empty() && path[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) != nullptr) id.path = std::string(cwd) + "/" + path;
  }
  struct stat st {};
  if (::stat(id.path.c_str(), &st) == 0) {
    id.dev = static_cast<std::uint64_t>(st.st_dev);
    id.ino = static_cast<std::uint64_t>(st.st_ino);
    id.known = true;
  }
  return id;
}

OpsRuntime::OpsRuntime(const Options& options, const IngestWriter& writer, MetricRegistry& r,
                       LogSink log)
    : options_(options),
      writer_(writer),
      log_(std::move(log)),
      opened_(file_identity(options.storage.db_path)),
      last_backup_ts_(r.gauge("rs1_last_backup_timestamp_seconds",
                              "Unix time of the newest backup in data_dir/backups (0: none).")),
      backup_failing_m_(r.gauge("rs1_backup_failing", "1 while the last backup attempt failed.")),
      archive_failing_m_(r.gauge("rs1_archive_failing", "1 while the last archive run failed.")),
      aggregate_failing_m_(
          r.gauge("rs1_aggregation_failing", "1 while the last hourly aggregation run failed.")),
      archive_rows_(r.counter("rs1_archive_rows_total", "Telemetry rows moved to the archive.")),
      data_dir_free_(
          r.gauge("rs1_data_dir_free_bytes", "Free bytes on the file system of data_dir.")),
      data_dir_size_(
          r.gauge("rs1_data_dir_size_bytes", "Size in bytes of the file system of data_dir.")),
      db_replaced_(r.gauge("rs1_database_replaced",
                           "1 when the file at db_path is no longer the one the broker opened.")),
      heartbeat_ts_(
          r.gauge("rs1_heartbeat_timestamp_seconds", "Unix time of the last heartbeat written.")),
      engine_memory_(r.gauge("rs1_database_memory_bytes",
                             "Heap the database engine holds: every connection's page cache, "
                             "statements and schema (sampled every 5 s).")),
      queue_max_(r.gauge("rs1_ingest_queue_max",
                         "ingest_queue_max: rows the writer queue holds at most.")),
      quick_check_ok_(r.gauge("rs1_database_quick_check_ok",
                              "1 while the last quick_check of the database found it ok.")),
      quick_check_ts_(r.gauge("rs1_database_quick_check_timestamp_seconds",
                              "Unix time of the last quick_check of the database.")) {
  queue_max_.store(options_.ingest.queue_max);
  started_s_ = clock_.now() / 1000;
  quick_check_ms_ = clock_.now();
  quick_check_ok_.store(1);
  quick_check_ts_.store(static_cast<std::uint64_t>(started_s_));
  ctx_.data_dir = options_.storage.data_dir;
  ctx_.hot_days = options_.ops.hot_days;
  ctx_.archive_retention_days = options_.ops.archive_retention_days;
  ctx_.backup_retention_days = options_.ops.backup_retention_days;
  if (auto newest = newest_backup_ms(ctx_.data_dir))
    last_backup_ts_.store(static_cast<std::uint64_t>(*newest / 1000));
  if (auto space = disk_space(ctx_.data_dir)) {
    data_dir_free_.store(space->free_bytes);
    data_dir_size_.store(space->total_bytes);
  }
  // Interactive: they wait for the writer's batch rather than fail a job.
  light_db_ = open_sqlite(options_.storage.db_path, SqliteTuning::interactive);
  heavy_db_ = open_sqlite(options_.storage.db_path, SqliteTuning::interactive);
  check_db_ = open_sqlite(options_.storage.db_path, SqliteTuning::interactive);
  check_ = std::make_unique<Scheduler>(clock_, log_);
  check_->add("quick_check",
              Schedule::every(std::chrono::seconds(options_.ops.db_check_interval_s)),
              [this](std::int64_t now) { quick_check(now); });
  light_ = std::make_unique<Scheduler>(clock_, log_);
  heavy_ = std::make_unique<Scheduler>(clock_, log_);
  ctx_.stopping = [this] { return heavy_->stopping(); };

  light_->add("heartbeat", Schedule::every(std::chrono::seconds(5)),
              [this](std::int64_t now) { heartbeat(now); });
  light_->add("checkpoint", Schedule::every(std::chrono::seconds(1)),
              [this](std::int64_t) { checkpoint(); });
  // glibc keeps freed heap in its arenas (one per thread that allocated:
  // the broker's, the writer's, each HTTP worker's): without this the
  // broker's RSS keeps the peak of every heavy job and every burst of API
  // traffic. Returns free pages only; a few ms at most.
  light_->add("release_memory", Schedule::every(std::chrono::seconds(30)),
              [](std::int64_t) { release_free_heap(); });
  // Aggregation first, so the archive finds the hours it may move done.
  heavy_->add("aggregate", Schedule::hourly_at(1), [this](std::int64_t now) { aggregate(now); });
  heavy_->add("archive", Schedule::hourly_at(5), [this](std::int64_t now) { archive(now); });
  heavy_->add("backup", Schedule::daily_at(options_.ops.backup_hour_utc, 0),
              [this](std::int64_t now) { backup(now); });
  // What an interrupted `rs1ctl device delete` left behind.
  heavy_->add("sweep", Schedule::hourly_at(20), [this](std::int64_t) { sweep(); });
}

OpsRuntime::~OpsRuntime() { stop(); }

void OpsRuntime::release_free_heap() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

void OpsRuntime::add_light_job(std::string name, Schedule schedule, Scheduler::Job job) {
  light_->add(std::move(name), schedule, std::move(job));
}

void OpsRuntime::start() {
  const std::int64_t now = clock_.now();
  light_->run_soon("heartbeat");
  heavy_->run_soon("aggregate");  // catches up on hours missed while down
  heavy_->run_soon("archive");
  heavy_->run_soon("sweep");
  if (backup_due_at_start(newest_backup_ms(ctx_.data_dir), now)) heavy_->run_soon("backup");
  light_->start();
  heavy_->start();
  check_->start();
}

void OpsRuntime::stop() {
  if (check_) check_->stop();
  if (light_) light_->stop();
  if (heavy_) heavy_->stop();
}

bool OpsRuntime::same_file() const {
  FileIdentity now = file_identity(opened_.path);
  return !opened_.known || (now.known && now.dev == opened_.dev && now.ino == opened_.ino);
}

void OpsRuntime::heartbeat(std::int64_t now_ms) {
  const bool same = same_file();
  if (!same && !replaced_.exchange(true)) {
    db_replaced_.store(1);
    log_(LogLevel::error,
         "rs1: database file " + options_.storage.db_path +
             " is no longer the file the broker opened (replaced or deleted); "
             "not writing into it: restart the broker to serve the file now there");
  }
  if (auto space = disk_space(ctx_.data_dir)) {
    data_dir_free_.store(space->free_bytes);
    data_dir_size_.store(space->total_bytes);
  }
  engine_memory_.store(static_cast<std::uint64_t>(light_db_->engine_memory_bytes()));
  if (!same) return;
  Heartbeat h;
  h.time_ms = now_ms;
  h.pid = static_cast<std::int64_t>(::getpid());
  h.queue_depth = static_cast<std::int64_t>(writer_.depth());
  h.queue_max = static_cast<std::int64_t>(options_.ingest.queue_max);
  h.last_commit_ms = writer_.last_commit_ms();
  h.same_file = true;
  try {
    light_db_->ops().write_heartbeat(h);
    heartbeat_ts_.store(static_cast<std::uint64_t>(now_ms / 1000));
    if (heartbeat_failing_.exchange(false)) log_(LogLevel::info, "rs1: heartbeat written again");
  } catch (const std::exception& e) {
    // The writer reports a failing disk; say it here once per streak.
    if (!heartbeat_failing_.exchange(true)) {
      log_(LogLevel::warning, "rs1: cannot write the heartbeat: " + error_text(e));
    }
  }
}

void OpsRuntime::checkpoint() {
  if (replaced_.load()) return;
  try {
    light_db_->ops().checkpoint();
    if (checkpoint_failing_.exchange(false)) log_(LogLevel::info, "rs1: checkpoints succeed again");
  } catch (const std::exception& e) {
    if (!checkpoint_failing_.exchange(true)) {
      log_(LogLevel::warning, "rs1: cannot checkpoint the database: " + error_text(e));
    }
  }
}

void OpsRuntime::job_outcome(const char* job, const std::string& error, std::atomic<bool>& failing,
                             Counter& metric, std::int64_t now_ms) {
  if (heavy_->stopping()) return;  // cut short by the broker stopping: not a failure
  const bool was = failing.exchange(!error.empty());
  metric.store(error.empty() ? 0 : 1);
  if (!error.empty() && !was)
    log_(LogLevel::error, std::string("rs1: ") + job + " failed: " + error);
  if (error.empty() && was) log_(LogLevel::info, std::string("rs1: ") + job + " succeeded again");
  try {
    heavy_db_->ops().record_job(job, error, now_ms);
  } catch (const std::exception&) {
    // The job's own failure is logged; its record follows the next run.
  }
}

void OpsRuntime::aggregate(std::int64_t now_ms) {
  if (replaced_.load()) return;
  std::string error;
  try {
    AggregationResult r = aggregate_due_hours(*heavy_db_, ctx_, now_ms);
    if (r.hours > 1)
      log_(LogLevel::info, "rs1: aggregated " + std::to_string(r.hours) + " hour(s) of telemetry");
  } catch (const std::exception& e) {
    error = e.what();
  }
  job_outcome("aggregation", error, aggregate_failing_, aggregate_failing_m_, now_ms);
}

void OpsRuntime::archive(std::int64_t now_ms) {
  if (replaced_.load()) return;
  std::string error;
  try {
    const auto started = std::chrono::steady_clock::now();
    ArchiveResult r = archive_old_rows(*heavy_db_, ctx_, now_ms);
    archive_rows_.fetch_add(r.rows, std::memory_order_relaxed);
    if (r.recovered) {
      log_(LogLevel::warning, "rs1: archive: an interrupted chunk was rolled back and moved again");
    }
    if (r.rows > 0 || r.files_deleted > 0) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      log_(LogLevel::info, "rs1: archived " + std::to_string(r.rows) + " telemetry row(s) in " +
                               std::to_string(ms) + " ms; " + std::to_string(r.files_deleted) +
                               " archive file(s) past retention deleted");
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  {
    std::lock_guard<std::mutex> lock(detail_mu_);
    archive_error_ = error;
  }
  job_outcome("archive", error, archive_failing_, archive_failing_m_, now_ms);
}

void OpsRuntime::backup(std::int64_t now_ms) {
  if (replaced_.load()) return;
  std::string error;
  try {
    CopyPacing pacing;
    pacing.pages_per_step = 256;  // 1 MiB at 4 KiB pages
    pacing.pause_ms = 2;
    pacing.cancelled = [this] { return heavy_->stopping(); };
    const auto started = std::chrono::steady_clock::now();
    BackupResult r = run_backup(*heavy_db_, ctx_, now_ms, pacing);
    last_backup_ts_.store(static_cast<std::uint64_t>(r.created_at));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    log_(LogLevel::info, "rs1: backup " + r.file + " written (" + std::to_string(r.size) +
                             " bytes, " + std::to_string(ms) + " ms); " +
                             std::to_string(r.deleted) + " old backup(s) deleted");
  } catch (const std::exception& e) {
    error = e.what();
  }
  {
    std::lock_guard<std::mutex> lock(detail_mu_);
    backup_error_ = error;
  }
  job_outcome("backup", error, backup_failing_, backup_failing_m_, now_ms);
}

void OpsRuntime::quick_check(std::int64_t now_ms) {
  if (replaced_.load()) return;
  std::string result;
  try {
    result = check_db_->ops().quick_check();
  } catch (const std::exception& e) {
    result = e.what();
  }
  bool was_ok = false;
  {
    std::lock_guard<std::mutex> lock(detail_mu_);
    was_ok = quick_check_result_ == "ok";
    quick_check_result_ = result;
    quick_check_ms_ = now_ms;
  }
  quick_check_ok_.store(result == "ok" ? 1 : 0);
  quick_check_ts_.store(static_cast<std::uint64_t>(now_ms / 1000));
  if (was_ok && result != "ok") {
    log_(LogLevel::error, "rs1: database " + options_.storage.db_path + " failed quick_check: " +
                              result + "; restore a backup (rs1ctl backup restore)");
  }
}

void OpsRuntime::sweep() {
  if (replaced_.load()) return;
  try {
    const std::size_t n = heavy_db_->ops().sweep_deleted_devices();
    if (n > 0) {
      log_(LogLevel::info, "rs1: deleted " + std::to_string(n) +
                               " telemetry row(s) and aggregate(s) of deleted devices");
    }
  } catch (const std::exception& e) {
    log_(LogLevel::warning, "rs1: cannot sweep the rows of deleted devices: " + error_text(e));
  }
}

bool OpsRuntime::healthy(std::string& detail) const {
  std::vector<std::string> reasons;
  if (!same_file()) {
    reasons.push_back("database: the file at " + options_.storage.db_path +
                      " is no longer the one the broker opened (replaced or deleted)");
  }
  if (auto space = disk_space(ctx_.data_dir)) {
    if (space->total_bytes == 0 || space->free_bytes * 10 <= space->total_bytes) {
      reasons.push_back("disk: " + std::to_string(space->free_bytes / (1024 * 1024)) +
                        " MiB free in data_dir, 10 % or less");
    }
  }
  {
    std::lock_guard<std::mutex> lock(detail_mu_);
    if (quick_check_result_ != "ok") {
      reasons.push_back("database: quick_check: " + quick_check_result_ + " (" +
                        std::to_string((clock_.now() - quick_check_ms_) / 1000) + " s ago)");
    }
  }
  std::string key_detail;
  if (!signing_key_readable(options_.ota.signing_key_file, key_detail)) {
    reasons.push_back("signing_key: " + key_detail);
  }
  {
    std::lock_guard<std::mutex> lock(detail_mu_);
    if (archive_failing_.load()) reasons.push_back("archive: " + archive_error_);
  }
  // A failed attempt is an alert (rs1_backup_failing), not yet unhealthy:
  // the newest backup's age is what counts (with none, the time since start).
  const std::uint64_t last_backup = last_backup_ts_.load();
  const std::int64_t now_s = clock_.now() / 1000;
  const std::int64_t since = last_backup > 0 ? static_cast<std::int64_t>(last_backup) : started_s_;
  if (now_s - since > kBackupMaxAgeMs / 1000) {
    std::lock_guard<std::mutex> lock(detail_mu_);
    reasons.push_back(std::string("backup: no backup in the last 26 h") +
                      (backup_error_.empty() ? "" : " (last attempt: " + backup_error_ + ")"));
  }
  if (reasons.empty()) return true;
  detail.clear();
  for (const auto& r : reasons) detail += (detail.empty() ? "" : "; ") + r;
  return false;
}

}  // namespace rs1
