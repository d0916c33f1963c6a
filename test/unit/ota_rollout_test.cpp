// The rollout engine (SPEC §7), with time as a parameter: every transition,
// the thresholds exactly at their boundaries, the rate, stages, devices
// coming later, retries, rollback, pause/resume/cancel, `all`, and a
// restart from what the engine persisted.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "features/ota/rollout.hpp"
#include "store/sqlite.hpp"
#include "unit_support.hpp"

using namespace rs1;
using S = DeviceOtaStatus;

namespace {

std::string dev(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "d%03d", i);
  return buf;
}

Rollout make_rollout(int devices, RolloutPolicy policy = {}, std::int64_t id = 1) {
  Rollout r;
  r.id = id;
  r.version = "2.0.0";
  r.sha256 = std::string(64, 'a');
  r.size = 1000;
  r.policy = policy;
  for (int i = 0; i < devices; ++i) {
    RolloutDevice d;
    d.device_id = dev(i);
    d.firmware_version = "1.0.0";
    r.devices.push_back(d);
  }
  return r;
}

RolloutPolicy fast(std::vector<int> stages = {100}) {
  RolloutPolicy p;
  p.stages = std::move(stages);
  p.max_per_minute = 60000;  // 1000 a second: never the limit unless a test says so
  p.min_finished = 5;
  p.max_failure_rate = 0.2;
  return p;
}

OtaStatusReport report(const std::string& status, std::string version = "2.0.0",
                       std::int64_t rollout = 1) {
  OtaStatusReport r;
  r.rollout_id = rollout;
  r.version = std::move(version);
  r.status = status;
  if (status == "failed") r.error = "flash write failed";
  return r;
}

// The engine with a clock, the set of subscribed devices, and every output.
struct Bench {
  RolloutEngine engine;
  std::int64_t now_ms = 1'000'000'000;
  std::set<std::string> ready;
  std::vector<TriggerOrder> triggers;
  std::vector<RolloutProgress> progress;
  std::vector<RolloutDeviceRow> rows;
  std::vector<std::string> log;

  void take(EngineOutput& out) {
    triggers.insert(triggers.end(), out.triggers.begin(), out.triggers.end());
    progress.insert(progress.end(), out.rollouts.begin(), out.rollouts.end());
    rows.insert(rows.end(), out.devices.begin(), out.devices.end());
    log.insert(log.end(), out.log.begin(), out.log.end());
  }
  void load(Rollout r) {
    EngineOutput out;
    engine.load(std::move(r), now_ms, out);
    take(out);
  }
  void tick(std::int64_t advance_ms = 0) {
    now_ms += advance_ms;
    EngineOutput out;
    engine.tick(
        now_ms, [&](const std::string& id) { return ready.count(id) != 0; }, out);
    take(out);
  }
  void all_ready(int n) {
    for (int i = 0; i < n; ++i) ready.insert(dev(i));
  }
  void status(const std::string& id, const OtaStatusReport& r) {
    EngineOutput out;
    engine.on_status(id, r, now_ms / 1000, out);
    take(out);
  }
  void state(const std::string& id, const std::string& version) {
    EngineOutput out;
    engine.on_state(id, version, now_ms / 1000, out);
    take(out);
  }
  // Everything triggered so far reports success on the target.
  void succeed_triggered() {
    for (const auto& t : take_triggers()) status(t.device_id, report("success"));
  }
  std::vector<TriggerOrder> take_triggers() {
    auto t = std::move(triggers);
    triggers.clear();
    return t;
  }
  const Rollout& r(std::int64_t id = 1) {
    const Rollout* found = engine.find(id);
    REQUIRE(found);
    return *found;
  }
  S status_of(int i, std::int64_t id = 1) {
    return r(id).devices[static_cast<std::size_t>(i)].status;
  }
  std::int64_t count(S s) { return count_statuses(r())[static_cast<std::size_t>(s)]; }
};

}  // namespace

TEST_CASE("ota engine: stage sizes are cumulative ceilings", "[ota]") {
  auto [pct, n, size] = GENERATE(table<int, std::size_t, std::size_t>({{10, 10, 1},
                                                                       {10, 11, 2},
                                                                       {10, 1, 1},
                                                                       {50, 3, 2},
                                                                       {100, 7, 7},
                                                                       {1, 10000, 100},
                                                                       {10, 0, 0}}));
  CAPTURE(pct, n);
  CHECK(stage_size(pct, n) == size);
}

