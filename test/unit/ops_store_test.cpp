// The operations jobs on a real SQLite database, with time as a parameter:
// aggregation (fields, idempotence, catch-up, retention), the archive (day
// files as gzip members, a crash between the two steps neither losing nor
// duplicating a row, retention), the online backup (consistent while rows
// are written), the chunked device delete, quick_check, and the guard that
// refuses to write into a database file that was replaced or deleted.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/time_parse.hpp"
#include "features/ops/ops.hpp"
#include "store/ops_jobs.hpp"
#include "unit_support.hpp"

using namespace rs1;
using rs1_test::at;
using rs1_test::RawDb;
using rs1_test::TestDb;

namespace {

std::int64_t add_device(Database& db, const std::string& id) {
  db.devices().add({NewDevice{id, std::nullopt, std::string(64, 'a')}}, 1);
  return db.devices().find_credentials(id)->ref;
}

void write_rows(Database& db, std::int64_t ref, const std::string& metric, std::int64_t from_ms,
                std::int64_t step_ms, int n, const std::string& payload = R"({"t":1})") {
  WriteBatch b;
  for (int i = 0; i < n; ++i)
    b.telemetry.push_back(TelemetryRow{ref, metric, from_ms + i * step_ms, payload});
  db.ingest().write_batch(b);
}

OpsJobContext context(const std::string& dir, int hot_days = 30) {
  OpsJobContext ctx;
  ctx.data_dir = dir;
  ctx.hot_days = hot_days;
  return ctx;
}

// Every archived line's received_at_ms, by device.
std::multiset<std::pair<std::string, std::int64_t>> archived(const std::string& data_dir) {
  std::multiset<std::pair<std::string, std::int64_t>> out;
  read_archive(data_dir, std::nullopt, std::nullopt, [&](TelemetryRecord&& r) {
    out.insert({r.device_id, r.received_at_ms});
    return true;
  });
  return out;
}

std::multiset<std::pair<std::string, std::int64_t>> in_database(Database& db) {
  std::multiset<std::pair<std::string, std::int64_t>> out;
  TelemetryQuery q;
  q.limit = 10000000;
  for (auto& r : db.telemetry().query(q)) out.insert({r.device_id, r.received_at_ms});
  return out;
}

}  // namespace

TEST_CASE("ops store: an hour aggregated per device and metric, numeric top-level fields only",
          "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  auto b = add_device(s, "dev-b");
  const std::int64_t h = at("2026-03-10T10:00:00Z");
  WriteBatch batch;
  batch.telemetry.push_back(
      {a, "env", h + 1, R"({"t":20,"rh":40.5,"name":"x","nested":{"z":1},"ok":true})"});
  batch.telemetry.push_back({a, "env", h + 2, R"({"t":22,"rh":41})"});
  batch.telemetry.push_back({a, "env", h + kOpsHourMs - 1, R"({"t":-3})"});
  batch.telemetry.push_back({a, "env", h + kOpsHourMs, R"({"t":1000})"});  // next hour
  batch.telemetry.push_back({a, "power", h + 5, R"({"note":"no numbers"})"});
  batch.telemetry.push_back({b, "env", h - 1, R"({"t":500})"});  // hour before
  s.ingest().write_batch(batch);

  s.ops().aggregate_hour(h);
  HourlyQuery q;
  auto rows = s.ops().hourly(q);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].device_id == "dev-a");
  CHECK(rows[0].metric == "env");
  CHECK(rows[0].hour == h / 1000);
  CHECK(rows[0].count == 3);
  auto f = nlohmann::json::parse(rows[0].fields);
  CHECK(f.size() == 2);  // "name", "nested", "ok" are no numbers
  CHECK(f["t"]["min"] == -3);
  CHECK(f["t"]["max"] == 22);
  CHECK(f["t"]["avg"].get<double>() == Approx(13.0));
  CHECK(f["rh"]["min"].get<double>() == Approx(40.5));
  CHECK(f["rh"]["max"].get<double>() == Approx(41.0));
  CHECK(rows[1].metric == "power");
  CHECK(rows[1].count == 1);
  CHECK(rows[1].fields == "{}");
  CHECK(s.ops().aggregated_through_ms() == h + kOpsHourMs);

  // Recomputing gives the same rows, also after more rows arrived.
  s.ops().aggregate_hour(h);
  auto again = s.ops().hourly(q);
  REQUIRE(again.size() == 2);
  CHECK(again[0].fields == rows[0].fields);
  CHECK(again[0].count == 3);
  write_rows(s, a, "env", h + 10, 1, 1, R"({"t":100})");
  s.ops().aggregate_hour(h);
  CHECK(s.ops().hourly(q)[0].count == 4);
  // An older hour recomputed does not move the progress mark back.
  s.ops().aggregate_hour(h - kOpsHourMs);
  CHECK(s.ops().aggregated_through_ms() == h + kOpsHourMs);
}

