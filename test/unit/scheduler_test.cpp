// The scheduler with a fake clock: when periodic, hourly and daily jobs are
// next due (across hours, days, months and years), what run_due() runs, a
// throwing job that is logged and rescheduled, and the thread: jobs run on
// it, not on the caller's, and stop() returns at once while it waits.
#include "runtime/scheduler.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/time_parse.hpp"
#include "unit_support.hpp"

using namespace rs1;
using rs1_test::at;
using namespace std::chrono_literals;
using rs1_test::eventually;

namespace {

class FakeClock : public Clock {
 public:
  explicit FakeClock(std::int64_t ms) : ms_(ms) {}
  std::int64_t now() const override { return ms_.load(); }
  void set(std::int64_t ms) { ms_.store(ms); }

 private:
  std::atomic<std::int64_t> ms_;
};

// "2024-12-31T23:59:30Z" in unix ms.
class LogCapture {
 public:
  LogSink sink() {
    return [this](LogLevel level, const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
      levels_.push_back(level);
    };
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  bool all_errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto l : levels_) {
      if (l != LogLevel::error) return false;
    }
    return true;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::vector<LogLevel> levels_;
};

}  // namespace

TEST_CASE("scheduler: next run of a periodic job", "[scheduler]") {
  auto [period_s, after, expected] = GENERATE(table<int, std::int64_t, std::int64_t>({
      {60, 0, 60000},
      {60, 1, 60000},
      {60, 59999, 60000},
      {60, 60000, 120000},  // strictly after
      {7, 1, 7000},
      {7, 7000, 14000},
      {1, 999, 1000},
      {3600, 3599999, 3600000},
      {60, -1, 0},  // before the epoch, still on the grid
      {60, -60000, 0},
  }));
  CAPTURE(period_s, after);
  CHECK(next_run(Schedule::every(std::chrono::seconds(period_s)), after) == expected);
}

TEST_CASE("scheduler: next run of an hourly job", "[scheduler]") {
  auto [minute, after, expected] = GENERATE(table<int, std::string, std::string>({
      {15, "2024-05-10T10:14:59Z", "2024-05-10T10:15Z"},
      {15, "2024-05-10T10:15Z", "2024-05-10T11:15Z"},
      {15, "2024-05-10T10:16Z", "2024-05-10T11:15Z"},
      {15, "2024-05-10T23:30Z", "2024-05-11T00:15Z"},  // into the next day
      {0, "2024-05-10T10:00Z", "2024-05-10T11:00Z"},
      {0, "2024-05-10T10:59:59Z", "2024-05-10T11:00Z"},
      {59, "2024-05-10T10:59Z", "2024-05-10T11:59Z"},
      {5, "2024-12-31T23:10Z", "2025-01-01T00:05Z"},  // into the next year
  }));
  CAPTURE(minute, after);
  CHECK(next_run(Schedule::hourly_at(minute), at(after)) == at(expected));
  // A millisecond before the slot is still before it.
  CHECK(next_run(Schedule::hourly_at(minute), at(expected) - 1) == at(expected));
}

TEST_CASE("scheduler: next run of a daily job, across days, months and years", "[scheduler]") {
  auto [hour, minute, after, expected] = GENERATE(table<int, int, std::string, std::string>({
      {3, 0, "2024-05-10T02:59Z", "2024-05-10T03:00Z"},
      {3, 0, "2024-05-10T03:00Z", "2024-05-11T03:00Z"},  // strictly after: tomorrow
      {3, 0, "2024-05-10T03:01Z", "2024-05-11T03:00Z"},
      {3, 0, "2024-05-31T12:00Z", "2024-06-01T03:00Z"},
      {3, 0, "2024-12-31T23:59:30Z", "2025-01-01T03:00Z"},
      {3, 0, "2024-02-28T04:00Z", "2024-02-29T03:00Z"},  // leap day
      {0, 0, "2024-02-29T00:00Z", "2024-03-01T00:00Z"},
      {23, 59, "2024-05-10T23:59:01Z", "2024-05-11T23:59Z"},
      {23, 59, "2024-05-10T00:00Z", "2024-05-10T23:59Z"},
  }));
  CAPTURE(hour, minute, after);
  CHECK(next_run(Schedule::daily_at(hour, minute), at(after)) == at(expected));
}

