// The ingest writer on a real SQLite database: rows become visible within
// the flush interval, a full batch commits at once, stop() keeps every
// accepted row, the queue bound is what callers see, and a database that
// refuses writes is retried without losing anything.
#include "runtime/ingest_writer.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "unit_support.hpp"

using namespace rs1;
using namespace std::chrono_literals;
using rs1_test::eventually;
using rs1_test::RawDb;
using rs1_test::TestDb;

namespace {

// Collects what the writer logs, from its thread.
class LogCapture {
 public:
  LogSink sink() {
    return [this](LogLevel, const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    };
  }
  bool contains(const std::string& text) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& l : lines_) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::string all() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// A migrated database with two devices, the metrics and log a writer reports
// to, and a way to start one on its own connection as the broker does.
struct WriterSetup {
  TestDb db;
  MetricRegistry registry;
  IngestMetrics metrics{registry};
  LogCapture log;
  std::vector<std::unique_ptr<Database>> connections;  // outlive the writers
  std::int64_t dev_a = 0;
  std::int64_t dev_b = 0;

  WriterSetup() {
    db.admin->devices().add_one("dev-a", std::nullopt, "h", 1);
    db.admin->devices().add_one("dev-b", std::nullopt, "h", 1);
    dev_a = db.admin->devices().find_credentials("dev-a")->ref;
    dev_b = db.admin->devices().find_credentials("dev-b")->ref;
  }

  std::unique_ptr<IngestWriter> start(IngestWriter::Config config) {
    return start_on(ingest_connection(), config);
  }
  std::unique_ptr<IngestWriter> start_on(IngestStore& store, IngestWriter::Config config) {
    return std::make_unique<IngestWriter>(store, config, metrics, log.sink());
  }
  IngestStore& ingest_connection() {
    connections.push_back(open_sqlite(db.path, SqliteTuning::ingest));
    return connections.back()->ingest();
  }

  std::int64_t rows_in_db() { return RawDb(db.path).scalar("SELECT count(*) FROM telemetry"); }

  TelemetryRow row(std::int64_t i, std::int64_t ref = 0) const {
    return TelemetryRow{ref ? ref : dev_a, "temp", i, R"({"i":)" + std::to_string(i) + "}"};
  }
};

IngestWriter::Config config(std::chrono::milliseconds flush, std::size_t queue_max = 200000,
                            std::size_t batch_max = 10000) {
  IngestWriter::Config c;
  c.flush_interval = flush;
  c.queue_max = queue_max;
  c.batch_max = batch_max;
  return c;
}

// Holds SQLite's write lock from another connection until released, the way
// a long rs1ctl transaction or a stuck disk would.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) : db_(path) { db_.exec("BEGIN EXCLUSIVE"); }
  ~WriteLock() { release(); }
  void release() {
    if (held_) db_.exec("ROLLBACK");
    held_ = false;
  }

 private:
  RawDb db_;
  bool held_ = true;
};

// The writer's real store behind a gate: write_batch waits while the gate is
// closed (a disk that stalls without failing) and records what it was given.
class GatedStore : public IngestStore {
 public:
  explicit GatedStore(IngestStore& inner) : inner_(inner) {}
  void begin_serving(std::int64_t now_s) override { inner_.begin_serving(now_s); }
  void write_batch(const WriteBatch& batch) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    device_updates_seen_ += batch.devices.size();
    lock.unlock();
    inner_.write_batch(batch);
  }
  // True once the writer is inside write_batch `n` times.
  bool wait_entered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 20s, [&] { return entered_ >= n; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::size_t device_updates_seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return device_updates_seen_;
  }

 private:
  IngestStore& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int entered_ = 0;
  std::size_t device_updates_seen_ = 0;
};

DeviceUpdate presence(std::int64_t ref, bool online, std::int64_t last_seen) {
  DeviceUpdate u;
  u.device_ref = ref;
  u.last_seen = last_seen;
  u.online = online;
  return u;
}