TEST_CASE("ops store: each device and metric gets its own fields, whichever have numbers",
          "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  auto b = add_device(s, "dev-b");
  auto c = add_device(s, "dev-c");
  const std::int64_t h = at("2026-03-10T10:00:00Z");
  WriteBatch batch;
  // Written out of order; metrics without numbers between those with.
  batch.telemetry.push_back({c, "zeta", h + 9, R"({"v":3})"});
  batch.telemetry.push_back({b, "env", h + 8, R"({"t":7,"a":1})"});
  batch.telemetry.push_back({a, "zeta", h + 7, R"({"v":1.5})"});
  batch.telemetry.push_back({a, "mid", h + 6, R"({"s":"text"})"});
  batch.telemetry.push_back({a, "alpha", h + 5, R"(not json)"});
  batch.telemetry.push_back({b, "env", h + 4, R"({"t":9})"});
  batch.telemetry.push_back({c, "alpha", h + 3, R"({"w":-1})"});
  s.ingest().write_batch(batch);

  s.ops().aggregate_hour(h);
  std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, nlohmann::json>> got;
  for (const auto& r : s.ops().hourly(HourlyQuery{}))
    got[{r.device_id, r.metric}] = {r.count, nlohmann::json::parse(r.fields)};
  using nlohmann::json;
  REQUIRE(got.size() == 6);
  CHECK(got[{"dev-a", "alpha"}] == std::make_pair(std::int64_t{1}, json::object()));
  CHECK(got[{"dev-a", "mid"}] == std::make_pair(std::int64_t{1}, json::object()));
  CHECK(got[{"dev-a", "zeta"}].second == json::parse(R"({"v":{"min":1.5,"max":1.5,"avg":1.5}})"));
  CHECK(got[{"dev-b", "env"}].first == 2);
  CHECK(got[{"dev-b", "env"}].second ==
        json::parse(R"({"a":{"min":1,"max":1,"avg":1.0},"t":{"min":7,"max":9,"avg":8.0}})"));
  CHECK(got[{"dev-c", "alpha"}].second == json::parse(R"({"w":{"min":-1,"max":-1,"avg":-1.0}})"));
  CHECK(got[{"dev-c", "zeta"}].second == json::parse(R"({"v":{"min":3,"max":3,"avg":3.0}})"));
}

TEST_CASE(
    "ops store: aggregation catches up on every missed hour, once, and keeps aggregates as long as "
    "the archive",
    "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  const std::int64_t start = at("2026-03-01T00:00:00Z");
  write_rows(s, a, "env", start, 10 * 60 * 1000, 6 * 24 * 3);  // 3 days, 6 rows an hour
  auto ctx = context(db.dir.path().string());
  ctx.archive_retention_days = 365;

  auto r = aggregate_due_hours(s, ctx, at("2026-03-04T00:30:00Z"));
  CHECK(r.hours == 72);
  HourlyQuery q;
  auto rows = s.ops().hourly(q);
  REQUIRE(rows.size() == 72);
  for (const auto& h : rows) CHECK(h.count == 6);
  CHECK(aggregate_due_hours(s, ctx, at("2026-03-04T00:59:00Z")).hours == 0);
  CHECK(aggregate_due_hours(s, ctx, at("2026-03-04T01:00:00Z")).hours == 1);  // an empty hour

  ctx.archive_retention_days = 1;
  r = aggregate_due_hours(s, ctx, at("2026-03-04T01:30:00Z"));
  // Hours before 2026-03-03T01:00 go.
  CHECK(r.aggregates_deleted == 49);
  CHECK(s.ops().hourly(q).front().hour == at("2026-03-03T01:00:00Z") / 1000);
}

