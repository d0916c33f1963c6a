// The change feed: what rs1ctl commits reaches the handler registered for
// its entity (SPEC §8: within 2 s); the broker's own writes do not; an
// unknown entity is logged and skipped, never handed to another handler.
#include "runtime/change_feed.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
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

// What the handlers saw, by entity: the keys, or "*" for a reload.
class Seen {
 public:
  ChangeFeed::Handler handler(const std::string& entity) {
    return {[this, entity](const std::vector<std::string>& keys) {
              std::lock_guard<std::mutex> lock(mu_);
              for (const auto& k : keys) seen_[entity].push_back(k);
            },
            [this, entity] {
              std::lock_guard<std::mutex> lock(mu_);
              seen_[entity].push_back("*");
            }};
  }
  std::vector<std::string> take(const std::string& entity) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(seen_[entity]);
  }
  std::size_t count(const std::string& entity) {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_[entity].size();
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> seen_;
};

struct Logged {
  std::mutex mu;
  std::vector<std::string> lines;
  LogSink sink() {
    return [this](LogLevel, const std::string& line) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(line);
    };
  }
};

}  // namespace

TEST_CASE("change_feed: CLI changes reach their entity's handler", "[change_feed]") {
  TestDb db;
  db.admin->devices().add_one("dev-a", std::nullopt, "hash-a", 1);  // before the broker started
  auto broker_db = open_sqlite(db.path, SqliteTuning::background);
  Seen seen;
  ChangeFeed feed(broker_db->change_feed(), broker_db->change_feed().latest_seq(),
                  [](LogLevel, const std::string&) {});
  feed.on("device", seen.handler("device"));
  feed.on("account", seen.handler("account"));
  feed.start(20ms);

  db.admin->devices().set_status("dev-a", "revoked");
  REQUIRE(eventually([&] { return seen.count("device") > 0; }));
  CHECK(seen.take("device") == std::vector<std::string>{"dev-a"});

  db.admin->devices().add_one("dev-b", std::nullopt, "hash-b", 2);
  db.admin->devices().remove("dev-a");
  REQUIRE(eventually([&] { return seen.count("device") >= 2; }));
  auto both = seen.take("device");
  std::sort(both.begin(), both.end());
  CHECK(both == std::vector<std::string>{"dev-a", "dev-b"});

  db.admin->accounts().add("backend", Role::service, "salt", "hash", 3);
  REQUIRE(eventually([&] { return seen.count("account") > 0; }));
  CHECK(seen.take("account") == std::vector<std::string>{"backend"});
  CHECK(seen.count("device") == 0);

  // The broker's own writes (its writer's batches) are not changes to act on.
  auto writer = open_sqlite(db.path, SqliteTuning::ingest);
  WriteBatch batch;
  batch.telemetry.push_back(
      TelemetryRow{db.admin->devices().find_credentials("dev-b")->ref, "temp", 1, "{}"});
  writer->ingest().write_batch(batch);
  writer->ingest().begin_serving(10);
  std::this_thread::sleep_for(200ms);  // ten polls
  CHECK(seen.count("device") == 0);
  CHECK(seen.count("account") == 0);
  feed.stop();
}

TEST_CASE("change_feed: a commit between reading the position and the first poll is seen",
          "[change_feed]") {
  // The broker reads the feed's position, then loads the directory, then
  // starts the feed. A CLI commit in that gap must not stay invisible on an
  // idle database (no later commit would move the cheap hint again).
  TestDb db;
  auto broker_db = open_sqlite(db.path, SqliteTuning::background);
  const std::int64_t from = broker_db->change_feed().latest_seq();
  broker_db->change_feed().may_have_changed();  // the hint's baseline is taken here
  db.admin->devices().add_one("dev-late", std::nullopt, "hash", 1);
  broker_db->change_feed().may_have_changed();  // ...and moved past the commit
  Seen seen;
  ChangeFeed feed(broker_db->change_feed(), from, [](LogLevel, const std::string&) {});
  feed.on("device", seen.handler("device"));
  feed.poll_once();
  CHECK(seen.take("device") == std::vector<std::string>{"dev-late"});
  feed.poll_once();  // nothing new: the handler is not called again
  CHECK(seen.count("device") == 0);
}

TEST_CASE("change_feed: an unknown entity is logged once and skipped", "[change_feed]") {
  TestDb db;
  auto broker_db = open_sqlite(db.path, SqliteTuning::background);
  const std::int64_t from = broker_db->change_feed().latest_seq();
  Seen seen;
  Logged logged;
  ChangeFeed feed(broker_db->change_feed(), from, logged.sink());
  feed.on("device", seen.handler("device"));
  feed.on("account", seen.handler("account"));
  {
    rs1_test::RawDb raw(db.path);
    raw.exec("INSERT INTO change_feed (entity, key) VALUES ('rollout', 'backend')");
    raw.exec("INSERT INTO change_feed (entity, key) VALUES ('rollout', 'admin')");
  }
  db.admin->devices().add_one("dev-a", std::nullopt, "hash", 1);
  feed.poll_once();
  CHECK(seen.take("device") == std::vector<std::string>{"dev-a"});
  CHECK(seen.count("account") == 0);  // never taken for a removed account
  REQUIRE(logged.lines.size() == 1);
  CHECK(logged.lines[0].find("unknown entity 'rollout'") != std::string::npos);
}

TEST_CASE("change_feed: a feed trimmed past the last change seen reloads every entity",
          "[change_feed]") {
  TestDb db;
  db.admin->devices().add_one("dev-a", std::nullopt, "hash-a", 1);
  auto broker_db = open_sqlite(db.path, SqliteTuning::background);
  const std::int64_t from = broker_db->change_feed().latest_seq();
  Seen seen;
  ChangeFeed feed(broker_db->change_feed(), from, [](LogLevel, const std::string&) {});
  feed.on("device", seen.handler("device"));
  feed.on("account", seen.handler("account"));
  // What a trim leaves behind: the next change the feed has not seen is gone.
  {
    rs1_test::RawDb raw(db.path);
    raw.exec("BEGIN");
    raw.exec("DELETE FROM change_feed");
    raw.exec("INSERT INTO change_feed (seq, entity, key) VALUES (" + std::to_string(from + 5) +
             ", 'device', 'dev-b')");
    raw.exec("COMMIT");
  }
  feed.poll_once();
  CHECK(seen.take("device") == std::vector<std::string>{"*"});
  CHECK(seen.take("account") == std::vector<std::string>{"*"});
  feed.poll_once();
  CHECK(seen.count("device") == 0);
}