DeviceUpdate state_update(std::int64_t ref, std::string state, std::int64_t last_seen) {
  DeviceUpdate u;
  u.device_ref = ref;
  u.last_seen = last_seen;
  u.state = std::move(state);
  return u;
}

}  // namespace

TEST_CASE("ingest: rows become visible within the flush interval", "[ingest]") {
  WriterSetup w;
  auto writer = w.start(config(100ms));
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) REQUIRE(writer->add(w.row(1000 + i)));
  DeviceUpdate state;
  state.device_ref = w.dev_b;
  state.last_seen = 77;
  state.state = R"({"version":"2.0.0"})";
  state.firmware_version = "2.0.0";
  REQUIRE(writer->add(std::move(state)));
  writer->add(SecurityEvent{"rate_limit_exceeded", "warning", "10.1.1.1", "{}", 77});

  // 100 ms plus generous slack for a loaded machine: the bound only says the
  // writer did not wait for a full batch or for stop().
  REQUIRE(eventually([&] { return w.rows_in_db() == 3; }, 5s));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  auto rows = w.db.admin->telemetry().query({});
  REQUIRE(rows.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(rows[i].device_id == "dev-a");
    CHECK(rows[i].metric == "temp");
    CHECK(rows[i].received_at_ms == 1000 + i);
    CHECK(rows[i].payload == R"({"i":)" + std::to_string(1000 + i) + "}");
  }
  // The same transaction carried the state and the event.
  auto dev = w.db.admin->devices().get("dev-b");
  CHECK(dev->state == std::optional<std::string>(R"({"version":"2.0.0"})"));
  CHECK(dev->firmware_version == std::optional<std::string>("2.0.0"));
  CHECK(dev->last_seen == std::optional<std::int64_t>(77));
  CHECK(w.db.admin->security_log().query({}).size() == 1);

  CHECK(eventually([&] { return writer->depth() == 0; }));
  CHECK(w.metrics.rows_written.load() == 3);
  CHECK(w.metrics.queue_depth.load() == 0);
  CHECK(w.metrics.write_failures.load() == 0);
  CHECK(writer->keeping_up());

  // And again after the queue ran dry: a later row is not stuck.
  REQUIRE(writer->add(w.row(2000)));
  CHECK(eventually([&] { return w.rows_in_db() == 4; }, 5s));
}

TEST_CASE("ingest: a full batch commits without waiting for the flush interval", "[ingest]") {
  WriterSetup w;
  // A flush interval far longer than the test: only a full batch (or stop)
  // can commit.
  auto writer = w.start(config(60s, 200000, 100));
  for (int i = 0; i < 100; ++i) REQUIRE(writer->add(w.row(i)));
  REQUIRE(eventually([&] { return w.rows_in_db() == 100; }));
  CHECK(eventually([&] { return writer->depth() == 0; }));

  // Fewer rows than a batch wait for the interval...
  for (int i = 100; i < 105; ++i) REQUIRE(writer->add(w.row(i)));
  std::this_thread::sleep_for(300ms);
  CHECK(w.rows_in_db() == 100);
  CHECK(writer->depth() == 5);

  // ...or for stop(), which does not wait the interval out.
  const auto t0 = std::chrono::steady_clock::now();
  writer->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 30s);
  CHECK(w.rows_in_db() == 105);
  CHECK(writer->depth() == 0);
  CHECK(w.metrics.rows_written.load() == 105);
}

