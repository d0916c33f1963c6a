// Zone versions and acknowledgements: which version comes next and which
// are pruned, what a device's config/status changes (an ack of an older
// version never marks a newer one applied), and the SQLite store that keeps
// them, as rs1ctl and the ingest writer use it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "features/zones/zones.hpp"
#include "store/sqlite_stores.hpp"
#include "unit_support.hpp"

using namespace rs1;
using rs1_test::RawDb;
using rs1_test::TestDb;

namespace {

ZoneAck ack(std::int64_t version, const std::string& status,
            std::optional<std::string> error = std::nullopt, std::int64_t at = 500) {
  return ZoneAck{"dev-a", version, status, std::move(error), at};
}

void write_acks(Database& db, std::vector<ZoneAck> acks) {
  WriteBatch batch;
  batch.zone_acks = std::move(acks);
  db.ingest().write_batch(batch);
}

std::vector<std::int64_t> versions_of(const std::vector<ZoneVersion>& history) {
  std::vector<std::int64_t> out;
  for (const auto& v : history) out.push_back(v.version);
  return out;
}

const std::string kConfig = R"({"zones":[]})";
const std::string kOther = R"({"sensitivity":3,"zones":[]})";

}  // namespace

TEST_CASE("zones: versions count from 1 and the newest 10 are kept", "[zones]") {
  auto [desired, next, oldest] =
      GENERATE(table<std::optional<std::int64_t>, std::int64_t, std::int64_t>({
          {std::nullopt, 1, 1},
          {std::optional<std::int64_t>(1), 2, 1},
          {std::optional<std::int64_t>(9), 10, 1},
          {std::optional<std::int64_t>(10), 11, 2},
          {std::optional<std::int64_t>(41), 42, 33},
      }));
  CAPTURE(desired);
  ZoneVersionPlan plan = plan_next_version(desired);
  CHECK(plan.version == next);
  CHECK(plan.oldest_kept == oldest);
  CHECK(next - oldest + 1 <= kZoneVersionsKept);

  CHECK(zone_version_kept(12, 12));
  CHECK(zone_version_kept(3, 12));
  CHECK_FALSE(zone_version_kept(2, 12));
  CHECK_FALSE(zone_version_kept(13, 12));
  CHECK_FALSE(zone_version_kept(0, 5));
}

TEST_CASE("zones: what an acknowledgement changes", "[zones]") {
  struct Row {
    const char* what;
    ZoneAckState state;
    ZoneAck ack;
    bool record;
    std::optional<std::int64_t> applied;
    bool ignored;
  };
  const std::optional<std::int64_t> none;
  auto v = [](std::int64_t n) { return std::optional<std::int64_t>(n); };
  auto row = GENERATE_COPY(values<Row>({
      {"the desired version applied", {v(3), none, true}, ack(3, "applied"), true, v(3), false},
      {"the desired version rejected",
       {v(3), v(2), true},
       ack(3, "rejected", "bad"),
       true,
       none,
       false},
      {"an older version applied late never moves applied back",
       {v(3), v(3), true},
       ack(2, "applied"),
       true,
       none,
       false},
      {"an older version applied while a newer waits",
       {v(3), v(1), true},
       ack(2, "applied"),
       true,
       v(2),
       false},
      {"an older version rejected late is history only",
       {v(3), v(3), true},
       ack(1, "rejected"),
       true,
       none,
       false},
      {"the applied version reported rejected is ignored",
       {v(3), v(3), true},
       ack(3, "rejected"),
       false,
       none,
       true},
      {"a version never sent is ignored",
       {v(3), none, false},
       ack(4, "applied"),
       false,
       none,
       true},
      {"no config at all", {none, none, false}, ack(1, "applied"), false, none, true},
      {"a pruned version applied still moves applied forward",
       {v(15), v(2), false},
       ack(4, "applied"),
       false,
       v(4),
       false},
      {"a pruned version rejected changes nothing",
       {v(15), v(2), false},
       ack(4, "rejected"),
       false,
       none,
       true},
  }));
  CAPTURE(row.what);
  ZoneAckEffect effect = decide_zone_ack(row.state, row.ack);
  CHECK(effect.record_on_version == row.record);
  CHECK(effect.applied_version == row.applied);
  CHECK(effect.ignored.has_value() == row.ignored);
}