TEST_CASE(
    "ops store: the archive moves old rows to gzip day files, appends members, and keeps the hot "
    "window",
    "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  auto b = add_device(s, "dev-b");
  const std::int64_t day1 = at("2026-03-01T00:00:00Z");
  write_rows(s, a, "env", day1, 60 * 1000, 1500);  // 2026-03-01 and 02
  write_rows(s, b, "env", day1 + 30, 60 * 1000, 1500);
  const std::int64_t now = at("2026-03-05T12:00:00Z");
  auto ctx = context(db.dir.path().string(), 3);  // keep from 03-02T12:00
  aggregate_due_hours(s, ctx, now);

  auto before = in_database(s);
  auto r = archive_old_rows(s, ctx, now, 700);
  const std::int64_t cutoff = at("2026-03-02T12:00:00Z");
  std::size_t expected = 0;
  for (auto& [dev, t] : before) expected += t < cutoff ? 1 : 0;
  CHECK(r.rows == expected);
  CHECK(r.chunks > 2);

  auto arch = archived(ctx.data_dir);
  auto left = in_database(s);
  CHECK(arch.size() == expected);
  for (auto& [dev, t] : arch) CHECK(t < cutoff);
  for (auto& [dev, t] : left) CHECK(t >= cutoff);
  std::multiset<std::pair<std::string, std::int64_t>> together = arch;
  together.insert(left.begin(), left.end());
  CHECK(together == before);

  namespace fs = std::filesystem;
  const std::string root = archive_root(ctx.data_dir);
  CHECK(fs::exists(root + "/2026/03/01.ndjson.gz"));
  CHECK(fs::exists(root + "/2026/03/02.ndjson.gz"));

  // A line as SPEC §9 has it, the payload as the device sent it.
  std::string first;
  read_archive(ctx.data_dir, std::nullopt, std::nullopt, [&](TelemetryRecord&& rec) {
    first = rec.payload;
    return false;
  });
  CHECK(first == R"({"t":1})");

  // Later rows of a day already archived: a second gzip member, the first kept.
  const auto size1 = fs::file_size(root + "/2026/03/01.ndjson.gz");
  write_rows(s, a, "late", day1 + 5, 1, 3);
  aggregate_due_hours(s, ctx, now);
  s.ops().aggregate_hour(day1);  // the hour got rows after it was done
  CHECK(archive_old_rows(s, ctx, now).rows == 3);
  CHECK(fs::file_size(root + "/2026/03/01.ndjson.gz") > size1);
  CHECK(archived(ctx.data_dir).size() == expected + 3);

  // Retention: the day files past archive_retention_days go.
  ctx.archive_retention_days = 365;
  CHECK(archive_old_rows(s, ctx, at("2027-03-02T00:00:00Z"), 700).files_deleted == 1);
  CHECK_FALSE(fs::exists(root + "/2026/03/01.ndjson.gz"));
  CHECK(fs::exists(root + "/2026/03/02.ndjson.gz"));
}

TEST_CASE(
    "ops store: a crash between writing a chunk and deleting its rows neither loses nor duplicates "
    "a row",
    "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  const std::int64_t day1 = at("2026-03-01T00:00:00Z");
  write_rows(s, a, "env", day1, 1000, 5000);
  const std::int64_t now = at("2026-03-10T00:00:00Z");
  auto ctx = context(db.dir.path().string(), 1);
  aggregate_due_hours(s, ctx, now);
  auto before = in_database(s);

  // Crash after the 1st, 2nd and 3rd chunk's member is on disk.
  for (int crash_at : {1, 2, 3}) {
    CAPTURE(crash_at);
    int n = 0;
    CHECK_THROWS_WITH(archive_old_rows(s, ctx, now, 1000,
                                       [&](const std::string&) {
                                         if (++n == crash_at) throw std::runtime_error("killed");
                                       }),
                      "killed");
    REQUIRE(s.ops().archive_pending());
  }
  // The next run rolls the interrupted member back and moves the rows again.
  auto r = archive_old_rows(s, ctx, now, 1000);
  CHECK(r.recovered);
  CHECK_FALSE(s.ops().archive_pending());
  CHECK(in_database(s).empty());
  CHECK(archived(ctx.data_dir) == before);
}

