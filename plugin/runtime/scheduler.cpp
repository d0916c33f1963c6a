#include "runtime/scheduler.hpp"

#include <algorithm>
#include <ctime>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rs1 {
namespace {

constexpr std::int64_t kMinuteMs = 60 * 1000;
constexpr std::int64_t kHourMs = 60 * kMinuteMs;
constexpr std::int64_t kDayMs = 24 * kHourMs;
// The thread re-reads the clock at least this often, so a wall clock that
// was stepped (NTP, a VM resumed) delays a job by a minute at most.
constexpr std::int64_t kMaxWaitMs = kMinuteMs;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::string utc_text(std::int64_t ms) {
  std::time_t s = static_cast<std::time_t>(floor_div(ms, 1000));
  std::tm tm{};
  if (gmtime_r(&s, &tm) == nullptr) return std::to_string(ms) + " ms";
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return std::to_string(ms) + " ms";
  return buf;
}

}  // namespace

std::int64_t SystemClock::now() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Schedule Schedule::every(std::chrono::seconds period) {
  if (period.count() <= 0) throw std::invalid_argument("schedule period must be positive");
  return Schedule{period.count() * 1000, 0};
}

Schedule Schedule::hourly_at(int minute) {
  if (minute < 0 || minute > 59) throw std::invalid_argument("minute must be between 0 and 59");
  return Schedule{kHourMs, minute * kMinuteMs};
}

Schedule Schedule::daily_at(int hour, int minute) {
  if (hour < 0 || hour > 23) throw std::invalid_argument("hour must be between 0 and 23");
  if (minute < 0 || minute > 59) throw std::invalid_argument("minute must be between 0 and 59");
  return Schedule{kDayMs, hour * kHourMs + minute * kMinuteMs};
}

std::int64_t next_run(const Schedule& schedule, std::int64_t after_ms) {
  const std::int64_t period = schedule.period_ms;
  const std::int64_t offset = schedule.offset_ms % period;
  return offset + (floor_div(after_ms - offset, period) + 1) * period;
}

Scheduler::Scheduler(const Clock& clock, LogSink log) : clock_(clock), log_(std::move(log)) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::add(std::string name, Schedule schedule, Job job) {
  if (name.empty()) throw std::invalid_argument("a scheduled job needs a name");
  if (schedule.period_ms <= 0) throw std::invalid_argument("job '" + name + "': no schedule");
  const std::int64_t first = next_run(schedule, clock_.now());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : jobs_) {
      if (e.name == name) throw std::invalid_argument("job '" + name + "' added twice");
    }
    jobs_.push_back(Entry{std::move(name), schedule, std::move(job), first});
    woken_ = true;
  }
  cv_.notify_all();
}

void Scheduler::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool Scheduler::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

void Scheduler::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool Scheduler::run_soon(const std::string& name) {
  const std::int64_t now = clock_.now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it =
        std::find_if(jobs_.begin(), jobs_.end(), [&](const Entry& e) { return e.name == name; });
    if (it == jobs_.end()) return false;
    it->next_ms = now;
    woken_ = true;
  }
  cv_.notify_all();
  return true;
}

std::optional<std::int64_t> Scheduler::next_due() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<std::int64_t> earliest;
  for (const auto& e : jobs_) {
    if (!earliest || e.next_ms < *earliest) earliest = e.next_ms;
  }
  return earliest;
}

std::optional<std::int64_t> Scheduler::next_run_of(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : jobs_) {
    if (e.name == name) return e.next_ms;
  }
  return std::nullopt;
}

std::size_t Scheduler::run_due(std::int64_t now_ms) {
  std::lock_guard<std::mutex> one_run(run_mu_);
  std::vector<Entry*> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& e : jobs_) {
      if (e.next_ms <= now_ms) due.push_back(&e);
    }
  }
  std::size_t ran = 0;
  for (Entry* e : due) {
    if (stopping()) break;  // stop() does not wait for jobs not yet begun
    std::string failure;
    try {
      e->job(now_ms);
    } catch (const std::exception& ex) {
      failure = ex.what();
    } catch (...) {
      failure = "unknown exception";
    }
    ++ran;
    // After the later of the two: a job that outlasted its next slot is not
    // run again at once for a slot that passed while it ran.
    const std::int64_t next = next_run(e->schedule, std::max(now_ms, clock_.now()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      e->next_ms = next;
    }
    if (!failure.empty()) {
      log_(LogLevel::error, "rs1: scheduled job '" + e->name + "' failed: " + failure +
                                "; next run at " + utc_text(next));
    }
  }
  return ran;
}

void Scheduler::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    woken_ = false;
    std::optional<std::int64_t> next;
    for (const auto& e : jobs_) {
      if (!next || e.next_ms < *next) next = e.next_ms;
    }
    const std::int64_t now = clock_.now();
    if (next && *next <= now) {
      lock.unlock();
      run_due(now);
      lock.lock();
      continue;
    }
    const std::int64_t wait_ms = next ? std::min(*next - now, kMaxWaitMs) : kMaxWaitMs;
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ || woken_; });
  }
}

}  // namespace rs1