TEST_CASE("ingest: stop commits every queued row", "[ingest]") {
  WriterSetup w;
  auto writer = w.start(IngestWriter::Config{});
  constexpr int kRows = 50000;
  int accepted = 0;
  for (int i = 0; i < kRows; ++i) accepted += writer->add(w.row(i, i % 2 ? w.dev_b : w.dev_a));
  REQUIRE(accepted == kRows);
  writer->stop();

  CHECK(w.rows_in_db() == kRows);
  CHECK(w.metrics.rows_written.load() == static_cast<std::uint64_t>(kRows));
  CHECK(w.metrics.rows_lost.load() == 0);
  CHECK(writer->depth() == 0);
  CHECK(w.metrics.queue_depth.load() == 0);
  // Every row intact, in order.
  RawDb raw(w.db.path);
  CHECK(raw.scalar("SELECT count(DISTINCT received_at_ms) FROM telemetry") == kRows);
  CHECK(raw.scalar("SELECT min(received_at_ms) FROM telemetry") == 0);
  CHECK(raw.scalar("SELECT max(received_at_ms) FROM telemetry") == kRows - 1);
  CHECK(raw.scalar("SELECT count(*) FROM telemetry WHERE payload <> "
                   "'{\"i\":' || received_at_ms || '}'") == 0);
  TelemetryQuery last;
  last.device_id = "dev-b";
  last.since_ms = kRows - 1;
  auto rows = w.db.admin->telemetry().query(last);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].payload == R"({"i":49999})");

  // Stopped: nothing more is taken, and stop() again is harmless.
  CHECK_FALSE(writer->add(w.row(kRows)));
  writer->stop();
  CHECK(w.rows_in_db() == kRows);
}

TEST_CASE("ingest: the queue bound is what callers see", "[ingest]") {
  WriterSetup w;
  // Nothing commits before stop(): a long interval and a batch above the bound.
  auto writer = w.start(config(60s, 10, 1000));
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    REQUIRE(writer->add(w.row(i)));
    CHECK(writer->depth() == static_cast<std::size_t>(i + 1));
  }
  CHECK(w.metrics.queue_depth.load() == 10);
  CHECK_FALSE(writer->add(w.row(10)));
  CHECK_FALSE(writer->add(w.row(11)));
  CHECK(writer->depth() == 10);

  // A state update counts against the bound...
  DeviceUpdate state;
  state.device_ref = w.dev_a;
  state.last_seen = 5;
  state.state = R"({"s":1})";
  CHECK_FALSE(writer->add(std::move(state)));
  // ...a presence change is always taken, and does not count.
  DeviceUpdate online;
  online.device_ref = w.dev_a;
  online.last_seen = 6;
  online.online = true;
  CHECK(writer->add(std::move(online)));
  DeviceUpdate offline;
  offline.device_ref = w.dev_b;
  offline.last_seen = 7;
  offline.online = false;
  CHECK(writer->add(std::move(offline)));
  CHECK(writer->depth() == 10);
  // Security events are taken too.
  writer->add(SecurityEvent{"auth_failure_repeated", "warning", "10.0.0.1", "{}", 8});

  writer->stop();
  CHECK(w.rows_in_db() == 10);
  CHECK(w.metrics.rows_written.load() == 10);
  auto a = w.db.admin->devices().get("dev-a");
  CHECK(a->online);
  CHECK_FALSE(a->state);  // the refused update never arrived
  CHECK(a->last_seen == std::optional<std::int64_t>(6));
  CHECK_FALSE(w.db.admin->devices().get("dev-b")->online);
  CHECK(w.db.admin->security_log().query({}).size() == 1);
  CHECK(writer->depth() == 0);
  CHECK(w.metrics.queue_depth.load() == 0);
}

TEST_CASE("ingest: the queue depth gauge follows the queue", "[ingest]") {
  // rs1_ingest_queue_depth counts rows and state updates waiting, like depth().
  WriterSetup w;
  auto writer = w.start(config(60s));
  REQUIRE(writer->add(w.row(1)));
  DeviceUpdate state;
  state.device_ref = w.dev_a;
  state.last_seen = 5;
  state.state = "{}";
  REQUIRE(writer->add(std::move(state)));
  CHECK(writer->depth() == 2);
  CHECK(w.metrics.queue_depth.load() == 2);
  writer->stop();
  CHECK(writer->depth() == 0);
  CHECK(w.metrics.queue_depth.load() == 0);
}

