#include "core/change_watcher.hpp"

#include <set>

namespace rs1 {

ChangeWatcher::ChangeWatcher(std::unique_ptr<Store> store, std::int64_t from_seq,
                             std::chrono::milliseconds interval, Sink sink, LogSink log)
    : store_(std::move(store)),
      seq_(from_seq),
      interval_(interval),
      sink_(std::move(sink)),
      log_(std::move(log)) {
  store_->changed_elsewhere();  // take the current data_version as the baseline
  thread_ = std::thread([this] { run(); });
}

ChangeWatcher::~ChangeWatcher() { stop(); }

void ChangeWatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ChangeWatcher::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval_, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    poll_once();
    lock.lock();
  }
}

void ChangeWatcher::poll_once() {
  try {
    // data_version moves on every commit by another connection, the broker's
    // own writer included; the feed query tells whether any was the CLI's.
    if (!store_->changed_elsewhere() && !failing_) return;
    auto changes = store_->changes_since(seq_);
    failing_ = false;
    if (changes.empty()) return;
    if (changes.front().seq > seq_ + 1) {
      // The feed keeps only its newest entries: some changes were trimmed
      // before this poll saw them, so send everything instead.
      DirectoryUpdate full;
      full.complete = true;
      full.devices = store_->load_devices();
      full.accounts = store_->load_accounts();
      seq_ = changes.back().seq;
      sink_(std::move(full));
      return;
    }
    std::set<std::string> devices, accounts;
    for (const auto& c : changes) {
      (c.entity == "device" ? devices : accounts).insert(c.key);
      seq_ = c.seq;
    }
    DirectoryUpdate update;
    for (const auto& id : devices) {
      if (auto d = store_->find_device(id)) {
        update.devices.push_back(std::move(*d));
      } else {
        update.removed_devices.push_back(id);
      }
    }
    for (const auto& name : accounts) {
      if (auto a = store_->find_account(name)) {
        update.accounts.push_back(std::move(*a));
      } else {
        update.removed_accounts.push_back(name);
      }
    }
    sink_(std::move(update));
  } catch (const std::exception& e) {
    if (!failing_) log_(LogLevel::warning, std::string("rs1: cannot read changes: ") + e.what());
    failing_ = true;  // poll the feed again next time even if data_version did not move
  }
}

}  // namespace rs1
