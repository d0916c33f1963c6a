// The SQLite store, on a real database in a fresh directory per test:
// migrations, devices and accounts as rs1ctl manages them, the batches the
// ingest writer commits, the change feed the broker follows, and queries.
#include "core/store.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/migrations.hpp"
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

std::int64_t ref_of(Store& store, const std::string& id) {
  auto d = store.find_device(id);
  REQUIRE(d);
  return d->ref;
}

}  // namespace

TEST_CASE("store: migrate is idempotent and reaches the newest version", "[store]") {
  TempDir dir;
  const std::string path = dir.file("rs1.db");
  auto store = open_sqlite_store(path, StoreRole::admin);
  CHECK(store->schema_version() == 0);
  store->migrate();
  const int newest = migrations().back().version;
  CHECK(newest >= 1);
  CHECK(store->schema_version() == newest);
  store->add_device("dev-a", std::string("RS-1"), "hash", 100);

  store->migrate();  // again: nothing to do, nothing lost
  CHECK(store->schema_version() == newest);
  // Another connection (the broker after rs1ctl init) migrates the same file.
  auto other = open_sqlite_store(path, StoreRole::writer);
  other->migrate();
  CHECK(other->schema_version() == newest);
  CHECK(other->list_devices().size() == 1);
  CHECK(RawDb(path).scalar("SELECT count(*) FROM devices") == 1);
}

TEST_CASE("store: the database is in WAL mode", "[store]") {
  TestDb db;
  CHECK(RawDb(db.path).scalar(
            "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'") == 1);
}

TEST_CASE("store: opening a database that cannot be created fails clearly", "[store]") {
  TempDir dir;
  const std::string path = dir.file("missing/dir/rs1.db");
  try {
    open_sqlite_store(path, StoreRole::admin);
    FAIL("opened " << path);
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path));
  }
}

TEST_CASE("store: add, find, list, get, status and delete devices", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  s.add_device("dev-b", std::nullopt, "hash-b", 200);
  s.add_device("dev-a", std::string("RS-1"), "hash-a", 100);

  auto creds = s.find_device("dev-a");
  REQUIRE(creds);
  CHECK(creds->device_id == "dev-a");
  CHECK(creds->secret_hash == "hash-a");
  CHECK(creds->active);
  CHECK(creds->ref > 0);
  CHECK(creds->ref != ref_of(s, "dev-b"));
  CHECK_FALSE(s.find_device("dev-c"));
  CHECK_FALSE(s.find_device("DEV-A"));  // ids are case-sensitive
  CHECK(s.load_devices().size() == 2);

  auto rec = s.get_device("dev-a");
  REQUIRE(rec);
  CHECK(rec->device_id == "dev-a");
  CHECK(rec->model == std::optional<std::string>("RS-1"));
  CHECK(rec->status == "active");
  CHECK_FALSE(rec->online);
  CHECK_FALSE(rec->last_seen);
  CHECK_FALSE(rec->state);
  CHECK_FALSE(rec->firmware_version);
  CHECK(rec->created_at == 100);
  CHECK_FALSE(s.get_device("dev-b")->model);
  CHECK_FALSE(s.get_device("dev-c"));

  auto all = s.list_devices();
  REQUIRE(all.size() == 2);
  CHECK(all[0].device_id == "dev-a");  // sorted by id
  CHECK(all[1].device_id == "dev-b");

  CHECK(s.set_device_status("dev-a", "revoked"));
  CHECK(s.get_device("dev-a")->status == "revoked");
  CHECK_FALSE(s.find_device("dev-a")->active);
  CHECK(s.set_device_status("dev-a", "active"));
  CHECK(s.find_device("dev-a")->active);
  CHECK_FALSE(s.set_device_status("dev-c", "revoked"));
  // Only the two statuses of SPEC §8 exist.
  CHECK(store_error_kind([&] { s.set_device_status("dev-a", "disabled"); }) ==
        StoreError::Kind::conflict);
  CHECK(s.get_device("dev-a")->status == "active");

  // Deleting a device removes its telemetry, not other devices'.
  WriteBatch batch;
  batch.telemetry.push_back(row(ref_of(s, "dev-a"), "temp", 1, "{}"));
  batch.telemetry.push_back(row(ref_of(s, "dev-b"), "temp", 2, "{}"));
  s.write_batch(batch);
  CHECK(s.delete_device("dev-a"));
  CHECK_FALSE(s.find_device("dev-a"));
  CHECK_FALSE(s.get_device("dev-a"));
  CHECK(s.list_devices().size() == 1);
  CHECK(RawDb(db.path).scalar("SELECT count(*) FROM telemetry") == 1);
  CHECK(s.query_telemetry({}).at(0).device_id == "dev-b");
  CHECK_FALSE(s.delete_device("dev-a"));

  // The id is free again.
  s.add_device("dev-a", std::nullopt, "hash-a2", 300);
  CHECK(s.find_device("dev-a")->secret_hash == "hash-a2");
}