TEST_CASE("ota engine: policies and stages that cannot run are refused", "[ota]") {
  CHECK(parse_stages("10,50,100") == std::vector<int>{10, 50, 100});
  CHECK_FALSE(parse_stages("10,,100"));
  CHECK_FALSE(parse_stages("10,x"));
  CHECK_FALSE(parse_stages(""));
  auto [stages, problem] = GENERATE(table<std::string, std::string>({
      {"10,50,100", ""},
      {"100", ""},
      {"50,50,100", "rise strictly"},
      {"10,50", "last stage must be 100"},
      {"0,100", "rise strictly"},
      {"101", "rise strictly"},
  }));
  CAPTURE(stages);
  RolloutPolicy p;
  p.stages = *parse_stages(stages);
  auto got = check_policy(p);
  if (problem.empty()) {
    CHECK_FALSE(got);
  } else {
    REQUIRE(got);
    CHECK_THAT(*got, Catch::Contains(problem));
  }
}

TEST_CASE("ota engine: a device goes triggered, in_progress, success", "[ota]") {
  Bench b;
  b.all_ready(1);
  b.load(make_rollout(1, fast()));
  b.tick();
  REQUIRE(b.triggers.size() == 1);
  CHECK(b.triggers[0].device_id == dev(0));
  CHECK(b.triggers[0].sha256 == std::string(64, 'a'));
  CHECK(b.status_of(0) == S::triggered);
  CHECK(b.r().devices[0].attempts == 1);
  for (const char* s : {"downloading", "verifying", "installing"}) {
    b.status(dev(0), report(s));
    CHECK(b.status_of(0) == S::in_progress);
  }
  b.status(dev(0), report("success"));
  // The last stage is done: the rollout completes and is let go.
  CHECK_FALSE(b.engine.find(1));
  REQUIRE_FALSE(b.progress.empty());
  CHECK(b.progress.back().state == RolloutState::completed);
  CHECK(b.rows.back().device.status == S::success);
}

TEST_CASE("ota engine: success only once the device runs the target version", "[ota]") {
  Bench b;
  b.all_ready(2);
  b.load(make_rollout(2, fast()));
  b.tick();
  // Reports success while its status still names the old version: wait for state.
  b.status(dev(0), report("success", "1.0.0"));
  CHECK(b.status_of(0) == S::in_progress);
  b.state(dev(0), "2.0.0");
  CHECK(b.status_of(0) == S::success);
  // Reports success, then comes back on the old version: rolled back.
  b.status(dev(1), report("success", "1.0.0"));
  b.state(dev(1), "1.0.0");
  CHECK(b.status_of(1) == S::failed);
  CHECK_THAT(*b.r().devices[1].error, Catch::Contains("rolled back"));
}

TEST_CASE("ota engine: back on the old version after success is a failure, and retried", "[ota]") {
  Bench b;
  b.all_ready(2);
  RolloutPolicy p = fast();
  p.retries = 1;
  b.load(make_rollout(2, p));
  b.tick();
  b.succeed_triggered();
  CHECK_FALSE(b.engine.find(1));  // completed
  // While running, a rollback is detected.
  Bench c;
  c.all_ready(2);
  RolloutPolicy q = fast({50, 100});
  c.load(make_rollout(2, q));
  c.tick();
  REQUIRE(c.take_triggers().size() == 1);
  c.status(dev(0), report("success"));
  CHECK(c.status_of(0) == S::success);
  c.tick();
  REQUIRE(c.take_triggers().size() == 1);  // stage 2
  c.state(dev(0), "1.0.0");
  CHECK(c.status_of(0) == S::failed);
  c.tick();
  auto again = c.take_triggers();
  REQUIRE(again.size() == 1);
  CHECK(again[0].device_id == dev(0));
  CHECK(c.r().devices[0].attempts == 2);
}

TEST_CASE("ota engine: devices already on the version are skipped", "[ota]") {
  Bench b;
  b.all_ready(3);
  Rollout r = make_rollout(3, fast());
  r.devices[1].firmware_version = "2.0.0";
  b.load(r);
  CHECK(b.status_of(1) == S::skipped);
  b.tick();
  CHECK(b.triggers.size() == 2);
  // A device reporting the version before its trigger went out is skipped too.
  Bench c;
  c.load(make_rollout(1, fast()));
  c.state(dev(0), "2.0.0");
  CHECK_FALSE(c.engine.find(1));  // its only device skipped: completed
}