TEST_CASE("scheduler: schedules outside their range are refused", "[scheduler]") {
  CHECK_THROWS_AS(Schedule::every(0s), std::invalid_argument);
  CHECK_THROWS_AS(Schedule::every(-5s), std::invalid_argument);
  CHECK_THROWS_AS(Schedule::hourly_at(60), std::invalid_argument);
  CHECK_THROWS_AS(Schedule::hourly_at(-1), std::invalid_argument);
  CHECK_THROWS_AS(Schedule::daily_at(24, 0), std::invalid_argument);
  CHECK_THROWS_AS(Schedule::daily_at(3, 60), std::invalid_argument);
  FakeClock clock(0);
  LogCapture log;
  Scheduler s(clock, log.sink());
  s.add("a", Schedule::every(1s), [](std::int64_t) {});
  CHECK_THROWS_AS(s.add("a", Schedule::every(1s), [](std::int64_t) {}), std::invalid_argument);
  CHECK_THROWS_AS(s.add("", Schedule::every(1s), [](std::int64_t) {}), std::invalid_argument);
  CHECK_THROWS_AS(s.add("b", Schedule{}, [](std::int64_t) {}), std::invalid_argument);
}

TEST_CASE("scheduler: a periodic job runs when due, once for missed slots", "[scheduler]") {
  const std::int64_t t0 = at("2024-05-10T10:00Z");
  FakeClock clock(t0);
  LogCapture log;
  Scheduler s(clock, log.sink());
  std::vector<std::int64_t> runs;
  s.add("tick", Schedule::every(10s), [&](std::int64_t now) { runs.push_back(now); });
  CHECK(s.next_run_of("tick") == std::optional<std::int64_t>(t0 + 10000));
  CHECK(s.next_due() == std::optional<std::int64_t>(t0 + 10000));
  CHECK_FALSE(s.next_run_of("tock"));

  CHECK(s.run_due(t0) == 0);
  CHECK(s.run_due(t0 + 9999) == 0);
  CHECK(runs.empty());
  CHECK(s.run_due(t0 + 10000) == 1);
  CHECK(runs == std::vector<std::int64_t>{t0 + 10000});
  CHECK(s.next_run_of("tick") == std::optional<std::int64_t>(t0 + 20000));
  CHECK(s.run_due(t0 + 10001) == 0);  // not twice for one slot

  // Asleep for 25 s: one run, then back on the grid.
  clock.set(t0 + 35000);
  CHECK(s.run_due(t0 + 35000) == 1);
  CHECK(runs == std::vector<std::int64_t>{t0 + 10000, t0 + 35000});
  CHECK(s.next_run_of("tick") == std::optional<std::int64_t>(t0 + 40000));
  CHECK(log.lines().empty());
}

TEST_CASE("scheduler: an hourly job runs every hour at its minute, into the next day",
          "[scheduler]") {
  FakeClock clock(at("2024-05-10T21:20Z"));
  LogCapture log;
  Scheduler s(clock, log.sink());
  std::vector<std::int64_t> runs;
  s.add("aggregate", Schedule::hourly_at(5), [&](std::int64_t now) { runs.push_back(now); });
  CHECK(s.next_run_of("aggregate") == std::optional<std::int64_t>(at("2024-05-10T22:05Z")));

  // Minute by minute through three hours: runs exactly at 22:05, 23:05, 00:05.
  for (std::int64_t t = at("2024-05-10T21:20Z"); t <= at("2024-05-11T00:30Z"); t += 60000) {
    clock.set(t);
    s.run_due(t);
  }
  CHECK(runs == std::vector<std::int64_t>{at("2024-05-10T22:05Z"), at("2024-05-10T23:05Z"),
                                          at("2024-05-11T00:05Z")});
  CHECK(s.next_run_of("aggregate") == std::optional<std::int64_t>(at("2024-05-11T01:05Z")));
}

