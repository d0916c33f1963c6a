// The SQLite store, on a real database in a fresh directory per test:
// migrations, devices and accounts as rs1ctl manages them, the batches the
// ingest writer commits, the change feed the broker follows, and queries.
#include "store/sqlite.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "store/migrations.hpp"
#include "store/sqlite_stores.hpp"
#include "unit_support.hpp"

using namespace rs1;
using rs1_test::RawDb;
using rs1_test::store_error_kind;
using rs1_test::TempDir;
using rs1_test::TestDb;

namespace {

std::vector<std::int64_t> times_of(const std::vector<TelemetryRecord>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.received_at_ms);
  return out;
}

std::vector<std::string> keys_of(const std::vector<Change>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) out.push_back(c.entity + ":" + c.key);
  return out;
}

TelemetryRow row(std::int64_t ref, std::string metric, std::int64_t at_ms, std::string payload) {
  return TelemetryRow{ref, std::move(metric), at_ms, std::move(payload)};
}

std::int64_t ref_of(Database& store, const std::string& id) {
  auto d = store.devices().find_credentials(id);
  REQUIRE(d);
  return d->ref;
}

}  // namespace

TEST_CASE("store: migrate is idempotent and reaches the newest version", "[store]") {
  TempDir dir;
  const std::string path = dir.file("rs1.db");
  auto store = open_sqlite(path, SqliteTuning::interactive);
  CHECK(store->schema_version() == 0);
  store->migrate();
  const int newest = migrations().back().version;
  CHECK(newest >= 1);
  CHECK(store->schema_version() == newest);
  store->devices().add_one("dev-a", std::string("RS-1"), "hash", 100);

  store->migrate();  // again: nothing to do, nothing lost
  CHECK(store->schema_version() == newest);
  // Another connection (the broker after rs1ctl init) migrates the same file.
  auto other = open_sqlite(path, SqliteTuning::ingest);
  other->migrate();
  CHECK(other->schema_version() == newest);
  CHECK(other->devices().list().size() == 1);
  CHECK(RawDb(path).scalar("SELECT count(*) FROM devices") == 1);
}

TEST_CASE("store: the database is in WAL mode", "[store]") {
  TestDb db;
  CHECK(RawDb(db.path).scalar(
            "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'") == 1);
}

TEST_CASE("store: a writer waiting for the lock gets it within milliseconds of its release",
          "[store]") {
  TestDb db;
  db.admin->devices().add({NewDevice{"dev-a", std::nullopt, std::string(64, 'a')}}, 1);
  const std::int64_t ref = db.admin->devices().find_credentials("dev-a")->ref;
  auto writer = open_sqlite(db.path, SqliteTuning::ingest);
  RawDb holder(db.path);
  // SQLite's own busy timeout would try again at 228 ms and then at 328 ms:
  // 88 ms after a lock held 240 ms was released.
  holder.exec("BEGIN IMMEDIATE");
  using Clock = std::chrono::steady_clock;
  Clock::time_point released;
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(240));
    released = Clock::now();
    holder.exec("COMMIT");
  });
  WriteBatch b;
  b.telemetry.push_back(TelemetryRow{ref, "env", 1, R"({"t":1})"});
  writer->ingest().write_batch(b);
  const auto written = Clock::now();
  release.join();
  const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(written - released);
  INFO("committed " << late.count() << " ms after the lock was released");
  CHECK(late.count() < 40);
  CHECK(db.admin->telemetry().count() == 1);
}

TEST_CASE("store: opening a database that cannot be created fails clearly", "[store]") {
  TempDir dir;
  const std::string path = dir.file("missing/dir/rs1.db");
  try {
    open_sqlite(path, SqliteTuning::interactive);
    FAIL("opened " << path);
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path));
  }
}