TEST_CASE("ingest: a refused write is retried until it succeeds, losing nothing", "[ingest]") {
  WriterSetup w;
  auto writer = w.start(config(50ms));
  WriteLock lock(w.db.path);
  for (int i = 0; i < 20; ++i) REQUIRE(writer->add(w.row(i)));

  // The writer's connection gives up waiting for the lock (its busy timeout)
  // and retries; health reports it.
  REQUIRE(eventually([&] { return w.metrics.write_failures.load() > 0; }, 60s));
  CHECK(eventually([&] { return !writer->keeping_up(); }));
  CHECK(w.log.contains("database write failed, will retry"));
  // Messages keep being accepted meanwhile.
  for (int i = 20; i < 40; ++i) REQUIRE(writer->add(w.row(i)));
  CHECK(w.rows_in_db() == 0);
  CHECK(writer->depth() == 40);

  lock.release();
  REQUIRE(eventually([&] { return w.rows_in_db() == 40; }, 60s));
  CHECK(eventually([&] { return writer->depth() == 0; }));
  CHECK(eventually([&] { return writer->keeping_up(); }));
  CHECK(w.metrics.write_failures.load() > 0);
  CHECK(w.metrics.rows_lost.load() == 0);
  CHECK(w.metrics.rows_written.load() == 40);
  CHECK(w.log.contains("database writes recovered"));
  CAPTURE(w.log.all());
  RawDb raw(w.db.path);
  CHECK(raw.scalar("SELECT count(DISTINCT received_at_ms) FROM telemetry") == 40);
  writer->stop();
  CHECK(w.rows_in_db() == 40);
}

TEST_CASE("ingest: at stop, rows a dead database refuses are counted as lost", "[ingest]") {
  WriterSetup w;
  IngestWriter::Config c = config(20ms);
  c.shutdown_grace = 200ms;
  auto writer = w.start(c);
  WriteLock lock(w.db.path);
  for (int i = 0; i < 10; ++i) REQUIRE(writer->add(w.row(i)));
  REQUIRE(eventually([&] { return w.metrics.write_failures.load() > 0; }, 60s));

  // stop() returns once the grace period is over instead of hanging.
  writer->stop();
  CHECK(w.metrics.rows_lost.load() == 10);
  CHECK(w.metrics.rows_written.load() == 0);
  CHECK(writer->depth() == 0);
  CHECK(w.log.contains("gave up on 10 queued item(s)"));
  lock.release();
  CHECK(w.rows_in_db() == 0);
}

TEST_CASE("ingest: the queue is bounded in bytes as well as rows", "[ingest]") {
  // 200,000 rows of 64 KiB are 13 GB: a stalled disk must not turn into that.
  WriterSetup w;
  IngestWriter::Config c = config(60s, 200000, 100000);  // nothing commits before stop()
  c.queue_max_bytes = std::size_t{1} << 20;
  auto writer = w.start(c);
  // Payload and metric text count: 65,532 + "temp" = 64 KiB a row.
  auto big_row = [&](std::int64_t i) {
    return TelemetryRow{w.dev_a, "temp", i, std::string(65532, 'x')};
  };
  // State text counts too: one 64 KiB state, then 15 rows fill 1 MiB exactly.
  std::string big_state = R"({"s":")" + std::string(65536 - 8, 'y') + R"("})";
  REQUIRE(big_state.size() == 65536);
  REQUIRE(writer->add(state_update(w.dev_b, big_state, 3)));
  CHECK(writer->queued_bytes() == 65536);
  for (int i = 0; i < 15; ++i) {
    CAPTURE(i);
    REQUIRE(writer->add(big_row(i)));
  }
  CHECK(writer->queued_bytes() == std::size_t{1} << 20);
  CHECK(w.metrics.queue_bytes.load() == std::uint64_t{1} << 20);
  CHECK(writer->depth() == 16);  // far below the row bound
  // Full in bytes: neither a row, however small, nor a state update fits.
  CHECK_FALSE(writer->add(big_row(15)));
  CHECK_FALSE(writer->add(w.row(16)));
  CHECK_FALSE(writer->add(state_update(w.dev_a, "{}", 4)));
  CHECK(writer->queued_bytes() == std::size_t{1} << 20);
  CHECK(writer->depth() == 16);
  // Presence is still taken.
  CHECK(writer->add(presence(w.dev_a, true, 5)));

  writer->stop();
  CHECK(w.rows_in_db() == 15);
  CHECK(w.metrics.rows_written.load() == 15);
  CHECK(w.db.admin->devices().get("dev-b")->state == std::optional<std::string>(big_state));
  CHECK(w.db.admin->devices().get("dev-a")->online);
  CHECK(writer->queued_bytes() == 0);
  CHECK(w.metrics.queue_bytes.load() == 0);
  CHECK(w.registry.value("rs1_ingest_queue_bytes") == 0);
}