TEST_CASE("scheduler: a daily job runs at HH:MM UTC, across the year's end", "[scheduler]") {
  FakeClock clock(at("2024-12-30T12:00Z"));
  LogCapture log;
  Scheduler s(clock, log.sink());
  std::vector<std::int64_t> backups;
  std::vector<std::int64_t> ticks;
  s.add("backup", Schedule::daily_at(3, 0), [&](std::int64_t now) { backups.push_back(now); });
  s.add("tick", Schedule::every(3600s), [&](std::int64_t now) { ticks.push_back(now); });
  CHECK(s.next_due() == std::optional<std::int64_t>(at("2024-12-30T13:00Z")));

  for (std::int64_t t = at("2024-12-30T12:00Z"); t <= at("2025-01-02T12:00Z"); t += 30 * 60000) {
    clock.set(t);
    s.run_due(t);
  }
  CHECK(backups == std::vector<std::int64_t>{at("2024-12-31T03:00Z"), at("2025-01-01T03:00Z"),
                                             at("2025-01-02T03:00Z")});
  CHECK(ticks.size() == 72);  // 13:00 on the 30th to 12:00 on the 2nd
  CHECK(s.next_run_of("backup") == std::optional<std::int64_t>(at("2025-01-03T03:00Z")));
}

TEST_CASE("scheduler: a job that throws is logged and rescheduled, the others still run",
          "[scheduler]") {
  FakeClock clock(at("2024-05-10T00:00Z"));
  LogCapture log;
  Scheduler s(clock, log.sink());
  int backup_attempts = 0;
  int archive_runs = 0;
  int odd_runs = 0;
  s.add("backup", Schedule::daily_at(3, 0), [&](std::int64_t) {
    ++backup_attempts;
    throw std::runtime_error("disk full");
  });
  s.add("archive", Schedule::daily_at(3, 0), [&](std::int64_t) { ++archive_runs; });
  s.add("odd", Schedule::daily_at(4, 0), [&](std::int64_t) {
    ++odd_runs;
    throw 42;  // not even a std::exception
  });

  clock.set(at("2024-05-10T03:00Z"));
  CHECK(s.run_due(at("2024-05-10T03:00Z")) == 2);
  CHECK(backup_attempts == 1);
  CHECK(archive_runs == 1);
  REQUIRE(log.lines().size() == 1);
  CHECK(log.lines()[0] ==
        "rs1: scheduled job 'backup' failed: disk full; next run at 2024-05-11T03:00:00Z");
  CHECK(s.next_run_of("backup") == std::optional<std::int64_t>(at("2024-05-11T03:00Z")));

  clock.set(at("2024-05-10T04:00Z"));
  CHECK(s.run_due(at("2024-05-10T04:00Z")) == 1);
  CHECK(odd_runs == 1);
  REQUIRE(log.lines().size() == 2);
  CHECK(log.lines()[1] ==
        "rs1: scheduled job 'odd' failed: unknown exception; next run at 2024-05-11T04:00:00Z");

  // And again the next day: a failure is not the end of the job.
  clock.set(at("2024-05-11T03:00Z"));
  CHECK(s.run_due(at("2024-05-11T03:00Z")) == 2);
  CHECK(backup_attempts == 2);
  CHECK(archive_runs == 2);
  CHECK(log.lines().size() == 3);
  CHECK(log.all_errors());
}