TEST_CASE("zones: a report settles only the very version the broker owes", "[zones]") {
  CHECK(zone_ack_settles(3, ConfigStatusReport{3, "applied", std::nullopt}));
  CHECK(zone_ack_settles(3, ConfigStatusReport{3, "rejected", std::string("no")}));
  CHECK_FALSE(zone_ack_settles(3, ConfigStatusReport{2, "applied", std::nullopt}));
  CHECK_FALSE(zone_ack_settles(3, ConfigStatusReport{4, "applied", std::nullopt}));
}

TEST_CASE("zones: a device's error is kept to 1 KiB on a character boundary", "[zones]") {
  std::string long_error;
  for (int i = 0; i < 600; ++i) long_error += "é";  // 2 bytes each
  ZoneAck a = zone_ack_of("dev-a", ConfigStatusReport{1, "rejected", "x" + long_error}, 7);
  REQUIRE(a.error);
  CHECK(a.error->size() == 1023);  // "x" and 511 whole characters
  CHECK(a.device_id == "dev-a");
  CHECK(a.at_s == 7);
  CHECK(zone_update_payload(4, kConfig) == R"({"version":4,"config":{"zones":[]}})");
}

TEST_CASE("zones store: set, show, history, pruning and rollback", "[zones][store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-a", std::nullopt, "hash", 100);

  auto summary = s.zones().summary("dev-a");
  REQUIRE(summary);
  CHECK_FALSE(summary->desired_version);
  CHECK_FALSE(summary->status);
  CHECK_FALSE(s.zones().summary("nobody"));
  CHECK_FALSE(s.zones().history("nobody"));
  CHECK_FALSE(s.zones().desired("dev-a"));

  CHECK(s.zones().add_version("dev-a", kConfig, 200).version == 1);
  CHECK(s.zones().add_version("dev-a", kOther, 201).version == 2);
  summary = s.zones().summary("dev-a");
  CHECK(summary->desired_version == std::optional<std::int64_t>(2));
  CHECK(summary->status == std::optional<std::string>("pending"));
  CHECK(summary->config == std::optional<std::string>(kOther));
  CHECK_FALSE(summary->applied_version);

  for (int i = 3; i <= 12; ++i) s.zones().add_version("dev-a", kConfig, 200 + i);
  auto history = s.zones().history("dev-a");
  REQUIRE(history);
  CHECK(versions_of(*history) == std::vector<std::int64_t>{12, 11, 10, 9, 8, 7, 6, 5, 4, 3});

  // Rollback stores the old config as a new version; a pruned one is refused.
  ZoneVersion rb = s.zones().roll_back("dev-a", 3, 300);
  CHECK(rb.version == 13);
  CHECK(rb.rollback_of == std::optional<std::int64_t>(3));
  CHECK(s.zones().summary("dev-a")->config == std::optional<std::string>(kConfig));
  try {
    s.zones().roll_back("dev-a", 3, 301);  // pruned by the rollback itself
    FAIL("a pruned version was rolled back to");
  } catch (const StoreError& e) {
    CHECK(e.kind() == StoreError::Kind::conflict);
    CHECK(std::string(e.what()) ==
          "zone version 3 of dev-a is no longer kept (the newest 10 are kept: 4..13)");
  }
  CHECK_THROWS_AS(s.zones().roll_back("dev-a", 14, 301), StoreError);
  CHECK_THROWS_AS(s.zones().roll_back("nobody", 1, 301), StoreError);
  CHECK_THROWS_AS(s.zones().add_version("nobody", kConfig, 301), StoreError);
  CHECK(s.zones().history("dev-a")->size() == 10);
  CHECK(s.zones().summary("dev-a")->desired_version == std::optional<std::int64_t>(13));

  // The conditional add stores only over the expected version.
  CHECK_FALSE(s.zones().add_version_if("dev-a", 12, kOther, 302));
  CHECK_FALSE(s.zones().add_version_if("dev-a", 0, kOther, 302));
  auto added = s.zones().add_version_if("dev-a", 13, kOther, 302);
  REQUIRE(added);
  CHECK(added->version == 14);
  CHECK(s.zones().summary("dev-a")->config == std::optional<std::string>(kOther));
  CHECK_FALSE(s.zones().add_version_if("dev-a", 13, kConfig, 303));
  CHECK_THROWS_AS(s.zones().add_version_if("nobody", 0, kConfig, 303), StoreError);
  s.devices().add_one("dev-b", std::nullopt, "hash", 100);
  CHECK_FALSE(s.zones().add_version_if("dev-b", 1, kConfig, 303));
  CHECK(s.zones().add_version_if("dev-b", 0, kConfig, 303)->version == 1);
}