TEST_CASE(
    "ops store: an online backup while rows are written is consistent and holds every row "
    "committed before it",
    "[ops]") {
  TestDb db;
  auto a = add_device(*db.admin, "dev-a");
  for (int i = 0; i < 20; ++i) write_rows(*db.admin, a, "env", i * 1000, 1, 1000);
  const std::int64_t committed = db.admin->telemetry().count();

  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    auto w = open_sqlite(db.path, SqliteTuning::ingest);
    for (int i = 0; !stop; ++i) {
      write_rows(*w, a, "live", 1000000 + i * 100, 1, 100);
      ++batches;
    }
  });
  while (batches < 3) std::this_thread::yield();
  auto ctx = context(db.dir.path().string());
  CopyPacing pacing;
  pacing.pages_per_step = 8;  // many steps, with writes between them
  pacing.pause_ms = 1;
  auto backer = open_sqlite(db.path, SqliteTuning::interactive);
  BackupResult r = run_backup(*backer, ctx, at("2026-03-10T03:00:00Z"), pacing);
  stop = true;
  writer.join();

  CHECK(r.file == ctx.data_dir + "/backups/2026-03-10.sqlite");
  CHECK(integrity_check_file(r.file) == "ok");
  RawDb copy(r.file);
  CHECK(copy.scalar("SELECT count(*) FROM telemetry WHERE metric = 'env'") == committed);
  CHECK(copy.scalar("PRAGMA user_version") == db.admin->schema_version());
  // No temporary left behind; a second backup the same day replaces the first.
  std::vector<std::string> names;
  for (auto& f : list_backups(backup_dir(ctx.data_dir))) names.push_back(f.name);
  CHECK(names == std::vector<std::string>{"2026-03-10.sqlite"});

  // Retention.
  ctx.backup_retention_days = 2;
  run_backup(*backer, ctx, at("2026-03-11T03:00:00Z"), pacing);
  run_backup(*backer, ctx, at("2026-03-12T03:00:00Z"), pacing);
  CHECK(run_backup(*backer, ctx, at("2026-03-13T03:00:00Z"), pacing).deleted == 1);
  names.clear();
  for (auto& f : list_backups(backup_dir(ctx.data_dir))) names.push_back(f.name);
  CHECK(names ==
        std::vector<std::string>{"2026-03-11.sqlite", "2026-03-12.sqlite", "2026-03-13.sqlite"});
}