TEST_CASE("scheduler: jobs run on the scheduler's thread, which survives a throwing job",
          "[scheduler]") {
  const std::int64_t t0 = at("2024-05-10T10:00Z");
  FakeClock clock(t0);
  LogCapture log;
  Scheduler s(clock, log.sink());
  std::mutex mu;
  std::vector<std::thread::id> ran_on;
  std::atomic<int> failures{0};
  s.add("hourly", Schedule::hourly_at(0), [&](std::int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    ran_on.push_back(std::this_thread::get_id());
  });
  s.add("flaky", Schedule::hourly_at(0), [&](std::int64_t) {
    ++failures;
    throw std::runtime_error("flaky");
  });
  s.start();
  auto runs = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return ran_on.size();
  };
  std::this_thread::sleep_for(50ms);
  CHECK(runs() == 0);  // an hour away on the fake clock

  clock.set(t0 + 3600 * 1000);
  s.wake();
  REQUIRE(eventually([&] { return runs() == 1; }));
  // The round ends with the flaky job's failure logged (after its next run
  // is set): a clock moved on while it still ran would make it skip the
  // next slot, as a job that outlasted its slot does.
  REQUIRE(eventually([&] { return log.lines().size() == 1; }));
  clock.set(t0 + 2 * 3600 * 1000);
  s.wake();
  REQUIRE(eventually([&] { return runs() == 2; }));
  CHECK(eventually([&] { return failures.load() == 2; }));
  s.stop();
  std::lock_guard<std::mutex> lock(mu);
  CHECK(ran_on[0] != std::this_thread::get_id());
  CHECK(ran_on[1] == ran_on[0]);
  CHECK(log.lines().size() == 2);
}

TEST_CASE("scheduler: stop while the thread waits returns at once", "[scheduler]") {
  SECTION("fake clock, next run hours away") {
    FakeClock clock(at("2024-05-10T10:00Z"));
    LogCapture log;
    Scheduler s(clock, log.sink());
    bool ran = false;
    s.add("backup", Schedule::daily_at(3, 0), [&](std::int64_t) { ran = true; });
    s.start();
    std::this_thread::sleep_for(100ms);  // the thread is waiting now
    const auto t0 = std::chrono::steady_clock::now();
    s.stop();
    // The thread waits up to a minute between clock reads: only the
    // condition variable can make this quick.
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    CHECK_FALSE(ran);
    s.stop();  // again: harmless
  }
  SECTION("the system clock, no job at all") {
    SystemClock clock;
    LogCapture log;
    Scheduler s(clock, log.sink());
    s.start();
    std::this_thread::sleep_for(100ms);
    const auto t0 = std::chrono::steady_clock::now();
    s.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  }
}

TEST_CASE("scheduler: stop waits for a running job and starts no other", "[scheduler]") {
  const std::int64_t t0 = at("2024-05-10T10:00Z");
  FakeClock clock(t0);
  LogCapture log;
  Scheduler s(clock, log.sink());
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> second_ran{false};
  s.add("long", Schedule::every(60s), [&](std::int64_t) {
    started = true;
    // A long job polls stopping() to end early.
    while (!s.stopping()) std::this_thread::sleep_for(1ms);
    finished = true;
  });
  s.add("second", Schedule::every(60s), [&](std::int64_t) { second_ran = true; });
  s.start();
  clock.set(t0 + 60000);
  s.wake();
  REQUIRE(eventually([&] { return started.load(); }));
  s.stop();
  CHECK(finished);
  CHECK_FALSE(second_ran);
}

TEST_CASE("scheduler: run_soon makes a job due now, then it returns to its grid", "[scheduler]") {
  FakeClock clock(at("2024-05-10T21:20Z"));
  LogCapture log;
  Scheduler s(clock, log.sink());
  std::vector<std::int64_t> runs;
  s.add("backup", Schedule::daily_at(3, 0), [&](std::int64_t now) { runs.push_back(now); });
  CHECK_FALSE(s.run_soon("nothing"));
  CHECK(s.run_due(at("2024-05-10T21:20Z")) == 0);
  CHECK(s.run_soon("backup"));
  CHECK(s.next_run_of("backup") == std::optional<std::int64_t>(at("2024-05-10T21:20Z")));
  CHECK(s.run_due(at("2024-05-10T21:20Z")) == 1);
  CHECK(runs == std::vector<std::int64_t>{at("2024-05-10T21:20Z")});
  CHECK(s.next_run_of("backup") == std::optional<std::int64_t>(at("2024-05-11T03:00Z")));
}
