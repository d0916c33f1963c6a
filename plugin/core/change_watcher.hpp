// Carries what rs1ctl changes (revocations, new devices and accounts) to the
// running broker: a thread polls the store's change feed a few times a second
// (PRAGMA data_version first, so an idle poll costs no I/O) and hands what
// changed to a sink. The broker's sink queues it for the broker thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "core/store.hpp"

namespace rs1 {

struct DirectoryUpdate {
  // A complete update lists every device and account: whatever it does not
  // list is gone. Sent when the feed was trimmed past the last change seen.
  bool complete = false;
  std::vector<DeviceCredentials> devices;  // added or changed
  std::vector<std::string> removed_devices;
  std::vector<AccountCredentials> accounts;
  std::vector<std::string> removed_accounts;
  bool empty() const {
    return devices.empty() && removed_devices.empty() && accounts.empty() &&
           removed_accounts.empty();
  }
};

class ChangeWatcher {
 public:
  using Sink = std::function<void(DirectoryUpdate)>;

  // Starts polling for changes after `from_seq` (Store::latest_change()).
  ChangeWatcher(std::unique_ptr<Store> store, std::int64_t from_seq,
                std::chrono::milliseconds interval, Sink sink, LogSink log);
  ~ChangeWatcher();
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  void stop();
  // One poll, on the caller's thread (the thread runs this in a loop).
  void poll_once();

 private:
  void run();

  std::unique_ptr<Store> store_;
  std::int64_t seq_;
  std::chrono::milliseconds interval_;
  Sink sink_;
  LogSink log_;
  bool failing_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rs1