TEST_CASE("store: a duplicate device is a conflict and changes nothing", "[store]") {
  TestDb db;
  db.admin->add_device("dev-a", std::string("RS-1"), "hash-1", 100);
  CHECK(store_error_kind([&] { db.admin->add_device("dev-a", std::nullopt, "hash-2", 200); }) ==
        StoreError::Kind::conflict);
  auto rec = db.admin->get_device("dev-a");
  REQUIRE(rec);
  CHECK(rec->created_at == 100);
  CHECK(db.admin->find_device("dev-a")->secret_hash == "hash-1");
  CHECK(db.admin->list_devices().size() == 1);
  // The connection is still usable after the failed transaction.
  db.admin->add_device("dev-b", std::nullopt, "hash-b", 300);
  CHECK(db.admin->list_devices().size() == 2);
}

TEST_CASE("store: add_devices provisions all of a batch or none of it", "[store]") {
  TestDb db;
  db.admin->add_device("dev-taken", std::nullopt, "hash-t", 100);
  std::vector<NewDevice> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(NewDevice{"dev-" + std::to_string(i), std::nullopt, "h"});
  db.admin->add_devices(batch, 200);
  CHECK(db.admin->list_devices().size() == 501);
  CHECK(db.admin->get_device("dev-499")->created_at == 200);

  // One taken id refuses the whole batch.
  std::vector<NewDevice> clash{{"dev-new-1", std::nullopt, "h"}, {"dev-taken", std::nullopt, "h"},
                               {"dev-new-2", std::nullopt, "h"}};
  CHECK(store_error_kind([&] { db.admin->add_devices(clash, 300); }) == StoreError::Kind::conflict);
  CHECK_FALSE(db.admin->get_device("dev-new-1"));
  CHECK_FALSE(db.admin->get_device("dev-new-2"));
  CHECK(db.admin->list_devices().size() == 501);
}

TEST_CASE("store: count_telemetry counts every row", "[store]") {
  TestDb db;
  CHECK(db.admin->count_telemetry() == 0);
  db.admin->add_device("dev-a", std::nullopt, "hash-a", 1);
  WriteBatch batch;
  for (int i = 0; i < 1500; ++i) batch.telemetry.push_back(row(ref_of(*db.admin, "dev-a"), "temp", i, "{}"));
  db.admin->write_batch(batch);
  CHECK(db.admin->count_telemetry() == 1500);
  CHECK(db.admin->delete_device("dev-a"));
  CHECK(db.admin->count_telemetry() == 0);
}

TEST_CASE("store: account names and device ids never collide", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  s.add_device("dev-a", std::nullopt, "hash", 100);
  s.add_account("backend", Role::service, "salt", "hash", 100);

  CHECK(store_error_kind([&] { s.add_account("dev-a", Role::admin, "s", "h", 200); }) ==
        StoreError::Kind::conflict);
  CHECK_FALSE(s.find_account("dev-a"));
  CHECK(store_error_kind([&] { s.add_device("backend", std::nullopt, "h", 200); }) ==
        StoreError::Kind::conflict);
  CHECK_FALSE(s.find_device("backend"));
  // A duplicate account too.
  CHECK(store_error_kind([&] { s.add_account("backend", Role::admin, "s", "h", 200); }) ==
        StoreError::Kind::conflict);
  CHECK(s.find_account("backend")->role == Role::service);
  CHECK(s.list_accounts().size() == 1);
  CHECK(s.list_devices().size() == 1);
}