TEST_CASE("ingest: pending presence is kept per device, and the last one wins", "[ingest]") {
  // A disk that stalls while devices flap: what waits must be bounded by the
  // number of devices, yet every device's final online flag must be right.
  WriterSetup w;
  GatedStore gated(w.ingest_connection());
  auto writer = w.start_on(gated, config(1ms));
  // The writer takes this one and stalls inside the store with it.
  REQUIRE(writer->add(presence(w.dev_a, false, 1)));
  REQUIRE(gated.wait_entered(1));

  constexpr int kFlaps = 100000;
  for (int i = 0; i < kFlaps; ++i) {
    REQUIRE(writer->add(presence(w.dev_a, i % 2 == 1, 10 + i)));  // ends online
    REQUIRE(writer->add(presence(w.dev_b, i % 2 == 0, 10 + i)));  // ends offline
  }
  REQUIRE(writer->add(state_update(w.dev_b, R"({"s":2})", 5)));  // an older last_seen
  CHECK(writer->depth() == 1);  // presence does not count against the bounds

  gated.open();
  writer->stop();
  // The stalled one, one presence per device, the state update.
  CHECK(gated.device_updates_seen() <= 4);
  auto a = w.db.admin->devices().get("dev-a");
  auto b = w.db.admin->devices().get("dev-b");
  CHECK(a->online);
  CHECK_FALSE(b->online);
  CHECK(a->last_seen == std::optional<std::int64_t>(10 + kFlaps - 1));
  CHECK(b->last_seen == std::optional<std::int64_t>(10 + kFlaps - 1));
  CHECK(b->state == std::optional<std::string>(R"({"s":2})"));
  CHECK(writer->depth() == 0);
}

TEST_CASE("ingest: presence stays exact when flags alternate with commits", "[ingest]") {
  // No stall: the writer commits while presence keeps arriving, so some
  // updates coalesce and some are already in flight.
  WriterSetup w;
  auto writer = w.start(config(1ms, 200000, 7));
  for (int i = 0; i < 5000; ++i) {
    REQUIRE(writer->add(presence(w.dev_a, i % 3 != 0, 100 + i)));
    if (i % 11 == 0) REQUIRE(writer->add(w.row(i)));
  }
  // 4999 % 3 != 0: online.
  REQUIRE(writer->add(presence(w.dev_b, true, 1)));
  REQUIRE(writer->add(presence(w.dev_b, false, 2)));
  writer->stop();
  CHECK(w.db.admin->devices().get("dev-a")->online);
  CHECK(w.db.admin->devices().get("dev-a")->last_seen == std::optional<std::int64_t>(100 + 4999));
  CHECK_FALSE(w.db.admin->devices().get("dev-b")->online);
  CHECK(w.rows_in_db() == (5000 + 10) / 11);
}

