// The ingest writer on a real SQLite database: rows become visible within
// the flush interval, a full batch commits at once, stop() keeps every
// accepted row, the queue bound is what callers see, and a database that
// refuses writes is retried without losing anything.
#include "runtime/ingest_writer.hpp"

#include <catch2/catch.hpp>
#include <chrono>
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
    connections.push_back(open_sqlite(db.path, SqliteTuning::ingest));
    return std::make_unique<IngestWriter>(connections.back()->ingest(), config, metrics,
                                          log.sink());
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