TEST_CASE("store: add, find, list, get, status and delete devices", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-b", std::nullopt, "hash-b", 200);
  s.devices().add_one("dev-a", std::string("RS-1"), "hash-a", 100);

  auto creds = s.devices().find_credentials("dev-a");
  REQUIRE(creds);
  CHECK(creds->device_id == "dev-a");
  CHECK(creds->secret_hash == "hash-a");
  CHECK(creds->active);
  CHECK(creds->ref > 0);
  CHECK(creds->ref != ref_of(s, "dev-b"));
  CHECK_FALSE(s.devices().find_credentials("dev-c"));
  CHECK_FALSE(s.devices().find_credentials("DEV-A"));  // ids are case-sensitive
  CHECK(s.devices().load_credentials().size() == 2);

  auto rec = s.devices().get("dev-a");
  REQUIRE(rec);
  CHECK(rec->device_id == "dev-a");
  CHECK(rec->model == std::optional<std::string>("RS-1"));
  CHECK(rec->status == "active");
  CHECK_FALSE(rec->online);
  CHECK_FALSE(rec->last_seen);
  CHECK_FALSE(rec->state);
  CHECK_FALSE(rec->firmware_version);
  CHECK(rec->created_at == 100);
  CHECK_FALSE(s.devices().get("dev-b")->model);
  CHECK_FALSE(s.devices().get("dev-c"));

  auto all = s.devices().list();
  REQUIRE(all.size() == 2);
  CHECK(all[0].device_id == "dev-a");  // sorted by id
  CHECK(all[1].device_id == "dev-b");

  CHECK(s.devices().set_status("dev-a", "revoked"));
  CHECK(s.devices().get("dev-a")->status == "revoked");
  CHECK_FALSE(s.devices().find_credentials("dev-a")->active);
  CHECK(s.devices().set_status("dev-a", "active"));
  CHECK(s.devices().find_credentials("dev-a")->active);
  CHECK_FALSE(s.devices().set_status("dev-c", "revoked"));
  // Only the two statuses of SPEC §8 exist.
  CHECK(store_error_kind([&] { s.devices().set_status("dev-a", "disabled"); }) ==
        StoreError::Kind::conflict);
  CHECK(s.devices().get("dev-a")->status == "active");

  // Deleting a device removes its telemetry, not other devices'.
  WriteBatch batch;
  batch.telemetry.push_back(row(ref_of(s, "dev-a"), "temp", 1, "{}"));
  batch.telemetry.push_back(row(ref_of(s, "dev-b"), "temp", 2, "{}"));
  s.ingest().write_batch(batch);
  CHECK(s.devices().remove("dev-a"));
  CHECK_FALSE(s.devices().find_credentials("dev-a"));
  CHECK_FALSE(s.devices().get("dev-a"));
  CHECK(s.devices().list().size() == 1);
  CHECK(RawDb(db.path).scalar("SELECT count(*) FROM telemetry") == 1);
  CHECK(s.telemetry().query({}).at(0).device_id == "dev-b");
  CHECK_FALSE(s.devices().remove("dev-a"));

  // The id is free again.
  s.devices().add_one("dev-a", std::nullopt, "hash-a2", 300);
  CHECK(s.devices().find_credentials("dev-a")->secret_hash == "hash-a2");
}

TEST_CASE("store: a duplicate device is a conflict and changes nothing", "[store]") {
  TestDb db;
  db.admin->devices().add_one("dev-a", std::string("RS-1"), "hash-1", 100);
  CHECK(store_error_kind([&] { db.admin->devices().add_one("dev-a", std::nullopt, "hash-2", 200); }) ==
        StoreError::Kind::conflict);
  auto rec = db.admin->devices().get("dev-a");
  REQUIRE(rec);
  CHECK(rec->created_at == 100);
  CHECK(db.admin->devices().find_credentials("dev-a")->secret_hash == "hash-1");
  CHECK(db.admin->devices().list().size() == 1);
  // The connection is still usable after the failed transaction.
  db.admin->devices().add_one("dev-b", std::nullopt, "hash-b", 300);
  CHECK(db.admin->devices().list().size() == 2);
}