TEST_CASE("ingest: security events and diag records beyond the cap are dropped and counted",
          "[ingest]") {
  WriterSetup w;
  DiagRequest req;
  req.request_id = "req-1";
  req.device_id = "dev-a";
  req.what = {"wifi"};
  req.created_at = 1;
  req.expires_at = 1 + kDiagTtlS;
  w.db.admin->diag().add(req);

  IngestWriter::Config c = config(60s);
  c.events_max = 5;
  auto writer = w.start(c);
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(writer->add(SecurityEvent{"acl_violation", "warning", "10.0.0.1", "{}", i}));
  }
  CHECK(writer->add(DiagSent{"req-1", 42}));  // the fifth waiting
  CHECK_FALSE(writer->add(SecurityEvent{"acl_violation", "warning", "10.0.0.1", "{}", 9}));
  CHECK_FALSE(writer->add(SecurityEvent{"acl_violation", "warning", "10.0.0.1", "{}", 10}));
  CHECK_FALSE(writer->add(DiagSent{"req-2", 43}));
  CHECK(w.registry.value("rs1_ingest_events_dropped_total", "security_event") == 2);
  CHECK(w.registry.value("rs1_ingest_events_dropped_total", "diag_sent") == 1);
  // Rows and state are bounded on their own.
  CHECK(writer->add(w.row(1)));
  CHECK(writer->depth() == 1);

  writer->stop();
  CHECK(w.db.admin->security_log().query({}).size() == 4);
  CHECK(w.db.admin->diag().get("req-1")->sent_at == std::optional<std::int64_t>(42));
  CHECK(w.rows_in_db() == 1);
}

TEST_CASE("ingest: the events cap frees up as events commit", "[ingest]") {
  WriterSetup w;
  IngestWriter::Config c = config(1ms);
  c.events_max = 3;
  auto writer = w.start(c);
  for (int i = 0; i < 30; ++i) {
    CAPTURE(i);
    REQUIRE(eventually([&] {
      return writer->add(SecurityEvent{"acl_violation", "warning", "", "{}", i});
    }));
  }
  writer->stop();
  CHECK(w.db.admin->security_log().query({}).size() == 30);
}

TEST_CASE("ingest: a row the database refuses is dropped alone, the rest of its batch kept",
          "[ingest]") {
  WriterSetup w;
  RawDb(w.db.path).exec(
      "CREATE TRIGGER refuse_bad_row BEFORE INSERT ON telemetry "
      "WHEN NEW.payload = '{\"bad\":1}' BEGIN SELECT RAISE(ABORT, 'bad row'); END");
  DiagRequest req;
  req.request_id = "req-1";
  req.device_id = "dev-a";
  req.what = {"wifi"};
  req.created_at = 1;
  req.expires_at = 1 + kDiagTtlS;
  w.db.admin->diag().add(req);
  // The refusal is not one a retry can fix.
  {
    WriteBatch bad;
    bad.telemetry.push_back(TelemetryRow{w.dev_a, "temp", 1, R"({"bad":1})"});
    IngestStore& direct = w.ingest_connection();
    CHECK(rs1_test::store_error_kind([&] { direct.write_batch(bad); }) ==
          std::optional<StoreError::Kind>(StoreError::Kind::conflict));
  }

  // One batch of many devices' rows, state, events and a diag record.
  auto writer = w.start(config(60s));
  for (int i = 0; i < 1000; ++i) {
    TelemetryRow r = w.row(i, i % 2 ? w.dev_b : w.dev_a);
    if (i == 637) r.payload = R"({"bad":1})";
    REQUIRE(writer->add(std::move(r)));
  }
  REQUIRE(writer->add(state_update(w.dev_a, R"({"s":"a"})", 5)));
  REQUIRE(writer->add(state_update(w.dev_b, R"({"s":"b"})", 6)));
  REQUIRE(writer->add(presence(w.dev_b, true, 7)));
  for (int i = 0; i < 3; ++i)
    REQUIRE(writer->add(SecurityEvent{"acl_violation", "warning", "", "{}", i}));
  REQUIRE(writer->add(DiagSent{"req-1", 42}));
  writer->stop();

  CAPTURE(w.log.all());
  CHECK(w.rows_in_db() == 999);
  CHECK(RawDb(w.db.path).scalar("SELECT count(*) FROM telemetry WHERE received_at_ms = 637") == 0);
  CHECK(w.metrics.rows_written.load() == 999);
  CHECK(w.metrics.rows_lost.load() == 1);
  CHECK(w.registry.value("rs1_write_items_lost_total", "device_update") == 0);
  CHECK(w.registry.value("rs1_write_items_lost_total", "security_event") == 0);
  CHECK(w.registry.value("rs1_write_items_lost_total", "diag_sent") == 0);
  CHECK(w.db.admin->devices().get("dev-a")->state == std::optional<std::string>(R"({"s":"a"})"));
  CHECK(w.db.admin->devices().get("dev-b")->state == std::optional<std::string>(R"({"s":"b"})"));
  CHECK(w.db.admin->devices().get("dev-b")->online);
  CHECK(w.db.admin->security_log().query({}).size() == 3);
  CHECK(w.db.admin->diag().get("req-1")->sent_at == std::optional<std::int64_t>(42));
  CHECK(w.log.contains("dropped 1 telemetry row(s)"));
  CHECK(w.log.contains("bad row"));
  CHECK(writer->depth() == 0);
  CHECK(writer->keeping_up());
}

