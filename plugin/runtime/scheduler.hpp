// The scheduler: one thread that runs the named operations jobs of SPEC §9
// (hourly aggregation, archiving, daily backups, retention) at their times,
// never on the broker thread. The clock is a parameter: next_run() is a pure
// function and run_due() is the thread's one step, so tests drive both with
// a fake clock instead of waiting for an hour.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/log.hpp"

namespace rs1 {

// Wall-clock time, unix milliseconds (UTC).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now() const override;
};

// When a job runs: at every instant t (unix ms) with t ≡ offset_ms modulo
// period_ms. Unix time has no leap seconds, so a day is always 86,400 s and
// "daily at 03:00 UTC" is exactly such a grid.
struct Schedule {
  std::int64_t period_ms = 0;
  std::int64_t offset_ms = 0;

  // Every `period`, on multiples of it since the epoch (every 60 s: at each
  // full minute), so runs do not drift by the time the jobs take.
  // Throws std::invalid_argument unless period > 0.
  static Schedule every(std::chrono::seconds period);
  // At `minute` past every hour. Throws std::invalid_argument outside 0..59.
  static Schedule hourly_at(int minute);
  // At HH:MM UTC every day. Throws std::invalid_argument outside 0..23, 0..59.
  static Schedule daily_at(int hour, int minute);
};

// The first run strictly after `after_ms`.
std::int64_t next_run(const Schedule& schedule, std::int64_t after_ms);

class Scheduler {
 public:
  // Given the time run_due() was called with.
  using Job = std::function<void(std::int64_t now_ms)>;

  Scheduler(const Clock& clock, LogSink log);
  ~Scheduler();  // stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // First run: next_run(schedule, clock.now()). Before or after start().
  // Throws std::invalid_argument for an empty or repeated name.
  void add(std::string name, Schedule schedule, Job job);

  // Starts the thread that runs due jobs. Once.
  void start();
  // Wakes the thread at once and joins it; a job already running is let
  // finish (a long job may poll stopping()). Idempotent.
  void stop();
  bool stopping() const;
  // Makes the thread read the clock again now rather than at its next
  // wake-up (tests with a fake clock).
  void wake();
  // Makes the named job due now (its next run is the clock's time), e.g. a
  // catch-up at start. Returns false for an unknown name.
  bool run_soon(const std::string& name);

  // The thread's step: runs every job due at `now_ms`, in the order added,
  // each then rescheduled to its next run after now_ms (or after the clock's
  // time, if the job outlasted it), also when it threw: a missed run is not
  // repeated. Returns how many ran. Public for tests; production code leaves
  // it to the thread, so no job runs on the broker thread.
  std::size_t run_due(std::int64_t now_ms);

  // The earliest next run of any job; nothing when there is no job.
  std::optional<std::int64_t> next_due() const;
  std::optional<std::int64_t> next_run_of(const std::string& name) const;

 private:
  struct Entry {
    std::string name;
    Schedule schedule;
    Job job;
    std::int64_t next_ms = 0;
  };
  void run();

  const Clock& clock_;
  LogSink log_;
  std::mutex run_mu_;  // one run_due at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> jobs_;  // stable references: a running job is called outside mu_
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace rs1
