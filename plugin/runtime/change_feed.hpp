// Carries what other processes (rs1ctl, later the API) commit to the running
// broker. A thread polls the store's change feed a few times a second (an
// idle poll asks the store's cheap hint first and does no I/O) and hands the
// keys that changed to the handler registered for their entity. An entity
// nobody registered is logged once and skipped, never misread as another.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "runtime/change_feed_store.hpp"

namespace rs1 {

class ChangeFeed {
 public:
  struct Handler {
    // The keys of this entity that changed since the last poll, each once,
    // in the order of their first change.
    std::function<void(const std::vector<std::string>& keys)> changed;
    // The feed was trimmed past the last entry seen: whatever changed is
    // unknown, so reload the whole entity.
    std::function<void()> reload;
  };

  // Polls for entries after `from_seq`. Take `from_seq` (latest_seq()) before
  // loading what the handlers keep current: a commit in between is then seen
  // by the first poll, which always reads the feed.
  ChangeFeed(ChangeFeedStore& store, std::int64_t from_seq, LogSink log);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Register every handler before start().
  void on(const std::string& entity, Handler handler);
  // Called after each poll that moved past new entries, with the last seq
  // handled: everything committed up to it has reached its handler.
  void on_caught_up(std::function<void(std::int64_t seq)> fn) { caught_up_ = std::move(fn); }
  void start(std::chrono::milliseconds interval);
  void stop();
  // One poll, on the caller's thread (the thread runs this in a loop).
  void poll_once();

 private:
  void run(std::chrono::milliseconds interval);

  ChangeFeedStore& store_;
  std::int64_t seq_;
  LogSink log_;
  std::map<std::string, Handler> handlers_;
  std::function<void(std::int64_t)> caught_up_;
  std::set<std::string> unknown_logged_;
  bool must_read_ = true;  // the first poll, and every poll after a failure

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rs1