TEST_CASE("store: add_devices provisions all of a batch or none of it", "[store]") {
  TestDb db;
  db.admin->devices().add_one("dev-taken", std::nullopt, "hash-t", 100);
  std::vector<NewDevice> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(NewDevice{"dev-" + std::to_string(i), std::nullopt, "h"});
  db.admin->devices().add(batch, 200);
  CHECK(db.admin->devices().list().size() == 501);
  CHECK(db.admin->devices().get("dev-499")->created_at == 200);

  // One taken id refuses the whole batch.
  std::vector<NewDevice> clash{{"dev-new-1", std::nullopt, "h"}, {"dev-taken", std::nullopt, "h"},
                               {"dev-new-2", std::nullopt, "h"}};
  CHECK(store_error_kind([&] { db.admin->devices().add(clash, 300); }) == StoreError::Kind::conflict);
  CHECK_FALSE(db.admin->devices().get("dev-new-1"));
  CHECK_FALSE(db.admin->devices().get("dev-new-2"));
  CHECK(db.admin->devices().list().size() == 501);
}

TEST_CASE("store: count_telemetry counts every row", "[store]") {
  TestDb db;
  CHECK(db.admin->telemetry().count() == 0);
  db.admin->devices().add_one("dev-a", std::nullopt, "hash-a", 1);
  WriteBatch batch;
  for (int i = 0; i < 1500; ++i) batch.telemetry.push_back(row(ref_of(*db.admin, "dev-a"), "temp", i, "{}"));
  db.admin->ingest().write_batch(batch);
  CHECK(db.admin->telemetry().count() == 1500);
  CHECK(db.admin->devices().remove("dev-a"));
  CHECK(db.admin->telemetry().count() == 0);
}

TEST_CASE("store: account names and device ids never collide", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-a", std::nullopt, "hash", 100);
  s.accounts().add("backend", Role::service, "salt", "hash", 100);

  CHECK(store_error_kind([&] { s.accounts().add("dev-a", Role::admin, "s", "h", 200); }) ==
        StoreError::Kind::conflict);
  CHECK_FALSE(s.accounts().find_credentials("dev-a"));
  CHECK(store_error_kind([&] { s.devices().add_one("backend", std::nullopt, "h", 200); }) ==
        StoreError::Kind::conflict);
  CHECK_FALSE(s.devices().find_credentials("backend"));
  // A duplicate account too.
  CHECK(store_error_kind([&] { s.accounts().add("backend", Role::admin, "s", "h", 200); }) ==
        StoreError::Kind::conflict);
  CHECK(s.accounts().find_credentials("backend")->role == Role::service);
  CHECK(s.accounts().list().size() == 1);
  CHECK(s.devices().list().size() == 1);
}

TEST_CASE("store: accounts", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  s.accounts().add("svc", Role::service, "00ff", "abcd", 10);
  s.accounts().add("root", Role::admin, "11ee", "ef01", 20);

  auto svc = s.accounts().find_credentials("svc");
  REQUIRE(svc);
  CHECK(svc->role == Role::service);
  CHECK(svc->password_salt == "00ff");
  CHECK(svc->password_hash == "abcd");
  CHECK(s.accounts().find_credentials("root")->role == Role::admin);
  CHECK_FALSE(s.accounts().find_credentials("nobody"));
  CHECK(s.accounts().load_credentials().size() == 2);

  auto list = s.accounts().list();
  REQUIRE(list.size() == 2);
  CHECK(list[0].username == "root");
  CHECK(list[0].role == Role::admin);
  CHECK(list[0].created_at == 20);
  CHECK(list[1].username == "svc");

  CHECK(s.accounts().remove("svc"));
  CHECK_FALSE(s.accounts().find_credentials("svc"));
  CHECK_FALSE(s.accounts().remove("svc"));
  CHECK(s.accounts().list().size() == 1);
}