TEST_CASE("store: accounts", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  s.add_account("svc", Role::service, "00ff", "abcd", 10);
  s.add_account("root", Role::admin, "11ee", "ef01", 20);

  auto svc = s.find_account("svc");
  REQUIRE(svc);
  CHECK(svc->role == Role::service);
  CHECK(svc->password_salt == "00ff");
  CHECK(svc->password_hash == "abcd");
  CHECK(s.find_account("root")->role == Role::admin);
  CHECK_FALSE(s.find_account("nobody"));
  CHECK(s.load_accounts().size() == 2);

  auto list = s.list_accounts();
  REQUIRE(list.size() == 2);
  CHECK(list[0].username == "root");
  CHECK(list[0].role == Role::admin);
  CHECK(list[0].created_at == 20);
  CHECK(list[1].username == "svc");

  CHECK(s.delete_account("svc"));
  CHECK_FALSE(s.find_account("svc"));
  CHECK_FALSE(s.delete_account("svc"));
  CHECK(s.list_accounts().size() == 1);
}

TEST_CASE("store: write_batch commits telemetry, device updates and events together", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  s.add_device("dev-a", std::nullopt, "h", 100);
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
  s.write_batch(batch);

  auto rows = s.query_telemetry({});
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].device_id == "dev-a");
  CHECK(rows[0].metric == "temp");
  CHECK(rows[0].received_at_ms == 1000);
  CHECK(rows[0].payload == R"({"t":21.5})");
  CHECK(rows[1].metric == "env/hum");
  auto dev = s.get_device("dev-a");
  REQUIRE(dev);
  CHECK(dev->online);
  CHECK(dev->last_seen == std::optional<std::int64_t>(2000));
  CHECK(dev->state == std::optional<std::string>(R"({"firmware_version":"1.2.0","uptime":5})"));
  CHECK(dev->firmware_version == std::optional<std::string>("1.2.0"));
  auto events = s.query_security_log({});
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
  s.write_batch(later);
  dev = s.get_device("dev-a");
  CHECK_FALSE(dev->online);
  CHECK(dev->last_seen == std::optional<std::int64_t>(2000));
  CHECK(dev->state == std::optional<std::string>(R"({"firmware_version":"1.2.0","uptime":5})"));
  CHECK(dev->firmware_version == std::optional<std::string>("1.2.0"));

  // An empty batch is fine.
  s.write_batch(WriteBatch{});
}

TEST_CASE("store: a batch that fails half-way leaves nothing behind", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  s.add_device("dev-a", std::nullopt, "h", 100);
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
  CHECK(store_error_kind([&] { s.write_batch(batch); }) == StoreError::Kind::conflict);

  CHECK(s.query_telemetry({}).empty());
  auto dev = s.get_device("dev-a");
  CHECK_FALSE(dev->online);
  CHECK_FALSE(dev->last_seen);
  CHECK_FALSE(dev->state);
  CHECK(s.query_security_log({}).empty());

  // The same connection goes on committing.
  batch.events.clear();
  s.write_batch(batch);
  CHECK(s.query_telemetry({}).size() == 1);
  CHECK(s.get_device("dev-a")->online);
}