TEST_CASE("ops store: deleting a device with many rows never holds the write lock for long",
          "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  auto b = add_device(s, "dev-b");
  for (int i = 0; i < 10; ++i) write_rows(s, a, "env", i * 10000, 1, 5000);
  write_rows(s, b, "env", 0, 1, 10);

  // A writer committing small batches meanwhile: its longest wait for the lock.
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> longest_us{0};
  std::thread writer([&] {
    auto w = open_sqlite(db.path, SqliteTuning::ingest);
    while (!stop) {
      auto t0 = std::chrono::steady_clock::now();
      write_rows(*w, b, "live", 1, 1, 1);
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      if (us > longest_us) longest_us = us;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  auto deleter = open_sqlite(db.path, SqliteTuning::interactive);
  CHECK(deleter->devices().remove("dev-a"));
  stop = true;
  writer.join();
  RawDb raw(db.path);
  CHECK(raw.scalar("SELECT count(*) FROM telemetry WHERE device_ref = " + std::to_string(a)) == 0);
  CHECK(raw.scalar("SELECT count(*) FROM telemetry WHERE device_ref = " + std::to_string(b) +
                   " AND metric = 'env'") == 10);
  CHECK_FALSE(deleter->devices().get("dev-a"));
  CHECK_FALSE(deleter->devices().remove("dev-a"));
  INFO("longest commit of the concurrent writer: " << longest_us.load() << " us");
  // One 5,000-row chunk, not 50,000 rows at once (which takes well over a second here).
  CHECK(longest_us.load() < 1000000);
}

TEST_CASE("ops store: quick_check finds corrupt pages", "[ops]") {
  TestDb db;
  auto a = add_device(*db.admin, "dev-a");
  for (int i = 0; i < 5; ++i)
    write_rows(*db.admin, a, "env", i * 10000, 1, 2000, std::string(200, ' ') + "{}");
  CHECK(db.admin->ops().quick_check() == "ok");
  db.admin.reset();
  {
    RawDb raw(db.path);
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  // Scribble over pages in the middle of the file (the header stays intact).
  {
    FILE* f = std::fopen(db.path.c_str(), "r+b");
    REQUIRE(f);
    std::fseek(f, 0, SEEK_END);
    long size = std::ftell(f);
    REQUIRE(size > 200000);
    std::fseek(f, size / 2, SEEK_SET);
    std::string junk(4096 * 4, '\x5a');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  auto again = open_sqlite(db.path, SqliteTuning::interactive);
  CHECK(again->ops().quick_check() != "ok");
}

TEST_CASE(
    "ops store: no write goes into a database file that was replaced or deleted after it was "
    "opened",
    "[ops]") {
  TestDb db;
  add_device(*db.admin, "dev-a");
  auto writer = open_sqlite(db.path, SqliteTuning::ingest);
  CHECK_NOTHROW(writer->ingest().begin_serving(1));

  SECTION("replaced by a copy") {
    std::filesystem::copy_file(db.path, db.path + ".copy");
    std::filesystem::rename(db.path + ".copy", db.path);
  }
  SECTION("deleted") { std::filesystem::remove(db.path); }

  StoreError::Kind kind = StoreError::Kind::fatal;
  std::string what;
  try {
    writer->ingest().begin_serving(2);
  } catch (const StoreError& e) {
    kind = e.kind();
    what = e.what();
  }
  CHECK(kind == StoreError::Kind::transient);  // the writer retries: the file may come back
  CHECK(what.find("replaced or deleted") != std::string::npos);
}

TEST_CASE(
    "ops store: what an interrupted device delete left behind is swept, rows and aggregates, and "
    "nothing of another device",
    "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  auto b = add_device(s, "dev-b");
  const std::int64_t day1 = at("2026-03-01T00:00:00Z");
  write_rows(s, a, "env", day1, 1000, 12000);
  write_rows(s, b, "env", day1, 1000, 100);
  aggregate_due_hours(s, context(db.dir.path().string()), at("2026-03-02T00:00:00Z"));
  RawDb raw(db.path);
  const std::string of_a = " WHERE device_ref = " + std::to_string(a);
  REQUIRE(raw.scalar("SELECT count(*) FROM telemetry_hourly" + of_a) > 0);
  // Killed after the device's own transaction and one chunk of its rows.
  raw.exec("DELETE FROM devices WHERE id = " + std::to_string(a));
  raw.exec("DELETE FROM telemetry WHERE rowid IN (SELECT rowid FROM telemetry" + of_a +
           " LIMIT 5000)");
  CHECK_FALSE(s.devices().find_credentials("dev-a"));  // no login from the first moment

  SECTION("by the broker's sweep") { CHECK(s.ops().sweep_deleted_devices() > 7000); }
  SECTION("by the next delete, of the same id") { CHECK_FALSE(s.devices().remove("dev-a")); }
  SECTION("by the next delete, of another device") {
    auto c = add_device(s, "dev-c");
    write_rows(s, c, "env", day1, 1000, 10);
    CHECK(s.devices().remove("dev-c"));
    CHECK(raw.scalar("SELECT count(*) FROM telemetry WHERE device_ref = " + std::to_string(c)) ==
          0);
  }
  CHECK(raw.scalar("SELECT count(*) FROM telemetry" + of_a) == 0);
  CHECK(raw.scalar("SELECT count(*) FROM telemetry_hourly" + of_a) == 0);
  CHECK(raw.scalar("SELECT count(*) FROM telemetry WHERE device_ref = " + std::to_string(b)) ==
        100);
  CHECK(raw.scalar("SELECT count(*) FROM telemetry_hourly WHERE device_ref = " +
                   std::to_string(b)) > 0);
  CHECK(s.ops().sweep_deleted_devices() == 0);
}

TEST_CASE(
    "ops store: the archive takes the table's head in growing chunks, drops rows of deleted "
    "devices and still finds old rows behind newer ones",
    "[ops]") {
  TestDb db;
  Database& s = *db.admin;
  auto a = add_device(s, "dev-a");
  auto b = add_device(s, "dev-b");
  auto gone = add_device(s, "dev-gone");
  const std::int64_t day1 = at("2026-03-01T00:00:00Z");
  // Interleaved as a fleet sends them, over two days.
  WriteBatch batch;
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t ref = i % 3 == 0 ? a : i % 3 == 1 ? b : gone;
    batch.telemetry.push_back(TelemetryRow{ref, "env", day1 + i * 8000, R"({"t":2})"});
  }
  s.ingest().write_batch(batch);
  const std::int64_t now = at("2026-03-06T00:00:00Z");
  write_rows(s, a, "env", now - 1000, 1, 5);  // hot
  write_rows(s, b, "late", day1 + 7, 1, 4);   // old, behind the hot rows
  RawDb raw(db.path);
  raw.exec("DELETE FROM devices WHERE id = " + std::to_string(gone));
  auto ctx = context(db.dir.path().string(), 2);
  aggregate_due_hours(s, ctx, now);
  auto before = in_database(s);  // rows of devices that exist

  ArchiveResult r = archive_old_rows(s, ctx, now);
  CHECK(r.chunks >= 3);  // two day files, 5,000 rows first
  auto arch = archived(ctx.data_dir);
  auto left = in_database(s);
  CHECK(left.size() == 5);
  std::multiset<std::pair<std::string, std::int64_t>> together = arch;
  together.insert(left.begin(), left.end());
  CHECK(together == before);
  CHECK(arch.count({"dev-b", day1 + 7}) == 1);
  CHECK(raw.scalar("SELECT count(*) FROM telemetry") == 5);  // the deleted device's rows went too
}

TEST_CASE(
    "ops store: the ingest connection never checkpoints in its commits, checkpoint() on another "
    "does, and the WAL is then reused",
    "[ops]") {
  TestDb db;
  auto a = add_device(*db.admin, "dev-a");
  auto writer = open_sqlite(db.path, SqliteTuning::ingest);
  auto checkpointer = open_sqlite(db.path, SqliteTuning::background);
  const std::string wal = db.path + "-wal";
  namespace fs = std::filesystem;
  // SQLite's default would checkpoint after 1,000 pages (4 MiB), the setting
  // before this after 10,000 (40 MiB); 120,000 rows of ~450 bytes are well
  // past both, and the database file stays as it was.
  const auto db_before = fs::file_size(db.path);
  const std::string payload = "{\"t\":1,\"pad\":\"" + std::string(400, 'x') + "\"}";
  for (int i = 0; i < 120; ++i) write_rows(*writer, a, "env", i * 1000, 1, 1000, payload);
  const auto wal_full = fs::file_size(wal);
  CHECK(wal_full > 48u * 1024 * 1024);
  CHECK(fs::file_size(db.path) == db_before);

  checkpointer->ops().checkpoint();
  CHECK(fs::file_size(db.path) > db_before + 48u * 1024 * 1024);
  // Everything was copied back: the next commits start the WAL over instead
  // of growing it.
  for (int i = 0; i < 10; ++i) write_rows(*writer, a, "env", 100000 + i * 1000, 1, 1000, payload);
  CHECK(fs::file_size(wal) == wal_full);
  CHECK(db.admin->telemetry().count() == 130000);
}

namespace {
// A writer that never pauses (batches of 100 rows, back to back) against
// checkpoint(bound) every 2 ms: the largest the WAL file grows.
std::uintmax_t wal_peak_under_load(std::int64_t bound_pages) {
  TestDb db;
  auto a = add_device(*db.admin, "dev-a");
  auto writer = open_sqlite(db.path, SqliteTuning::ingest);
  auto checkpointer = open_sqlite(db.path, SqliteTuning::background);
  const std::string payload = "{\"t\":1,\"pad\":\"" + std::string(400, 'x') + "\"}";
  std::atomic<bool> done{false};
  std::thread t([&] {
    for (int i = 0; i < 600; ++i) write_rows(*writer, a, "env", i * 100, 1, 100, payload);
    done = true;
  });
  std::uintmax_t peak = 0;
  std::error_code ec;
  while (!done) {
    checkpointer->ops().checkpoint(bound_pages);
    peak = std::max(peak, std::filesystem::file_size(db.path + "-wal", ec));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  t.join();
  CHECK(db.admin->telemetry().count() == 60000);
  return peak;
}
}  // namespace

TEST_CASE(
    "ops store: under a writer that never pauses, checkpoint() starts the WAL over once it "
    "passes its bound",
    "[ops]") {
  // 60,000 rows of ~450 bytes. Behind PASSIVE copies alone the log never
  // starts over in a plain build (44.6 MB, every frame written); bounded at
  // 512 pages (2 MiB) it peaked at 4.5-10.3 MB in six runs: the RESTART
  // waits for a gap between back-to-back commits.
  const auto unbounded = wal_peak_under_load(std::numeric_limits<std::int64_t>::max());
  const auto bounded = wal_peak_under_load(512);
  INFO("WAL peak: " << unbounded << " bytes with PASSIVE only, " << bounded << " bounded");
  CHECK(bounded < 20u * 1024 * 1024);
  // The contrast: a plain build's writer outpaces PASSIVE copies and the log
  // passes 32 MiB. A sanitizer build writes slowly enough for a copy to
  // catch up between commits at times (8.9 MB under ASan), so the contrast
  // is asserted only where the writer did outpace them.
  if (unbounded > 32u * 1024 * 1024) CHECK(bounded * 2 < unbounded);
}
