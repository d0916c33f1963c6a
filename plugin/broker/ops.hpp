// The operations glue (SPEC §9): at start, the database check (quick_check)
// and its identity (device and inode of db_path); then three scheduler
// threads with a connection each: a light one for the heartbeat and the
// identity watch every 5 s, the WAL checkpoint every second (the ingest
// writer never checkpoints inside its commits), free heap given back every
// 30 s and the light jobs other modules add (add_light_job: the signing key
// watch every 2 s); a heavy one for aggregation, the archive, backups and
// retention (store/ops_jobs.hpp), so a long backup never delays the
// heartbeat; a third for the periodic quick_check. None touches the broker
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/log.hpp"
#include "options/plugin_options.hpp"
#include "runtime/ingest_writer.hpp"
#include "runtime/metrics.hpp"
#include "runtime/scheduler.hpp"
#include "store/ops_jobs.hpp"
#include "store/sqlite.hpp"

namespace rs1 {

// At start, before anything else reads or writes: refuses (throws with one
// line) a database whose quick_check is not "ok".
void check_database_at_start(Database& db, const std::string& db_path);

// The file identity of db_path right after the broker opened it.
struct FileIdentity {
  std::string path;  // absolute
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  bool known = false;
};
FileIdentity file_identity(const std::string& path);

class OpsRuntime {
 public:
  OpsRuntime(const Options& options, const IngestWriter& writer, MetricRegistry& registry,
             LogSink log);
  ~OpsRuntime();
  OpsRuntime(const OpsRuntime&) = delete;
  OpsRuntime& operator=(const OpsRuntime&) = delete;

  // Another light periodic job for the light thread (the broker's signing
  // key watch), so light jobs share one thread. Before start() only; the job
  // runs on that thread and must not block it for long. Throws
  // std::invalid_argument for an empty or taken name.
  void add_light_job(std::string name, Schedule schedule, Scheduler::Job job);

  // Starts the threads, with the catch-up jobs due at once.
  void start();
  // Lets a running job finish its chunk and joins. Idempotent.
  void stop();

  // The broker-side checks of /healthz (any thread): the file at db_path is
  // the one opened, the last quick_check (run every db_check_interval_s),
  // free space, the signing key, the archive job, a backup
  // in the last 26 h. False with the reasons in `detail`.
  bool healthy(std::string& detail) const;

 private:
  void heartbeat(std::int64_t now_ms);
  void checkpoint();
  static void release_free_heap();
  void aggregate(std::int64_t now_ms);
  void archive(std::int64_t now_ms);
  void backup(std::int64_t now_ms);
  void sweep();
  void quick_check(std::int64_t now_ms);
  bool same_file() const;
  void job_outcome(const char* job, const std::string& error, std::atomic<bool>& failing,
                   Counter& metric, std::int64_t now_ms);

  Options options_;
  const IngestWriter& writer_;
  LogSink log_;
  FileIdentity opened_;
  std::int64_t started_s_ = 0;
  OpsJobContext ctx_;
  SystemClock clock_;
  std::unique_ptr<Database> light_db_;
  std::unique_ptr<Database> heavy_db_;
  std::unique_ptr<Scheduler> light_;
  std::unique_ptr<Scheduler> heavy_;
  // quick_check on a thread and connection of its own: on a big database it
  // reads every page, and neither the heartbeat nor the jobs wait for it.
  std::unique_ptr<Database> check_db_;
  std::unique_ptr<Scheduler> check_;

  Counter& last_backup_ts_;
  Counter& backup_failing_m_;
  Counter& archive_failing_m_;
  Counter& aggregate_failing_m_;
  Counter& archive_rows_;
  Counter& data_dir_free_;
  Counter& data_dir_size_;
  Counter& db_replaced_;
  Counter& heartbeat_ts_;
  Counter& engine_memory_;
  Counter& queue_max_;
  Counter& quick_check_ok_;
  Counter& quick_check_ts_;

  std::atomic<bool> replaced_{false};
  std::atomic<bool> backup_failing_{false};
  std::atomic<bool> archive_failing_{false};
  std::atomic<bool> aggregate_failing_{false};
  std::atomic<bool> heartbeat_failing_{false};
  std::atomic<bool> checkpoint_failing_{false};
  mutable std::mutex detail_mu_;
  std::string backup_error_, archive_error_;
  std::string quick_check_result_ = "ok";  // at start, or the broker would not run
  std::int64_t quick_check_ms_ = 0;
};

}  // namespace rs1