TEST_CASE("store: the change feed reports what the CLI changed", "[store]") {
  TestDb db;
  Store& cli = *db.admin;
  auto broker = open_sqlite_store(db.path, StoreRole::reader);
  auto writer = open_sqlite_store(db.path, StoreRole::writer);
  const std::int64_t start = broker->latest_change();
  CHECK(broker->changes_since(start).empty());

  cli.add_device("dev-a", std::nullopt, "h", 1);
  cli.set_device_status("dev-a", "revoked");
  cli.add_account("svc", Role::service, "s", "h", 1);
  cli.set_device_status("dev-a", "active");
  cli.delete_device("dev-a");
  cli.delete_account("svc");
  const std::vector<std::string> expected = {"device:dev-a", "device:dev-a", "account:svc",
                                             "device:dev-a", "device:dev-a", "account:svc"};
  auto changes = broker->changes_since(start);
  CHECK(keys_of(changes) == expected);
  for (std::size_t i = 1; i < changes.size(); ++i) CHECK(changes[i].seq > changes[i - 1].seq);
  CHECK(broker->latest_change() == changes.back().seq);
  CHECK(broker->changes_since(changes.back().seq).empty());
  CHECK(keys_of(broker->changes_since(changes[2].seq)) ==
        std::vector<std::string>(expected.begin() + 3, expected.end()));

  // What the broker itself writes (presence, state, telemetry, events,
  // going offline at start) is not a change for it to act on.
  cli.add_device("dev-b", std::nullopt, "h", 1);
  const std::int64_t before = broker->latest_change();
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
  writer->write_batch(batch);
  writer->begin_serving(6);
  writer->log_event(SecurityEvent{"acl_violation", "warning", "", "{}", 6});
  CHECK(broker->changes_since(before).empty());
}

TEST_CASE("store: changed_elsewhere sees other connections' commits only", "[store]") {
  TestDb db;
  auto broker = open_sqlite_store(db.path, StoreRole::reader);
  broker->changed_elsewhere();  // baseline
  CHECK_FALSE(broker->changed_elsewhere());
  db.admin->add_device("dev-a", std::nullopt, "h", 1);
  CHECK(broker->changed_elsewhere());
  CHECK_FALSE(broker->changed_elsewhere());
  // Its own commits do not count.
  broker->log_event(SecurityEvent{"acl_violation", "warning", "", "{}", 1});
  CHECK_FALSE(broker->changed_elsewhere());
}

TEST_CASE("store: begin_serving marks every device offline", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  for (const char* id : {"dev-a", "dev-b", "dev-c"}) s.add_device(id, std::nullopt, "h", 1);
  WriteBatch batch;
  for (const char* id : {"dev-a", "dev-b"}) {
    DeviceUpdate u;
    u.device_ref = ref_of(s, id);
    u.last_seen = 500;
    u.online = true;
    batch.devices.push_back(u);
  }
  s.write_batch(batch);
  CHECK(s.get_device("dev-a")->online);
  CHECK(s.get_device("dev-b")->online);

  auto broker = open_sqlite_store(db.path, StoreRole::writer);
  broker->begin_serving(1000);
  for (const auto& d : s.list_devices()) {
    CAPTURE(d.device_id);
    CHECK_FALSE(d.online);
  }
  CHECK(s.get_device("dev-a")->last_seen == std::optional<std::int64_t>(500));
  // Starting twice (a restart) is fine.
  broker->begin_serving(2000);
  CHECK(RawDb(db.path).scalar("SELECT value FROM meta WHERE key = 'broker_started_at'") == 2000);
}

