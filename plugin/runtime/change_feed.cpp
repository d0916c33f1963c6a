#include "runtime/change_feed.hpp"

#include <algorithm>

namespace rs1 {

ChangeFeed::ChangeFeed(ChangeFeedStore& store, std::int64_t from_seq, LogSink log)
    : store_(store), seq_(from_seq), log_(std::move(log)) {}

ChangeFeed::~ChangeFeed() { stop(); }

void ChangeFeed::on(const std::string& entity, Handler handler) {
  handlers_[entity] = std::move(handler);
}

void ChangeFeed::start(std::chrono::milliseconds interval) {
  thread_ = std::thread([this, interval] { run(interval); });
}

void ChangeFeed::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ChangeFeed::run(std::chrono::milliseconds interval) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    poll_once();
    lock.lock();
    cv_.wait_for(lock, interval, [&] { return stopping_; });
  }
}

void ChangeFeed::poll_once() {
  try {
    // The hint moves on every commit by another connection, the broker's own
    // writer included; the feed tells whether any was a change to mirror.
    bool hinted = store_.may_have_changed();
    if (!hinted && !must_read_) return;
    auto changes = store_.since(seq_);
    must_read_ = false;
    if (changes.empty()) return;
    if (changes.front().seq > seq_ + 1) {
      // The feed keeps only its newest entries: some were trimmed before
      // this poll saw them.
      for (auto& [entity, handler] : handlers_) handler.reload();
      seq_ = changes.back().seq;
      if (caught_up_) caught_up_(seq_);
      return;
    }
    std::map<std::string, std::vector<std::string>> keys;
    std::map<std::string, std::set<std::string>> seen;
    for (const auto& c : changes) {
      if (!handlers_.count(c.entity)) {
        if (unknown_logged_.insert(c.entity).second) {
          log_(LogLevel::warning, "rs1: change feed entry for unknown entity '" + c.entity +
                                      "' skipped (written by a newer rs1?)");
        }
        continue;
      }
      if (seen[c.entity].insert(c.key).second) keys[c.entity].push_back(c.key);
    }
    // Handlers re-read what they keep, so running one again after a failure
    // is harmless: the position moves only once all of them succeeded.
    for (auto& [entity, list] : keys) handlers_.at(entity).changed(list);
    seq_ = changes.back().seq;
    if (caught_up_) caught_up_(seq_);
  } catch (const std::exception& e) {
    if (!must_read_) log_(LogLevel::warning, std::string("rs1: cannot read changes: ") + e.what());
    must_read_ = true;  // read the feed next time even if the hint did not move
  }
}

}  // namespace rs1
