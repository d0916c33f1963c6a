// The change watcher: what rs1ctl changes in the database reaches the
// broker's sink (SPEC §8: within 2 s); the broker's own writes do not.
#include "core/change_watcher.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "unit_support.hpp"

using namespace rs1;
using namespace std::chrono_literals;
using rs1_test::eventually;
using rs1_test::TestDb;

namespace {

class UpdateLog {
 public:
  ChangeWatcher::Sink sink() {
    return [this](DirectoryUpdate u) {
      std::lock_guard<std::mutex> lock(mu_);
      updates_.push_back(std::move(u));
    };
  }
  std::vector<DirectoryUpdate> take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(updates_);
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return updates_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<DirectoryUpdate> updates_;
};

// Everything delivered since the last call, merged.
DirectoryUpdate wait_for_update(UpdateLog& log) {
  REQUIRE(eventually([&] { return log.size() > 0; }));
  DirectoryUpdate merged;
  for (auto& u : log.take()) {
    CHECK_FALSE(u.empty());  // the sink is never called for nothing
    for (auto& d : u.devices) merged.devices.push_back(d);
    for (auto& r : u.removed_devices) merged.removed_devices.push_back(r);
    for (auto& a : u.accounts) merged.accounts.push_back(a);
    for (auto& r : u.removed_accounts) merged.removed_accounts.push_back(r);
  }
  return merged;
}

}  // namespace

TEST_CASE("change_watcher: CLI changes reach the broker", "[change_watcher]") {
  TestDb db;
  db.admin->add_device("dev-a", std::nullopt, "hash-a", 1);  // before the broker started
  auto broker_store = open_sqlite_store(db.path, StoreRole::reader);
  const std::int64_t from = broker_store->latest_change();
  UpdateLog log;
  ChangeWatcher watcher(std::move(broker_store), from, 20ms, log.sink(),
                        [](LogLevel, const std::string&) {});

  db.admin->set_device_status("dev-a", "revoked");
  auto revoked = wait_for_update(log);
  REQUIRE(revoked.devices.size() == 1);
  CHECK(revoked.devices[0].device_id == "dev-a");
  CHECK_FALSE(revoked.devices[0].active);

  db.admin->add_device("dev-b", std::nullopt, "hash-b", 2);
  auto added = wait_for_update(log);
  REQUIRE(added.devices.size() == 1);
  CHECK(added.devices[0].device_id == "dev-b");
  CHECK(added.devices[0].secret_hash == "hash-b");
  CHECK(added.devices[0].active);

  db.admin->delete_device("dev-a");
  auto removed = wait_for_update(log);
  CHECK(removed.removed_devices == std::vector<std::string>{"dev-a"});
  CHECK(removed.devices.empty());

  db.admin->add_account("backend", Role::service, "salt", "hash", 3);
  auto account = wait_for_update(log);
  REQUIRE(account.accounts.size() == 1);
  CHECK(account.accounts[0].username == "backend");
  CHECK(account.accounts[0].role == Role::service);

  db.admin->delete_account("backend");
  CHECK(wait_for_update(log).removed_accounts == std::vector<std::string>{"backend"});

  // The broker's own writes (its writer's batches) are not changes to act on.
  auto writer = open_sqlite_store(db.path, StoreRole::writer);
  WriteBatch batch;
  batch.telemetry.push_back(TelemetryRow{db.admin->find_device("dev-b")->ref, "temp", 1, "{}"});
  writer->write_batch(batch);
  writer->begin_serving(10);
  std::this_thread::sleep_for(200ms);  // ten polls
  CHECK(log.size() == 0);
  watcher.stop();
}

TEST_CASE("change_watcher: a feed trimmed past the last change seen gives a complete listing",
          "[change_watcher]") {
  TestDb db;
  db.admin->add_device("dev-a", std::nullopt, "hash-a", 1);
  db.admin->add_device("dev-b", std::nullopt, "hash-b", 1);
  auto broker_store = open_sqlite_store(db.path, StoreRole::reader);
  const std::int64_t from = broker_store->latest_change();
  UpdateLog log;
  ChangeWatcher watcher(std::move(broker_store), from, 20ms, log.sink(),
                        [](LogLevel, const std::string&) {});
  // What a trim leaves behind: the next change the watcher has not seen is gone.
  {
    rs1_test::RawDb raw(db.path);
    raw.exec("BEGIN");
    raw.exec("DELETE FROM devices WHERE device_id = 'dev-a'");
    raw.exec("DELETE FROM change_feed");
    raw.exec("INSERT INTO change_feed (seq, entity, key) VALUES (" + std::to_string(from + 5) +
             ", 'device', 'dev-b')");
    raw.exec("COMMIT");
  }
  REQUIRE(eventually([&] { return log.size() > 0; }));
  auto updates = log.take();
  REQUIRE(updates.size() == 1);
  CHECK(updates[0].complete);
  REQUIRE(updates[0].devices.size() == 1);  // dev-a is gone: absent from the listing
  CHECK(updates[0].devices[0].device_id == "dev-b");
}