TEST_CASE("zones store: acknowledgements through the writer's batch", "[zones][store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-a", std::nullopt, "hash", 100);
  s.zones().add_version("dev-a", kConfig, 200);
  s.zones().add_version("dev-a", kOther, 201);
  CHECK(s.zones().pending().size() == 1);

  write_acks(s, {ack(2, "applied", std::nullopt, 300)});
  auto summary = s.zones().summary("dev-a");
  CHECK(summary->applied_version == std::optional<std::int64_t>(2));
  CHECK(summary->status == std::optional<std::string>("applied"));
  CHECK(s.zones().pending().empty());
  CHECK(s.zones().desired("dev-a")->status == "applied");

  // A late ack of version 1 is history, never the applied version.
  write_acks(s, {ack(1, "applied", std::nullopt, 301)});
  summary = s.zones().summary("dev-a");
  CHECK(summary->applied_version == std::optional<std::int64_t>(2));
  CHECK(s.zones().history("dev-a")->back().status == "applied");

  s.zones().add_version("dev-a", kConfig, 400);
  write_acks(s, {ack(3, "rejected", std::string("zone 1 too small"), 401), ack(9, "applied")});
  summary = s.zones().summary("dev-a");
  CHECK(summary->desired_version == std::optional<std::int64_t>(3));
  CHECK(summary->applied_version == std::optional<std::int64_t>(2));
  CHECK(summary->status == std::optional<std::string>("rejected"));
  auto newest = s.zones().history("dev-a")->front();
  CHECK(newest.error == std::optional<std::string>("zone 1 too small"));
  CHECK(newest.acked_at == std::optional<std::int64_t>(401));

  // An ack for a device without zones, or deleted, changes nothing and fails nothing.
  s.devices().add_one("dev-b", std::nullopt, "hash", 100);
  write_acks(s, {ZoneAck{"dev-b", 1, "applied", std::nullopt, 5},
                 ZoneAck{"gone", 1, "applied", std::nullopt, 5}});
  CHECK_FALSE(s.zones().summary("dev-b")->applied_version);
}

TEST_CASE("zones store: a new desired version reaches the change feed, acks and deletes do not",
          "[zones][store]") {
  TestDb db;
  Database& s = *db.admin;
  s.devices().add_one("dev-a", std::nullopt, "hash", 100);
  const std::int64_t from = s.change_feed().latest_seq();
  s.zones().add_version("dev-a", kConfig, 200);
  s.zones().roll_back("dev-a", 1, 201);
  write_acks(s, {ack(2, "applied")});
  std::vector<std::string> keys;
  for (const auto& c : s.change_feed().since(from)) keys.push_back(c.entity + ":" + c.key);
  CHECK(keys == std::vector<std::string>{"zone:dev-a", "zone:dev-a"});

  // Deleting the device deletes its zones with it.
  REQUIRE(s.devices().remove("dev-a"));
  RawDb raw(db.path);
  CHECK(raw.texts("SELECT count(*) FROM zone_versions", 0) == "0\n");
  CHECK(raw.texts("SELECT count(*) FROM zone_configs", 0) == "0\n");
  CHECK_FALSE(s.zones().summary("dev-a"));
}