TEST_CASE("store: write_batch commits telemetry, device updates and events together", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-a", std::nullopt, "h", 100);
  const std::int64_t a = ref_of(s, "dev-a");

  WriteBatch batch;
  batch.telemetry.push_back(row(a, "temp", 1000, R"({"t":21.5})"));
  batch.telemetry.push_back(row(a, "env/hum", 1001, R"({"h":40})"));
  DeviceUpdate u;
  u.device_ref = a;
  u.last_seen = 2000;
  u.online = true;
  u.state = R"({"firmware_version":"1.2.0","uptime":5})";
  u.firmware_version = "1.2.0";
  batch.devices.push_back(u);
  batch.events.push_back(
      SecurityEvent{"acl_violation", "warning", "10.0.0.9", R"({"topic":"x"})", 2000});
  CHECK(batch.size() == 4);
  s.ingest().write_batch(batch);

  auto rows = s.telemetry().query({});
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].device_id == "dev-a");
  CHECK(rows[0].metric == "temp");
  CHECK(rows[0].received_at_ms == 1000);
  CHECK(rows[0].payload == R"({"t":21.5})");
  CHECK(rows[1].metric == "env/hum");
  auto dev = s.devices().get("dev-a");
  REQUIRE(dev);
  CHECK(dev->online);
  CHECK(dev->last_seen == std::optional<std::int64_t>(2000));
  CHECK(dev->state == std::optional<std::string>(R"({"firmware_version":"1.2.0","uptime":5})"));
  CHECK(dev->firmware_version == std::optional<std::string>("1.2.0"));
  auto events = s.security_log().query({});
  REQUIRE(events.size() == 1);
  CHECK(events[0].event_type == "acl_violation");
  CHECK(events[0].severity == "warning");
  CHECK(events[0].ip == "10.0.0.9");
  CHECK(events[0].details == R"({"topic":"x"})");
  CHECK(events[0].time == 2000);

  // An update without state keeps the last state; last_seen never goes back.
  WriteBatch later;
  DeviceUpdate offline;
  offline.device_ref = a;
  offline.last_seen = 1500;
  offline.online = false;
  later.devices.push_back(offline);
  s.ingest().write_batch(later);
  dev = s.devices().get("dev-a");
  CHECK_FALSE(dev->online);
  CHECK(dev->last_seen == std::optional<std::int64_t>(2000));
  CHECK(dev->state == std::optional<std::string>(R"({"firmware_version":"1.2.0","uptime":5})"));
  CHECK(dev->firmware_version == std::optional<std::string>("1.2.0"));

  // An empty batch is fine.
  s.ingest().write_batch(WriteBatch{});
}

TEST_CASE("store: a batch that fails half-way leaves nothing behind", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-a", std::nullopt, "h", 100);
  const std::int64_t a = ref_of(s, "dev-a");
  // Make the batch's last statement fail, from another connection, the way a
  // constraint would.
  RawDb(db.path).exec(
      "CREATE TRIGGER test_reject BEFORE INSERT ON security_log WHEN NEW.event_type = 'boom' "
      "BEGIN SELECT RAISE(ABORT, 'rejected by test'); END");

  WriteBatch batch;
  batch.telemetry.push_back(row(a, "temp", 1000, "{}"));
  DeviceUpdate u;
  u.device_ref = a;
  u.last_seen = 2000;
  u.online = true;
  u.state = "{}";
  batch.devices.push_back(u);
  batch.events.push_back(SecurityEvent{"boom", "info", "", "{}", 2000});
  CHECK(store_error_kind([&] { s.ingest().write_batch(batch); }) == StoreError::Kind::conflict);

  CHECK(s.telemetry().query({}).empty());
  auto dev = s.devices().get("dev-a");
  CHECK_FALSE(dev->online);
  CHECK_FALSE(dev->last_seen);
  CHECK_FALSE(dev->state);
  CHECK(s.security_log().query({}).empty());

  // The same connection goes on committing.
  batch.events.clear();
  s.ingest().write_batch(batch);
  CHECK(s.telemetry().query({}).size() == 1);
  CHECK(s.devices().get("dev-a")->online);
}

