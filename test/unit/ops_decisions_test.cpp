// The pure decisions of the operations jobs, with time as a parameter: which
// hours are aggregated (catch-up, the open hour, the cap), where the archive
// cut lies, day file and backup names, what retention deletes, when a backup
// is due at start, and the health verdicts.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/time_parse.hpp"
#include "features/ops/ops.hpp"
#include "unit_support.hpp"

using namespace rs1;
using rs1_test::at;

namespace {

}  // namespace

TEST_CASE("ops: hours to aggregate", "[ops]") {
  using V = std::vector<std::int64_t>;
  const std::int64_t now = at("2026-03-10T12:30:00Z");
  // Nothing stored: nothing to do.
  CHECK(hours_to_aggregate(std::nullopt, std::nullopt, now, 48).empty());
  // Never aggregated: from the hour of the oldest row up to the last complete one.
  CHECK(hours_to_aggregate(std::nullopt, at("2026-03-10T09:59:59Z"), now, 48) ==
        V{at("2026-03-10T09:00:00Z"), at("2026-03-10T10:00:00Z"), at("2026-03-10T11:00:00Z")});
  // Done through 11:00: only 11:00-12:00 is left; the open hour 12:00 never is.
  CHECK(hours_to_aggregate(at("2026-03-10T11:00:00Z"), at("2026-03-01T00:00:00Z"), now, 48) ==
        V{at("2026-03-10T11:00:00Z")});
  CHECK(
      hours_to_aggregate(at("2026-03-10T12:00:00Z"), at("2026-03-01T00:00:00Z"), now, 48).empty());
  // At exactly 12:00:00 the hour 11:00 is complete.
  CHECK(hours_to_aggregate(at("2026-03-10T11:00:00Z"), at("2026-03-01T00:00:00Z"),
                           at("2026-03-10T12:00:00Z"), 48) == V{at("2026-03-10T11:00:00Z")});
  // Three days down: catches up, capped per call, oldest first.
  auto hours = hours_to_aggregate(at("2026-03-07T12:00:00Z"), at("2026-03-01T00:00:00Z"), now, 48);
  REQUIRE(hours.size() == 48);
  CHECK(hours.front() == at("2026-03-07T12:00:00Z"));
  CHECK(hours.back() == at("2026-03-09T11:00:00Z"));
  CHECK(hours_to_aggregate(at("2026-03-07T12:00:00Z"), at("2026-03-01T00:00:00Z"), now, 1000)
            .size() == 72);
  // Rows older than the progress mark (none can be) never send it backwards.
  CHECK(
      hours_to_aggregate(at("2026-03-10T12:00:00Z"), at("2026-03-10T08:00:00Z"), now, 48).empty());
}

TEST_CASE("ops: the archive cut", "[ops]") {
  const std::int64_t now = at("2026-03-31T10:00:00Z");
  CHECK(archive_cutoff_ms(now, 30, at("2026-03-31T10:00:00Z")) == at("2026-03-01T10:00:00Z"));
  // An hour not aggregated yet stays in the database.
  CHECK(archive_cutoff_ms(now, 30, at("2026-02-20T00:00:00Z")) == at("2026-02-20T00:00:00Z"));
  CHECK(archive_cutoff_ms(now, 30, std::nullopt) <= 0);
  CHECK(archive_cutoff_ms(now, 1, now) == at("2026-03-30T10:00:00Z"));
}

TEST_CASE("ops: archive day file names", "[ops]") {
  auto [ms, path] = GENERATE(table<std::int64_t, std::string>({
      {0, "1970/01/01.ndjson.gz"},
      {1767225599999, "2025/12/31.ndjson.gz"},
      {1767225600000, "2026/01/01.ndjson.gz"},
      {1709164800000, "2024/02/29.ndjson.gz"},
  }));
  CAPTURE(ms, path);
  CHECK(archive_relative_path(ms) == path);
  CHECK(archive_day_of(path) == day_floor(ms));
}

TEST_CASE("ops: names that are not archive day files", "[ops]") {
  auto name = GENERATE(as<std::string>{}, "2026/02/30.ndjson.gz", "2026/13/01.ndjson.gz",
                       "2026/1/01.ndjson.gz", "2026/01/01.ndjson", "2026/01/01.ndjson.gz.tmp",
                       "../../01/01.ndjson.gz", "2026-01-01.ndjson.gz", "abcd/01/01.ndjson.gz", "");
  CAPTURE(name);
  CHECK_FALSE(archive_day_of(name));
}

TEST_CASE("ops: archive retention and the files a query reads", "[ops]") {
  std::vector<std::string> files = {"2025/03/01.ndjson.gz", "2025/03/02.ndjson.gz",
                                    "2025/03/03.ndjson.gz", "notes.txt", "2026/03/01.ndjson.gz"};
  // 365 days before 2026-03-02T12:00 is 2025-03-02T12:00: only days ended by then go.
  CHECK(archive_files_to_delete(files, at("2026-03-02T12:00:00Z"), 365) ==
        std::vector<std::string>{"2025/03/01.ndjson.gz"});
  CHECK(archive_files_to_delete(files, at("2026-03-03T00:00:00Z"), 365) ==
        std::vector<std::string>{"2025/03/01.ndjson.gz", "2025/03/02.ndjson.gz"});
  CHECK(archive_files_to_delete(files, at("2025-03-04T00:00:00Z"), 365).empty());

  CHECK(archive_files_for_window(files, at("2025-03-02T23:59:59Z"), at("2025-03-03T00:00:00Z")) ==
        std::vector<std::string>{"2025/03/02.ndjson.gz", "2025/03/03.ndjson.gz"});
  CHECK(archive_files_for_window(files, std::nullopt, at("2025-03-01T10:00:00Z")) ==
        std::vector<std::string>{"2025/03/01.ndjson.gz"});
  CHECK(archive_files_for_window(files, at("2026-01-01T00:00:00Z"), std::nullopt) ==
        std::vector<std::string>{"2026/03/01.ndjson.gz"});
}

