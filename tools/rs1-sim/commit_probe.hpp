// Publish -> committed latency as a device sees it, for soak runs: one
// reading at a time is handed to a thread that polls the broker's database
// (a cheap data_version check every millisecond, a one-device query when
// something was committed) until the row with that reading's seq is there,
// and times it from the publish. The next reading the fleet sends after
// that becomes the next probe, so samples follow the run evenly.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rs1::sim {

struct ProbeFigures {
  std::int64_t samples = 0;
  std::int64_t timeouts = 0;  // not committed within the wait (lost, or never acknowledged)
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

class CommitProbe {
 public:
  // `samples_path`, when not empty, gets one "sent_unix_ms,latency_ms" line
  // per sample (and "sent_unix_ms,timeout" for a timeout).
  CommitProbe(std::string db_path, const std::string& samples_path);
  ~CommitProbe();
  CommitProbe(const CommitProbe&) = delete;
  CommitProbe& operator=(const CommitProbe&) = delete;

  // True when no probe is in flight: the caller may start one.
  bool idle() const { return !busy_.load(std::memory_order_acquire); }
  // The reading `seq` of `device_id` was published at `sent` (metric env).
  void start(const std::string& device_id, std::uint64_t seq, std::int64_t sent_unix_ms,
             std::chrono::steady_clock::time_point sent);
  // Stops the thread; the figures of every probe finished.
  ProbeFigures finish();
  // The last database error the thread met (it keeps trying), if any.
  std::string last_error();

 private:
  struct Job {
    std::string device_id;
    std::uint64_t seq = 0;
    std::int64_t sent_unix_ms = 0;
    std::chrono::steady_clock::time_point sent;
  };
  void run();

  std::string db_path_;
  std::ofstream samples_;
  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Job> job_;
  bool stop_ = false;
  std::vector<double> latencies_;  // the thread's until joined
  std::int64_t timeouts_ = 0;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace rs1::sim