TEST_CASE("ota engine: stages are cumulative, the next starts when all of one finished", "[ota]") {
  Bench b;
  b.all_ready(10);
  b.load(make_rollout(10, fast({10, 50, 100})));
  b.tick();
  auto first = b.take_triggers();
  REQUIRE(first.size() == 1);
  CHECK(b.r().stage == 0);
  b.status(first[0].device_id, report("downloading"));
  b.tick();
  CHECK(b.take_triggers().empty());  // not finished yet
  b.status(first[0].device_id, report("success"));
  CHECK(b.r().stage == 1);
  b.tick();
  auto second = b.take_triggers();
  CHECK(second.size() == 4);  // 50% of 10 is 5, one done
  for (auto& t : second) b.status(t.device_id, report("success"));
  CHECK(b.r().stage == 2);
  b.tick();
  CHECK(b.take_triggers().size() == 5);
}

TEST_CASE("ota engine: a device that comes later is triggered when it subscribes", "[ota]") {
  Bench b;
  b.load(make_rollout(2, fast()));
  b.ready.insert(dev(0));
  b.tick();
  REQUIRE(b.take_triggers().size() == 1);
  CHECK(b.status_of(1) == S::pending);
  b.tick(60'000);
  CHECK(b.take_triggers().empty());
  b.ready.insert(dev(1));
  b.engine.device_ready(dev(1));
  b.tick();
  auto later = b.take_triggers();
  REQUIRE(later.size() == 1);
  CHECK(later[0].device_id == dev(1));
}

TEST_CASE("ota engine: the rate is a smooth token bucket", "[ota]") {
  Bench b;
  b.all_ready(1000);
  RolloutPolicy p = fast();
  p.max_per_minute = 120;  // 2 a second, a bucket of 2
  b.load(make_rollout(1000, p));
  b.tick();
  CHECK(b.take_triggers().size() == 2);
  b.tick(250);
  CHECK(b.take_triggers().empty());  // half a token
  b.tick(250);
  CHECK(b.take_triggers().size() == 1);
  b.tick(10'000);  // idle for 10 s: the bucket holds 2, not 20
  CHECK(b.take_triggers().size() == 2);
  std::size_t in_a_minute = 0;
  for (int i = 0; i < 600; ++i) {
    b.tick(100);
    in_a_minute += b.take_triggers().size();
  }
  CHECK(in_a_minute == 120);
}

TEST_CASE("ota engine: one tick sends at most max_triggers, the rest follow", "[ota]") {
  Bench b;
  b.all_ready(1200);
  b.load(make_rollout(1200, fast()));  // 1,000 tokens a second: the rate is not the limit
  std::vector<std::size_t> per_tick;
  std::set<std::string> triggered;
  for (int i = 0; i < 4; ++i) {
    EngineOutput out;
    b.engine.tick(
        b.now_ms, [&](const std::string& id) { return b.ready.count(id) != 0; }, out, 400);
    per_tick.push_back(out.triggers.size());
    for (const auto& t : out.triggers) triggered.insert(t.device_id);
    b.now_ms += 400;  // 400 more tokens
  }
  CHECK(per_tick == std::vector<std::size_t>{400, 400, 400, 0});
  CHECK(triggered.size() == 1200);  // each once, none lost between ticks
}

TEST_CASE("ota engine: failed and timed out devices are retried, then finished", "[ota]") {
  Bench b;
  b.all_ready(1);
  RolloutPolicy p = fast();
  p.retries = 1;
  p.timeout_min = 10;
  p.max_failure_rate = 1;  // no auto-pause here
  b.load(make_rollout(1, p));
  b.tick();
  REQUIRE(b.take_triggers().size() == 1);
  b.status(dev(0), report("failed"));
  CHECK(b.status_of(0) == S::failed);
  CHECK(*b.r().devices[0].error == "flash write failed");
  b.tick();
  REQUIRE(b.take_triggers().size() == 1);  // the retry
  CHECK(b.r().devices[0].attempts == 2);
  b.status(dev(0), report("downloading"));
  b.tick(10 * 60 * 1000 - 1000);
  CHECK(b.status_of(0) == S::in_progress);  // one second short of the timeout
  b.tick(1000);
  // Timed out after its last retry: finished, and the stage with it.
  if (b.engine.find(1)) {
    CAPTURE(status_name(b.status_of(0)), b.r().devices[0].attempts, state_name(b.r().state));
    FAIL("still held");
  }
  CHECK(b.rows.back().device.status == S::timed_out);
  CHECK(b.take_triggers().empty());
}

TEST_CASE("ota engine: auto-pause exactly past the failure rate once enough finished", "[ota]") {
  // 10 devices, min_finished 5, max 0.2: 1 failure of 5 is 0.2 (not past),
  // 2 of 5 is 0.4 (past), but only counted once 5 have finished.
  auto [fails, successes, paused] = GENERATE(table<int, int, bool>({
      {1, 4, false},  // 0.2: at the boundary, goes on
      {2, 3, true},   // 0.4
      {2, 2, false},  // 4 finished: fewer than min_finished
      {1, 3, false},
  }));
  CAPTURE(fails, successes);
  Bench b;
  b.all_ready(10);
  RolloutPolicy p = fast();
  p.retries = 0;
  b.load(make_rollout(10, p));
  b.tick();
  REQUIRE(b.take_triggers().size() == 10);
  int i = 0;
  for (int k = 0; k < successes; ++k) b.status(dev(i++), report("success"));
  for (int k = 0; k < fails; ++k) b.status(dev(i++), report("failed"));
  CHECK((b.r().state == RolloutState::paused) == paused);
  if (paused) {
    REQUIRE(b.r().reason);
    CHECK_THAT(*b.r().reason, Catch::Contains("40.0%") && Catch::Contains("2 of 5"));
  }
}

TEST_CASE("ota engine: min_finished is capped at the set's size", "[ota]") {
  Bench b;
  b.all_ready(2);
  RolloutPolicy p = fast();
  p.retries = 0;
  p.min_finished = 5;
  p.max_failure_rate = 0.4;
  b.load(make_rollout(2, p));
  b.tick();
  b.status(dev(0), report("failed"));
  // 1 of 1 finished, but the set is 2: not yet.
  CHECK(b.r().state == RolloutState::running);
  b.status(dev(1), report("success"));
  // The rollout's last stage is finished too: completes (0.5 > 0.4 paused it first?)
  CHECK(b.progress.size() >= 1);
  bool paused = false;
  for (auto& pr : b.progress) paused = paused || pr.state == RolloutState::paused;
  CHECK_FALSE(paused);  // the failure came first, when 1 < min(5, 2) had finished
}

TEST_CASE("ota engine: paused triggers nothing, resume goes on, cancel stops for good", "[ota]") {
  Bench b;
  b.all_ready(20);
  RolloutPolicy p = fast();
  p.max_per_minute = 60;  // 1 a second
  b.load(make_rollout(20, p));
  b.tick();
  CHECK(b.take_triggers().size() == 1);
  Rollout paused = b.r();
  paused.state = RolloutState::paused;
  paused.reason = "paused by an operator";
  paused.revision = 2;
  b.load(paused);
  CHECK(b.r().state == RolloutState::paused);
  b.tick(5000);
  CHECK(b.take_triggers().empty());
  // The same revision again changes nothing (an echo of our own write).
  Rollout running = b.r();
  running.state = RolloutState::running;
  b.load(running);
  CHECK(b.r().state == RolloutState::paused);
  running.revision = 3;
  running.reason.reset();
  b.load(running);
  b.tick(1000);
  CHECK(b.take_triggers().size() == 1);
  Rollout cancelled = b.r();
  cancelled.state = RolloutState::cancelled;
  cancelled.revision = 4;
  b.load(cancelled);
  CHECK_FALSE(b.engine.find(1));
  b.tick(60'000);
  CHECK(b.take_triggers().empty());
  // Its devices are free for another rollout.
  b.load(make_rollout(20, fast(), 2));
  b.tick();
  CHECK(b.take_triggers().size() == 20);
}

TEST_CASE("ota engine: --all takes in devices provisioned while it runs", "[ota]") {
  Bench b;
  b.all_ready(3);
  Rollout r = make_rollout(2, fast());
  r.all = true;
  b.load(r);
  b.tick();
  CHECK(b.take_triggers().size() == 2);
  EngineOutput out;
  b.engine.on_provisioned(dev(2), b.now_ms / 1000, out);
  b.take(out);
  REQUIRE(b.r().devices.size() == 3);
  b.tick();
  auto t = b.take_triggers();
  REQUIRE(t.size() == 1);
  CHECK(t[0].device_id == dev(2));
  // A rollout with its own device list takes nobody in.
  Bench c;
  c.load(make_rollout(1, fast()));
  EngineOutput out2;
  c.engine.on_provisioned(dev(5), c.now_ms / 1000, out2);
  CHECK(c.r().devices.size() == 1);
}

TEST_CASE("ota engine: after a load, --all takes in every device it does not hold yet", "[ota]") {
  // At a restart the broker hands over every provisioned device: those the
  // rollout holds stay as they are, the others join it (last, pending).
  Bench b;
  b.all_ready(4);
  Rollout r = make_rollout(2, fast());
  r.all = true;
  r.devices[0].status = S::success;
  r.devices[0].attempts = 1;
  b.load(r);
  CHECK(b.engine.holds_all());
  EngineOutput out;
  b.engine.take_in({dev(0), dev(1), dev(2), dev(3)}, b.now_ms / 1000, out);
  b.take(out);
  REQUIRE(b.r().devices.size() == 4);
  CHECK(b.status_of(0) == S::success);
  CHECK(b.r().devices[2].device_id == dev(2));
  CHECK(b.r().devices[3].device_id == dev(3));
  std::set<std::string> inserted;
  for (const auto& row : b.rows) inserted.insert(row.device.device_id);
  CHECK(inserted == std::set<std::string>{dev(2), dev(3)});  // persisted, the old ones untouched
  b.tick();
  std::set<std::string> triggered;
  for (const auto& t : b.take_triggers()) triggered.insert(t.device_id);
  CHECK(triggered == std::set<std::string>{dev(1), dev(2), dev(3)});
  // A second hand-over changes nothing.
  EngineOutput again;
  b.engine.take_in({dev(0), dev(1), dev(2), dev(3)}, b.now_ms / 1000, again);
  CHECK(again.devices.empty());
  CHECK(b.r().devices.size() == 4);
  // Without an --all rollout nobody is taken in.
  Bench c;
  c.load(make_rollout(1, fast()));
  CHECK_FALSE(c.engine.holds_all());
  EngineOutput none;
  c.engine.take_in({dev(0), dev(7)}, c.now_ms / 1000, none);
  CHECK(c.r().devices.size() == 1);
  CHECK(none.empty());
}

TEST_CASE("ota engine: after a load, devices deleted meanwhile no longer hold a rollout up",
          "[ota]") {
  // At a restart the broker lists the devices the engine holds and hands
  // those no longer provisioned to on_removed, as a deletion while it runs.
  Bench b;
  b.all_ready(6);
  Rollout one = make_rollout(4, fast({50, 100}), 1);
  one.devices[0].status = S::success;
  one.devices[0].attempts = 1;
  one.devices[1].status = S::triggered;  // deleted before it answered
  one.devices[1].attempts = 1;
  one.devices[1].triggered_at = b.now_ms / 1000 - 10;
  b.load(one);
  // A second rollout: dev(3) is the first's, dev(4) and dev(5) its own.
  Rollout two = make_rollout(0, fast(), 2);
  for (int i : {3, 4, 5}) {
    RolloutDevice d;
    d.device_id = dev(i);
    two.devices.push_back(d);
  }
  two.state = RolloutState::paused;
  b.load(two);
  CHECK(b.engine.device_ids() ==
        std::vector<std::string>{dev(0), dev(1), dev(2), dev(3), dev(4), dev(5)});
  // The trigger that may not have gone out is sent again (the glue drops it
  // for a device that is gone).
  REQUIRE(b.take_triggers().size() == 1);

  // dev(3) (a later stage), dev(1) (in flight, the current stage), dev(0)
  // (finished) and dev(5) (a paused rollout) were deleted.
  b.rows.clear();
  for (int i : {3, 1, 0, 5}) {
    EngineOutput out;
    b.engine.on_removed(dev(i), b.now_ms / 1000, out);
    b.take(out);
  }
  CHECK(b.status_of(0) == S::success);  // finished: as it was
  for (int i : {1, 3}) {
    CAPTURE(i);
    CHECK(b.status_of(i) == S::skipped);
    CHECK(b.r().devices[static_cast<std::size_t>(i)].error ==
          std::optional<std::string>("device deleted"));
  }
  CHECK(b.status_of(1, 2) == S::skipped);  // dev(5), the second of rollout 2
  CHECK(b.r(2).state == RolloutState::paused);
  std::set<std::string> persisted;
  for (const auto& row : b.rows) persisted.insert(row.device.device_id);
  CHECK(persisted == std::set<std::string>{dev(1), dev(3), dev(5)});
  // Stage 1 is done without dev(1): stage 2 triggers dev(2) alone, and its
  // success completes the rollout.
  CHECK(b.r().stage == 1);
  b.tick();
  auto t = b.take_triggers();
  REQUIRE(t.size() == 1);
  CHECK(t[0].device_id == dev(2));
  b.status(dev(2), report("success"));
  CHECK_FALSE(b.engine.find(1));
  CHECK(b.engine.device_ids() == std::vector<std::string>{dev(4), dev(5)});
}

TEST_CASE("ota engine: a device is in one running rollout at most", "[ota]") {
  Bench b;
  b.all_ready(2);
  b.load(make_rollout(2, fast({50, 100}), 1));
  b.load(make_rollout(2, fast(), 2));  // the same devices: it gets none of them
  b.tick();
  auto t = b.take_triggers();
  REQUIRE(t.size() == 1);
  CHECK(t[0].rollout_id == 1);
  // A report for the other rollout is ignored.
  b.status(t[0].device_id, report("success", "2.0.0", 2));
  CHECK(b.status_of(0) == S::triggered);
}

TEST_CASE("ota engine: a restart from the persisted rows carries on", "[ota]") {
  rs1_test::TestDb db;
  auto& store = *db.admin;
  // Devices and firmware, and a rollout as rs1ctl creates it.
  std::vector<NewDevice> devices;
  for (int i = 0; i < 10; ++i)
    devices.push_back(NewDevice{dev(i), std::nullopt, std::string(64, 'b')});
  store.devices().add(devices, 100);
  store.firmware().add(FirmwareRecord{"2.0.0", std::string(64, 'a'), 1000, 100});
  Rollout r = make_rollout(10, fast({50, 100}));
  r.id = 0;
  for (auto& d : r.devices) d.firmware_version.reset();
  r.policy.retries = 0;
  r.policy.min_finished = 100;
  r.created_at = 100;
  const std::int64_t id = store.rollouts().create(r);

  Bench before;
  before.all_ready(10);
  before.load(*store.rollouts().get(id));
  before.tick();
  auto t = before.take_triggers();
  REQUIRE(t.size() == 5);
  before.status(t[0].device_id, report("success"));
  before.status(t[1].device_id, report("failed"));
  before.status(t[2].device_id, report("downloading"));
  // What the ingest writer would commit.
  auto writer = rs1::open_sqlite(db.path, SqliteTuning::ingest);
  WriteBatch batch;
  batch.rollouts = before.progress;
  batch.rollout_devices = before.rows;
  writer->ingest().write_batch(batch);

  Bench after;
  after.now_ms = before.now_ms + 1000;
  after.all_ready(10);
  auto stored = store.rollouts().get(id);
  REQUIRE(stored);
  CHECK(count_statuses(*stored) == count_statuses(before.r(id)));
  after.load(*stored);
  // The two still triggered get their trigger again; nobody new, the stage is not done.
  auto resent = after.take_triggers();
  CHECK(resent.size() == 2);
  after.tick();
  CHECK(after.take_triggers().empty());
  CHECK(after.status_of(2, id) == S::in_progress);
  CHECK(after.r(id).devices[1].error == std::optional<std::string>("flash write failed"));
  for (int i : {2, 3, 4}) after.status(dev(i), report("success", "2.0.0", id));
  CHECK(after.r(id).stage == 1);
  after.tick();
  CHECK(after.take_triggers().size() == 5);
}

TEST_CASE("ota engine: the trigger payload is the SPEC's JSON, escaped", "[ota]") {
  TriggerOrder t{7, "dev-a", "2.0.0+b1", std::string(64, 'e'), 123456};
  auto url = GENERATE(as<std::string>{}, "http://h:8080/firmware/x?device=dev-a&sig=00",
                      "http://h/\"quoted\"\\back", std::string("ctl\x01\x1f") + "\xc3\xa9");
  CAPTURE(url);
  const auto j = nlohmann::json::parse(trigger_payload(t, url, 1700000000));
  CHECK(j == nlohmann::json{{"rollout_id", 7},
                            {"version", "2.0.0+b1"},
                            {"url", url},
                            {"sha256", std::string(64, 'e')},
                            {"size", 123456},
                            {"expires_at", 1700000000}});
}