TEST_CASE("store: the change feed reports what the CLI changed", "[store]") {
  TestDb db;
  Database& cli = *db.admin;
  auto broker = open_sqlite(db.path, SqliteTuning::background);
  auto writer = open_sqlite(db.path, SqliteTuning::ingest);
  const std::int64_t start = broker->change_feed().latest_seq();
  CHECK(broker->change_feed().since(start).empty());

  cli.devices().add_one("dev-a", std::nullopt, "h", 1);
  cli.devices().set_status("dev-a", "revoked");
  cli.accounts().add("svc", Role::service, "s", "h", 1);
  cli.devices().set_status("dev-a", "active");
  cli.devices().remove("dev-a");
  cli.accounts().remove("svc");
  const std::vector<std::string> expected = {"device:dev-a", "device:dev-a", "account:svc",
                                             "device:dev-a", "device:dev-a", "account:svc"};
  auto changes = broker->change_feed().since(start);
  CHECK(keys_of(changes) == expected);
  for (std::size_t i = 1; i < changes.size(); ++i) CHECK(changes[i].seq > changes[i - 1].seq);
  CHECK(broker->change_feed().latest_seq() == changes.back().seq);
  CHECK(broker->change_feed().since(changes.back().seq).empty());
  CHECK(keys_of(broker->change_feed().since(changes[2].seq)) ==
        std::vector<std::string>(expected.begin() + 3, expected.end()));

  // What the broker itself writes (presence, state, telemetry, events,
  // going offline at start) is not a change for it to act on.
  cli.devices().add_one("dev-b", std::nullopt, "h", 1);
  const std::int64_t before = broker->change_feed().latest_seq();
  WriteBatch batch;
  batch.telemetry.push_back(row(ref_of(cli, "dev-b"), "temp", 1, "{}"));
  DeviceUpdate u;
  u.device_ref = ref_of(cli, "dev-b");
  u.last_seen = 5;
  u.online = true;
  u.state = "{}";
  u.firmware_version = "1.0";
  batch.devices.push_back(u);
  batch.events.push_back(SecurityEvent{"acl_violation", "warning", "", "{}", 5});
  writer->ingest().write_batch(batch);
  writer->ingest().begin_serving(6);
  writer->security_log().append(SecurityEvent{"acl_violation", "warning", "", "{}", 6});
  CHECK(broker->change_feed().since(before).empty());
}

TEST_CASE("store: changed_elsewhere sees other connections' commits only", "[store]") {
  TestDb db;
  auto broker = open_sqlite(db.path, SqliteTuning::background);
  broker->change_feed().may_have_changed();  // baseline
  CHECK_FALSE(broker->change_feed().may_have_changed());
  db.admin->devices().add_one("dev-a", std::nullopt, "h", 1);
  CHECK(broker->change_feed().may_have_changed());
  CHECK_FALSE(broker->change_feed().may_have_changed());
  // Its own commits do not count.
  broker->security_log().append(SecurityEvent{"acl_violation", "warning", "", "{}", 1});
  CHECK_FALSE(broker->change_feed().may_have_changed());
}

TEST_CASE("store: begin_serving marks every device offline", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  for (const char* id : {"dev-a", "dev-b", "dev-c"}) s.devices().add_one(id, std::nullopt, "h", 1);
  WriteBatch batch;
  for (const char* id : {"dev-a", "dev-b"}) {
    DeviceUpdate u;
    u.device_ref = ref_of(s, id);
    u.last_seen = 500;
    u.online = true;
    batch.devices.push_back(u);
  }
  s.ingest().write_batch(batch);
  CHECK(s.devices().get("dev-a")->online);
  CHECK(s.devices().get("dev-b")->online);

  auto broker = open_sqlite(db.path, SqliteTuning::ingest);
  broker->ingest().begin_serving(1000);
  for (const auto& d : s.devices().list()) {
    CAPTURE(d.device_id);
    CHECK_FALSE(d.online);
  }
  CHECK(s.devices().get("dev-a")->last_seen == std::optional<std::int64_t>(500));
  // Starting twice (a restart) is fine.
  broker->ingest().begin_serving(2000);
  CHECK(RawDb(db.path).scalar("SELECT value FROM meta WHERE key = 'broker_started_at'") == 2000);
}