TEST_CASE("store: query_telemetry filters, oldest first, limit", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  s.add_device("dev-a", std::nullopt, "h", 1);
  s.add_device("dev-b", std::nullopt, "h", 1);
  const std::int64_t a = ref_of(s, "dev-a"), b = ref_of(s, "dev-b");
  WriteBatch batch;
  // Inserted out of time order, as rows from several devices may be.
  batch.telemetry.push_back(row(a, "temp", 1000, R"({"v":1})"));
  batch.telemetry.push_back(row(a, "temp", 3000, R"({"v":3})"));
  batch.telemetry.push_back(row(a, "temp", 2000, R"({"v":2})"));
  batch.telemetry.push_back(row(a, "hum", 1500, R"({"v":15})"));
  batch.telemetry.push_back(row(b, "temp", 2500, R"({"v":25})"));
  batch.telemetry.push_back(row(b, "temp", 2500, R"({"v":26})"));  // same millisecond
  s.write_batch(batch);

  using V = std::vector<std::int64_t>;
  CHECK(times_of(s.query_telemetry({})) == V{1000, 1500, 2000, 2500, 2500, 3000});

  TelemetryQuery q;
  q.device_id = "dev-a";
  CHECK(times_of(s.query_telemetry(q)) == V{1000, 1500, 2000, 3000});
  q.metric = "temp";
  CHECK(times_of(s.query_telemetry(q)) == V{1000, 2000, 3000});
  q.since_ms = 2000;  // inclusive
  CHECK(times_of(s.query_telemetry(q)) == V{2000, 3000});
  q.until_ms = 2999;
  CHECK(times_of(s.query_telemetry(q)) == V{2000});
  q.until_ms = 3000;  // inclusive
  CHECK(times_of(s.query_telemetry(q)) == V{2000, 3000});

  TelemetryQuery by_metric;
  by_metric.metric = "temp";
  auto temps = s.query_telemetry(by_metric);
  CHECK(times_of(temps) == V{1000, 2000, 2500, 2500, 3000});
  // Rows of the same millisecond keep their arrival order.
  CHECK(temps[2].payload == R"({"v":25})");
  CHECK(temps[3].payload == R"({"v":26})");
  CHECK(temps[2].device_id == "dev-b");

  TelemetryQuery limited;
  limited.limit = 2;
  CHECK(times_of(s.query_telemetry(limited)) == V{1000, 1500});
  limited.since_ms = 1200;
  CHECK(times_of(s.query_telemetry(limited)) == V{1500, 2000});

  TelemetryQuery none;
  none.device_id = "dev-z";
  CHECK(s.query_telemetry(none).empty());
  none.device_id = "dev-a";
  none.metric = "pressure";
  CHECK(s.query_telemetry(none).empty());
}

TEST_CASE("store: query_security_log newest first with filters", "[store]") {
  TestDb db;
  Store& s = *db.admin;
  s.log_event(SecurityEvent{"auth_failure_repeated", "warning", "10.0.0.1", R"({"n":1})", 100});
  s.log_event(SecurityEvent{"acl_violation", "warning", "10.0.0.2", R"({"n":2})", 300});
  s.log_event(SecurityEvent{"acl_violation", "warning", "", R"({"n":3})", 200});
  s.log_event(SecurityEvent{"admin_api_access", "info", "", R"({"n":4})", 300});

  auto details = [](const std::vector<SecurityEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.details);
    return out;
  };
  using V = std::vector<std::string>;
  // Newest first; of two at the same second, the later one first.
  CHECK(details(s.query_security_log({})) ==
        V{R"({"n":4})", R"({"n":2})", R"({"n":3})", R"({"n":1})"});

  SecurityLogQuery by_type;
  by_type.event_type = "acl_violation";
  CHECK(details(s.query_security_log(by_type)) == V{R"({"n":2})", R"({"n":3})"});
  by_type.since = 250;
  CHECK(details(s.query_security_log(by_type)) == V{R"({"n":2})"});

  SecurityLogQuery since;
  since.since = 200;  // inclusive
  CHECK(details(s.query_security_log(since)) == V{R"({"n":4})", R"({"n":2})", R"({"n":3})"});
  since.limit = 1;
  CHECK(details(s.query_security_log(since)) == V{R"({"n":4})"});

  SecurityLogQuery unknown;
  unknown.event_type = "nope";
  CHECK(s.query_security_log(unknown).empty());

  auto all = s.query_security_log({});
  CHECK(all[0].ip.empty());  // no address: empty, not "null"
  CHECK(all[1].ip == "10.0.0.2");
  CHECK(all[1].event_type == "acl_violation");
  CHECK(all[1].severity == "warning");
  CHECK(all[1].time == 300);
  CHECK(RawDb(db.path).scalar("SELECT count(*) FROM security_log WHERE ip IS NULL") == 2);
}