TEST_CASE("ops: backup names, retention and the backup at start", "[ops]") {
  CHECK(backup_file_name(at("2026-03-10T03:00:00Z")) == "2026-03-10.sqlite");
  CHECK(backup_day_of("2026-03-10.sqlite") == at("2026-03-10T00:00:00Z"));
  CHECK_FALSE(backup_day_of(".2026-03-10.sqlite.tmp-12"));
  CHECK_FALSE(backup_day_of("2026-02-30.sqlite"));

  std::vector<std::string> names = {"2026-02-08.sqlite", "2026-02-09.sqlite", "2026-03-10.sqlite",
                                    "keep-me.sqlite"};
  // 30 days before 2026-03-10 is 2026-02-08: that day is still kept.
  CHECK(backups_to_delete(names, at("2026-03-10T03:00:00Z"), 30).empty());
  CHECK(backups_to_delete(names, at("2026-03-11T00:00:00Z"), 30) ==
        std::vector<std::string>{"2026-02-08.sqlite"});
  CHECK(backups_to_delete(names, at("2026-03-12T00:00:00Z"), 30) ==
        std::vector<std::string>{"2026-02-08.sqlite", "2026-02-09.sqlite"});

  const std::int64_t now = at("2026-03-10T12:00:00Z");
  CHECK(backup_due_at_start(std::nullopt, now));
  CHECK_FALSE(backup_due_at_start(now - 26 * kOpsHourMs, now));
  CHECK(backup_due_at_start(now - 26 * kOpsHourMs - 1, now));
}

TEST_CASE("ops: health verdicts", "[ops]") {
  const std::int64_t now = at("2026-03-10T12:00:00Z");
  HealthInputs in;
  in.now_ms = now;
  in.database_ok = true;
  Heartbeat hb;
  hb.time_ms = now - 4000;
  hb.pid = 42;
  hb.queue_depth = 10;
  hb.queue_max = 1000;
  hb.last_commit_ms = now - 4100;
  in.heartbeat = hb;
  in.newest_backup_ms = now - 3 * kOpsHourMs;
  in.free_bytes = 50;
  in.total_bytes = 100;
  in.signing_key_readable = true;

  auto names = [](const std::vector<HealthVerdict>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) out.push_back(c.name);
    return out;
  };
  auto failing = [](const std::vector<HealthVerdict>& v) {
    std::vector<std::string> out;
    for (const auto& c : v)
      if (!c.ok) out.push_back(c.name);
    return out;
  };
  using S = std::vector<std::string>;
  auto all = health_verdicts(in);
  CHECK(names(all) ==
        S{"database", "broker", "writer", "backup", "disk", "signing_key", "archive"});
  CHECK(failing(all).empty());
  CHECK(all_ok(all));

  SECTION("a corrupt database") {
    in.database_ok = false;
    in.database_detail = "quick_check: *** in database main ***";
    CHECK(failing(health_verdicts(in)) == S{"database"});
  }
  SECTION("no broker, or one long gone") {
    in.heartbeat.reset();
    CHECK(failing(health_verdicts(in)) == S{"broker", "writer"});
    in.heartbeat = hb;
    in.heartbeat->time_ms = now - kHeartbeatMaxAgeMs - 1;
    CHECK(failing(health_verdicts(in)) == S{"broker", "writer"});
  }
  SECTION("the broker serves a file that is no longer at db_path") {
    in.heartbeat->same_file = false;
    CHECK(failing(health_verdicts(in)) == S{"broker"});
  }
  SECTION("a writer behind: rows waiting and no commit for long, or the queue nearly full") {
    in.heartbeat->last_commit_ms = hb.time_ms - kWriterStallMs - 1;
    CHECK(failing(health_verdicts(in)) == S{"writer"});
    in.heartbeat->queue_depth = 0;  // idle, nothing to commit: fine
    CHECK(failing(health_verdicts(in)).empty());
    in.heartbeat->last_commit_ms = hb.last_commit_ms;
    in.heartbeat->queue_depth = 900;
    CHECK(failing(health_verdicts(in)) == S{"writer"});
    in.heartbeat->queue_depth = 899;
    CHECK(failing(health_verdicts(in)).empty());
  }
  SECTION("an old backup, or none") {
    in.newest_backup_ms = now - 26 * kOpsHourMs - 1;
    CHECK(failing(health_verdicts(in)) == S{"backup"});
    in.newest_backup_ms.reset();
    CHECK(failing(health_verdicts(in)) == S{"backup"});
  }
  SECTION("disk at 10 % free or less") {
    in.free_bytes = 10;
    CHECK(failing(health_verdicts(in)) == S{"disk"});
    in.free_bytes = 11;
    CHECK(failing(health_verdicts(in)).empty());
  }
  SECTION("signing key and archive") {
    in.signing_key_readable = false;
    in.archive_failure = "cannot write archive: No space left on device";
    auto v = health_verdicts(in);
    CHECK(failing(v) == S{"signing_key", "archive"});
    CHECK(v.back().detail.find("No space left") != std::string::npos);
  }
}