TEST_CASE("store: query_telemetry filters, oldest first, limit", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-a", std::nullopt, "h", 1);
  s.devices().add_one("dev-b", std::nullopt, "h", 1);
  const std::int64_t a = ref_of(s, "dev-a"), b = ref_of(s, "dev-b");
  WriteBatch batch;
  // Inserted out of time order, as rows from several devices may be.
  batch.telemetry.push_back(row(a, "temp", 1000, R"({"v":1})"));
  batch.telemetry.push_back(row(a, "temp", 3000, R"({"v":3})"));
  batch.telemetry.push_back(row(a, "temp", 2000, R"({"v":2})"));
  batch.telemetry.push_back(row(a, "hum", 1500, R"({"v":15})"));
  batch.telemetry.push_back(row(b, "temp", 2500, R"({"v":25})"));
  batch.telemetry.push_back(row(b, "temp", 2500, R"({"v":26})"));  // same millisecond
  s.ingest().write_batch(batch);

  using V = std::vector<std::int64_t>;
  CHECK(times_of(s.telemetry().query({})) == V{1000, 1500, 2000, 2500, 2500, 3000});

  TelemetryQuery q;
  q.device_id = "dev-a";
  CHECK(times_of(s.telemetry().query(q)) == V{1000, 1500, 2000, 3000});
  q.metric = "temp";
  CHECK(times_of(s.telemetry().query(q)) == V{1000, 2000, 3000});
  q.since_ms = 2000;  // inclusive
  CHECK(times_of(s.telemetry().query(q)) == V{2000, 3000});
  q.until_ms = 2999;
  CHECK(times_of(s.telemetry().query(q)) == V{2000});
  q.until_ms = 3000;  // inclusive
  CHECK(times_of(s.telemetry().query(q)) == V{2000, 3000});

  TelemetryQuery by_metric;
  by_metric.metric = "temp";
  auto temps = s.telemetry().query(by_metric);
  CHECK(times_of(temps) == V{1000, 2000, 2500, 2500, 3000});
  // Rows of the same millisecond keep their arrival order.
  CHECK(temps[2].payload == R"({"v":25})");
  CHECK(temps[3].payload == R"({"v":26})");
  CHECK(temps[2].device_id == "dev-b");

  TelemetryQuery limited;
  limited.limit = 2;
  CHECK(times_of(s.telemetry().query(limited)) == V{1000, 1500});
  limited.since_ms = 1200;
  CHECK(times_of(s.telemetry().query(limited)) == V{1500, 2000});

  TelemetryQuery none;
  none.device_id = "dev-z";
  CHECK(s.telemetry().query(none).empty());
  none.device_id = "dev-a";
  none.metric = "pressure";
  CHECK(s.telemetry().query(none).empty());
}

