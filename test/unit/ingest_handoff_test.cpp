// The hand-off from the broker thread to the ingest writer: rows are packed
// into buffers the writer hands back, so once they have grown to a batch's
// size the thread that adds rows allocates nothing per row. Counted by
// replacing the global operator new for this test executable: each thread
// counts its own allocations while it asks to.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "runtime/ingest_writer.hpp"
#include "unit_support.hpp"

namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;

void* allocate(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

// The allocations the calling thread makes while f runs.
template <typename F>
std::size_t allocations_in(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations;
}
}  // namespace

// Every form that pairs with the plain delete, so nothing allocated by a
// sanitizer's own operator new is handed to free() here (the aligned forms
// stay the runtime's, with their own deletes).
void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace rs1;
using namespace std::chrono_literals;
using rs1_test::eventually;
using rs1_test::RawDb;
using rs1_test::TestDb;

TEST_CASE("ingest hand-off: packed rows keep their text and their capacity") {
  TelemetryRows rows;
  std::string long_payload(300, 'p');
  for (int i = 0; i < 1000; ++i) {
    rows.push_back(TelemetryRowView{i, "env/" + std::to_string(i % 7), i * 10,
                                    i % 2 ? std::string_view(long_payload) : "{}"});
  }
  REQUIRE(rows.size() == 1000);
  // Every view still reads its own row after the buffer grew many times.
  std::size_t bytes = 0;
  std::int64_t i = 0;
  for (const TelemetryRowView r : rows) {
    CHECK(r.device_ref == i);
    CHECK(r.metric == "env/" + std::to_string(i % 7));
    CHECK(r.received_at_ms == i * 10);
    CHECK(r.payload == (i % 2 ? std::string_view(long_payload) : "{}"));
    bytes += r.bytes();
    ++i;
  }
  CHECK(rows.bytes() == bytes);
  const std::size_t held = rows.capacity_bytes();
  rows.clear();
  CHECK(rows.empty());
  CHECK(rows.bytes() == 0);
  CHECK(rows.capacity_bytes() == held);
  // Refilled with no more than it held: no allocation at all.
  const std::string metric = "env/1";
  CHECK(allocations_in([&] {
          for (int k = 0; k < 500; ++k) rows.push_back(TelemetryRowView{k, metric, k, long_payload});
        }) == 0);
  CHECK(rows[499].payload == long_payload);
}

namespace {
// One device and a writer on its own database, fed the reading a device
// sends: 200 bytes, as the MESSAGE handler sees it (views into the message
// mosquitto holds). add() asserts nothing: Catch allocates for each check.
struct HandoffRig {
  explicit HandoffRig(std::chrono::milliseconds flush_interval) {
    db.admin->devices().add_one("dev-a", std::nullopt, "h", 1);
    ref = db.admin->devices().find_credentials("dev-a")->ref;
    config.flush_interval = flush_interval;
    config.batch_max = 1000;
    writer = std::make_unique<IngestWriter>(connection->ingest(), config, metrics,
                                            [](LogLevel, const std::string&) {});
  }
  void add(std::size_t rows) {
    for (std::size_t k = 0; k < rows; ++k) {
      if (!writer->add(TelemetryRowView{ref, metric, ++at_ms, payload})) ++refused;
    }
  }
  // Every row added so far is committed, within 10 s.
  bool all_committed() {
    return eventually(
        [&] { return metrics.rows_written.load() == static_cast<std::uint64_t>(at_ms); }, 10s);
  }

  TestDb db;
  std::int64_t ref = 0;
  MetricRegistry registry;
  IngestMetrics metrics{registry};
  std::unique_ptr<Database> connection = open_sqlite(db.path, SqliteTuning::ingest);
  IngestWriter::Config config;
  std::unique_ptr<IngestWriter> writer;
  const std::string payload = R"({"t":21.5,"pad":")" + std::string(181, 'x') + "\"}";
  const std::string metric = "env";
  std::int64_t at_ms = 0;
  std::size_t refused = 0;
};

// Minor page faults of the calling thread so far.
long thread_page_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}
}  // namespace

TEST_CASE("ingest hand-off: adding rows allocates nothing per row once the writer's batches are warm") {
  HandoffRig rig(5ms);
  REQUIRE(rig.payload.size() == 200);
  // One batch at a time, waiting for its commit, the way a steady stream
  // within the writer's rate arrives.
  auto one_batch = [&] { rig.add(rig.config.batch_max); };
  // Warm-up: the writer's spare batches grow to a full batch each.
  for (int b = 0; b < 3; ++b) {
    one_batch();
    REQUIRE(rig.all_committed());
  }
  std::size_t during = 0;
  for (int b = 0; b < 10; ++b) {
    during += allocations_in(one_batch);
    REQUIRE(rig.all_committed());
  }
  // 10,000 rows: a few allocations for the queue's own bookkeeping (a new
  // block of chunk headers now and then), none per row. Before the packed
  // hand-off each row cost a payload string: 10,000 at least.
  INFO("allocations while adding 10,000 rows: " << during);
  CHECK(during <= 10);
  CHECK(rig.refused == 0);
  rig.writer->stop();
  CHECK(RawDb(rig.db.path).scalar("SELECT count(*) FROM telemetry") == rig.at_ms);
  CHECK(RawDb(rig.db.path).scalar("SELECT count(DISTINCT payload) FROM telemetry") == 1);
}

TEST_CASE("ingest hand-off: the writer keeps spare batches grown, so a burst of chunks grows nothing on the adding thread") {
  // Long enough that the first batch is taken full, however slow the build.
  HandoffRig rig(200ms);
  // One full batch committed: the writer has seen how large a batch grows,
  // and grows its spares to that on its own thread.
  rig.add(rig.config.batch_max);
  REQUIRE(rig.all_committed());
  REQUIRE(eventually([&] { return rig.writer->spares() >= 3; }, 10s));

  // Three chunks at once, faster than the writer commits them (a flood, or
  // the writer waiting on its fsync). Without spares grown ahead, the second
  // and third would each grow two buffers from nothing on this thread (46
  // allocations and 127 page faults, measured with the spares not grown).
  const long faults_before = thread_page_faults();
  const std::size_t during = allocations_in([&] { rig.add(3 * rig.config.batch_max); });
  const long faults = thread_page_faults() - faults_before;
  INFO("allocations " << during << ", page faults " << faults << " while adding 3,000 rows");
  CHECK(during <= 4);
  CHECK(faults <= 10);
  CHECK(rig.refused == 0);
  rig.writer->stop();
  CHECK(RawDb(rig.db.path).scalar("SELECT count(*) FROM telemetry") == rig.at_ms);
}
