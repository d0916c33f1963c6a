// Firmware downloads for the simulated fleet: a few worker threads fetch
// images over HTTP(S) with cpp-httplib, hashing them as they arrive (no image
// is held in memory), so a download never runs on the MQTT loop thread.
// Callbacks run on a worker thread; the fleet posts them to its loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Client;
}

namespace rs1::sim {

struct DownloadResult {
  // Empty when the transfer completed (HTTP 200, the whole body read) or
  // was cut short because the body grew past `max_bytes`; else why not
  // ("HTTP 403", "connection refused").
  std::string error;
  std::int64_t bytes = 0;  // body bytes received
  bool over_size = false;  // more than max_bytes arrived (the rest was not read)
  std::string sha256;      // lowercase hex of the bytes received
};

class FirmwareDownloader {
 public:
  // `percent` (0-100) of `max_bytes` received, at most once per quarter.
  using Progress = std::function<void(int percent)>;
  using Done = std::function<void(DownloadResult)>;

  explicit FirmwareDownloader(int threads);
  // Cancels what is running and joins the threads.
  ~FirmwareDownloader();
  FirmwareDownloader(const FirmwareDownloader&) = delete;
  FirmwareDownloader& operator=(const FirmwareDownloader&) = delete;

  // Queues a download of `url`; reads at most `max_bytes` + 1 bytes.
  void start(std::string url, std::int64_t max_bytes, Progress progress, Done done);
  // Aborts the running downloads and drops the queued ones; their `done` is
  // not called. Later start() calls are ignored.
  void cancel_all();

 private:
  struct Job {
    std::string url;
    std::int64_t max_bytes = 0;
    Progress progress;
    Done done;
  };
  void work();
  DownloadResult fetch(const Job& job);

  const int max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::set<httplib::Client*> active_;   // running transfers, to stop them
  std::atomic<bool> cancelled_{false};  // also read by transfers, without the lock
  int idle_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace rs1::sim