TEST_CASE("ingest: refused updates, events and diag records are counted by kind", "[ingest]") {
  WriterSetup w;
  RawDb raw(w.db.path);
  raw.exec(
      "CREATE TRIGGER refuse_state BEFORE UPDATE ON devices "
      "WHEN NEW.state = '{\"bad\":1}' BEGIN SELECT RAISE(ABORT, 'bad state'); END");
  raw.exec(
      "CREATE TRIGGER refuse_event BEFORE INSERT ON security_log "
      "WHEN NEW.details = '{\"bad\":1}' BEGIN SELECT RAISE(ABORT, 'bad event'); END");
  raw.exec(
      "CREATE TRIGGER refuse_diag BEFORE UPDATE ON diag_requests "
      "WHEN NEW.sent_at = 666 BEGIN SELECT RAISE(ABORT, 'bad diag'); END");
  for (const char* id : {"req-1", "req-2"}) {
    DiagRequest req;
    req.request_id = id;
    req.device_id = "dev-a";
    req.what = {"wifi"};
    req.created_at = 1;
    req.expires_at = 1 + kDiagTtlS;
    w.db.admin->diag().add(req);
  }

  auto writer = w.start(config(60s));
  for (int i = 0; i < 10; ++i) REQUIRE(writer->add(w.row(i)));
  REQUIRE(writer->add(state_update(w.dev_a, R"({"s":"a"})", 5)));
  REQUIRE(writer->add(state_update(w.dev_b, R"({"bad":1})", 6)));
  REQUIRE(writer->add(SecurityEvent{"acl_violation", "warning", "", "{}", 1}));
  REQUIRE(writer->add(SecurityEvent{"acl_violation", "warning", "", R"({"bad":1})", 2}));
  REQUIRE(writer->add(SecurityEvent{"acl_violation", "warning", "", "{}", 3}));
  REQUIRE(writer->add(DiagSent{"req-1", 42}));
  REQUIRE(writer->add(DiagSent{"req-2", 666}));
  writer->stop();

  CAPTURE(w.log.all());
  CHECK(w.rows_in_db() == 10);
  CHECK(w.metrics.rows_lost.load() == 0);
  CHECK(w.registry.value("rs1_write_items_lost_total", "device_update") == 1);
  CHECK(w.registry.value("rs1_write_items_lost_total", "security_event") == 1);
  CHECK(w.registry.value("rs1_write_items_lost_total", "diag_sent") == 1);
  CHECK(w.db.admin->devices().get("dev-a")->state == std::optional<std::string>(R"({"s":"a"})"));
  CHECK_FALSE(w.db.admin->devices().get("dev-b")->state);
  CHECK(w.db.admin->security_log().query({}).size() == 2);
  CHECK(w.db.admin->diag().get("req-1")->sent_at == std::optional<std::int64_t>(42));
  CHECK_FALSE(w.db.admin->diag().get("req-2")->sent_at);
  CHECK(w.log.contains("1 device update(s)"));
  CHECK(w.log.contains("1 security event(s)"));
  CHECK(w.log.contains("1 diag record(s)"));
}