TEST_CASE("store: query_security_log newest first with filters", "[store]") {
  TestDb db;
  Database& s = *db.admin;
  s.security_log().append(SecurityEvent{"auth_failure_repeated", "warning", "10.0.0.1", R"({"n":1})", 100});
  s.security_log().append(SecurityEvent{"acl_violation", "warning", "10.0.0.2", R"({"n":2})", 300});
  s.security_log().append(SecurityEvent{"acl_violation", "warning", "", R"({"n":3})", 200});
  s.security_log().append(SecurityEvent{"admin_api_access", "info", "", R"({"n":4})", 300});

  auto details = [](const std::vector<SecurityEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.details);
    return out;
  };
  using V = std::vector<std::string>;
  // Newest first; of two at the same second, the later one first.
  CHECK(details(s.security_log().query({})) ==
        V{R"({"n":4})", R"({"n":2})", R"({"n":3})", R"({"n":1})"});

  SecurityLogQuery by_type;
  by_type.event_type = "acl_violation";
  CHECK(details(s.security_log().query(by_type)) == V{R"({"n":2})", R"({"n":3})"});
  by_type.since = 250;
  CHECK(details(s.security_log().query(by_type)) == V{R"({"n":2})"});

  SecurityLogQuery since;
  since.since = 200;  // inclusive
  CHECK(details(s.security_log().query(since)) == V{R"({"n":4})", R"({"n":2})", R"({"n":3})"});
  since.limit = 1;
  CHECK(details(s.security_log().query(since)) == V{R"({"n":4})"});

  SecurityLogQuery unknown;
  unknown.event_type = "nope";
  CHECK(s.security_log().query(unknown).empty());

  auto all = s.security_log().query({});
  CHECK(all[0].ip.empty());  // no address: empty, not "null"
  CHECK(all[1].ip == "10.0.0.2");
  CHECK(all[1].event_type == "acl_violation");
  CHECK(all[1].severity == "warning");
  CHECK(all[1].time == 300);
  CHECK(RawDb(db.path).scalar("SELECT count(*) FROM security_log WHERE ip IS NULL") == 2);
}

TEST_CASE("store: a database newer than this build is refused, untouched", "[store]") {
  TempDir dir;
  const std::string path = dir.file("rs1.db");
  {
    auto store = open_sqlite(path, SqliteTuning::interactive);
    store->migrate();
    store->devices().add_one("dev-a", std::nullopt, "hash", 1);
  }
  const int future = migrations().back().version + 1;
  RawDb(path).exec("PRAGMA user_version=" + std::to_string(future));
  auto store = open_sqlite(path, SqliteTuning::interactive);
  try {
    store->migrate();
    FAIL("a newer schema was accepted");
  } catch (const StoreError& e) {
    CHECK(e.kind() == StoreError::Kind::fatal);
    CHECK(std::string(e.what()).find("newer than this build") != std::string::npos);
  }
  CHECK(RawDb(path).scalar("PRAGMA user_version") == future);
  CHECK(RawDb(path).scalar("SELECT count(*) FROM devices") == 1);
}

TEST_CASE("store: an account with an unknown role is an error, never a privilege", "[store]") {
  TestDb db;
  db.admin->accounts().add("backend", Role::service, "salt", "hash", 1);
  {
    RawDb raw(db.path);
    // What a newer version (or a hand edit) might leave: the CHECK is off.
    raw.exec("PRAGMA ignore_check_constraints=ON");
    raw.exec("UPDATE accounts SET role = 'superuser' WHERE username = 'backend'");
  }
  CHECK(rs1_test::store_error_kind([&] { db.admin->accounts().load_credentials(); }) ==
        StoreError::Kind::fatal);
  CHECK(rs1_test::store_error_kind([&] { db.admin->accounts().find_credentials("backend"); }) ==
        StoreError::Kind::fatal);
}

TEST_CASE("store: a telemetry query by time alone reads only its window, never the whole table",
          "[store]") {
  TestDb db;
  RawDb raw(db.path);
  auto plan = [&](const TelemetryQuery& q) {
    return raw.texts("EXPLAIN QUERY PLAN " + rs1::sqlite::Telemetry::sql_for(q), 3);
  };
  TelemetryQuery by_time;
  by_time.since_ms = 1000;
  const std::string p = plan(by_time);
  CAPTURE(p);
  CHECK(p.find("SEARCH t USING INDEX telemetry_by_device_time (device_ref=? AND received_at_ms>?)") !=
        std::string::npos);
  CHECK(p.find("SCAN t") == std::string::npos);
  TelemetryQuery by_device = by_time;
  by_device.device_id = "dev-a";
  const std::string pd = plan(by_device);
  CAPTURE(pd);
  CHECK(pd.find("SEARCH t USING INDEX telemetry_by_device_time") != std::string::npos);
  CHECK(pd.find("SCAN t") == std::string::npos);
  CHECK(pd.find("TEMP B-TREE") == std::string::npos);  // one device: already in time order
}