TEST_CASE("ingest: when the database refuses every row, each is counted once", "[ingest]") {
  WriterSetup w;
  RawDb(w.db.path).exec(
      "CREATE TRIGGER refuse_all BEFORE INSERT ON telemetry "
      "BEGIN SELECT RAISE(ABORT, 'no rows today'); END");
  auto writer = w.start(config(60s, 200000, 100));
  for (int i = 0; i < 250; ++i) REQUIRE(writer->add(w.row(i)));
  REQUIRE(writer->add(state_update(w.dev_a, R"({"s":"a"})", 5)));
  writer->stop();
  CAPTURE(w.log.all());
  CHECK(w.rows_in_db() == 0);
  CHECK(w.metrics.rows_lost.load() == 250);
  CHECK(w.metrics.rows_written.load() == 0);
  CHECK(w.registry.value("rs1_write_items_lost_total", "device_update") == 0);
  CHECK(w.db.admin->devices().get("dev-a")->state == std::optional<std::string>(R"({"s":"a"})"));
  CHECK(writer->depth() == 0);
}

TEST_CASE("ingest: at stop, everything a dead database refuses is counted by kind", "[ingest]") {
  WriterSetup w;
  DiagRequest req;
  req.request_id = "req-1";
  req.device_id = "dev-a";
  req.what = {"wifi"};
  req.created_at = 1;
  req.expires_at = 1 + kDiagTtlS;
  w.db.admin->diag().add(req);
  IngestWriter::Config c = config(20ms);
  c.shutdown_grace = 200ms;
  auto writer = w.start(c);
  WriteLock lock(w.db.path);
  for (int i = 0; i < 10; ++i) REQUIRE(writer->add(w.row(i)));
  REQUIRE(writer->add(state_update(w.dev_a, R"({"s":1})", 5)));
  REQUIRE(writer->add(presence(w.dev_b, true, 6)));
  REQUIRE(writer->add(SecurityEvent{"acl_violation", "warning", "", "{}", 1}));
  REQUIRE(writer->add(DiagSent{"req-1", 42}));
  REQUIRE(eventually([&] { return w.metrics.write_failures.load() > 0; }, 60s));

  writer->stop();
  CAPTURE(w.log.all());
  CHECK(w.metrics.rows_lost.load() == 10);
  CHECK(w.registry.value("rs1_write_items_lost_total", "device_update") == 2);
  CHECK(w.registry.value("rs1_write_items_lost_total", "security_event") == 1);
  CHECK(w.registry.value("rs1_write_items_lost_total", "diag_sent") == 1);
  CHECK(w.log.contains("gave up on"));
  CHECK(writer->depth() == 0);
  CHECK(writer->queued_bytes() == 0);
  lock.release();
  CHECK(w.rows_in_db() == 0);
}

TEST_CASE("ingest: an update with presence and state: presence always, state within bounds",
          "[ingest]") {
  WriterSetup w;
  auto writer = w.start(config(60s, 1));  // room for one row or state update
  DeviceUpdate both = presence(w.dev_a, true, 5);
  both.state = R"({"s":1})";
  CHECK(writer->add(std::move(both)));
  CHECK(writer->depth() == 1);  // the state half
  CHECK(writer->queued_bytes() == 7);
  DeviceUpdate refused = presence(w.dev_b, true, 6);
  refused.state = R"({"s":2})";
  refused.firmware_version = "2.0.0";
  CHECK_FALSE(writer->add(std::move(refused)));  // its state did not fit...
  CHECK(writer->depth() == 1);
  writer->stop();
  auto a = w.db.admin->devices().get("dev-a");
  auto b = w.db.admin->devices().get("dev-b");
  CHECK(a->online);
  CHECK(a->state == std::optional<std::string>(R"({"s":1})"));
  CHECK(b->online);  // ...its presence did
  CHECK(b->last_seen == std::optional<std::int64_t>(6));
  CHECK_FALSE(b->state);
  CHECK_FALSE(b->firmware_version);
}
