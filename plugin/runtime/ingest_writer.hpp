// The ingest writer: the only thread that writes what devices send. It owns a
// queue bounded in items and in bytes, commits batches in one transaction
// each (after ingest_flush_ms or when a batch fills), retries a batch the
// disk refused, isolates an item the database will never take, and at stop
// commits everything still queued before it returns.
//
// What may wait, and what bounds it:
// - telemetry rows and state updates: queue_max items and queue_max_bytes of
//   payload, metric and state text; beyond, add() refuses;
// - presence (a DeviceUpdate with `online` set): always taken, but only the
//   latest presence of a device waits (a newer one replaces it in place), so
//   the number of devices bounds them and no device's final flag is lost;
// - security events, diag records and zone acknowledgements: events_max
//   together; beyond, dropped and counted (rs1_ingest_events_dropped_total{kind});
// - rollout progress: always taken (a lost row would leave a restarted
//   rollout behind the devices); the engine's transitions bound it, a few
//   per device of the running rollouts.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/log.hpp"
#include "core/options.hpp"
#include "runtime/ingest_store.hpp"
#include "runtime/metrics.hpp"

namespace rs1 {

// The writer's plugin options (SPEC §3).
struct IngestOptions {
  int flush_ms = 100;                                   // ingest_flush_ms
  std::size_t queue_max = 200000;                       // ingest_queue_max
  std::size_t queue_max_bytes = std::size_t{256} << 20;  // ingest_queue_max_bytes
};
void declare_options(OptionRegistry& registry, IngestOptions& options);

// The writer's metrics, declared once here.
struct IngestMetrics {
  explicit IngestMetrics(MetricRegistry& r);
  Counter& rows_written;  // rs1_telemetry_rows_written_total
  Counter& queue_depth;   // rs1_ingest_queue_depth
  Counter& write_failures;
  Counter& rows_lost;
  Counter& queue_bytes;  // rs1_ingest_queue_bytes
  // rs1_write_items_lost_total{kind}: accepted, then lost (refused by the
  // database, or a dead disk at stop), one per WriteKind but telemetry rows
  // (rs1_rows_lost_total).
  std::vector<Counter*> items_lost;
  Counter& lost(WriteKind kind) {
    return kind == WriteKind::telemetry_row ? rows_lost
                                            : *items_lost[static_cast<std::size_t>(kind) - 1];
  }
  // rs1_ingest_events_dropped_total{kind}: refused at add() because
  // events_max were waiting; [0] security_event, [1] diag_sent, [2] zone_ack.
  std::vector<Counter*> events_dropped;
};

class IngestWriter {
 public:
  struct Config {
    std::chrono::milliseconds flush_interval{100};
    std::size_t queue_max = 200000;  // telemetry rows and state updates waiting
    std::size_t queue_max_bytes = std::size_t{256} << 20;  // their payload, metric and state text
    std::size_t events_max = 10000;  // security events, diag records and zone acks waiting
    std::size_t batch_max = 10000;   // items in one transaction
    std::chrono::milliseconds retry_max{2000};
    std::chrono::milliseconds shutdown_grace{10000};  // retrying a failing disk at stop
  };

  IngestWriter(IngestStore& store, Config config, IngestMetrics& metrics, LogSink log);
  ~IngestWriter();
  IngestWriter(const IngestWriter&) = delete;
  IngestWriter& operator=(const IngestWriter&) = delete;

  // Copies the row's text into the waiting batch. False when the queue is
  // full: the caller drops the message and counts it.
  bool add(const TelemetryRowView& row);
  // Presence (online set) is always taken, and replaces that device's
  // presence still waiting. Other updates count against both bounds. An
  // update with both presence and state: the presence is taken, false means
  // its state was refused.
  bool add(DeviceUpdate&& update);
  // False when events_max are waiting: dropped and counted here.
  bool add(SecurityEvent&& event);
  bool add(DiagSent&& sent);
  bool add(ZoneAck&& ack);
  // The rollout engine's writes of one step, in order. False only when stopping.
  bool add(std::vector<RolloutProgress>&& rollouts, std::vector<RolloutDeviceRow>&& devices);

  // Commits everything queued, then joins the thread. Idempotent.
  void stop();

  // Telemetry rows and state updates queued or in flight.
  std::size_t depth() const { return items_.load(std::memory_order_relaxed); }
  // Their bytes (payload, metric, state and firmware text).
  std::size_t queued_bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // False while commits are failing or the oldest queued item has waited for
  // more than 10 flush intervals.
  bool keeping_up() const;
  // Spare batches ready for the chunks to come (tests).
  std::size_t spares() const {
    std::lock_guard<std::mutex> lock(mu_);
    return spare_.size();
  }
  // Wall-clock unix ms of the last successful commit, 0 before the first
  // (the operations heartbeat reports it).
  std::int64_t last_commit_ms() const { return last_commit_ms_.load(std::memory_order_relaxed); }

 private:
  // What a batch holds against the bounds, released once it is done.
  struct Footprint {
    std::size_t items = 0;
    std::size_t bytes = 0;
    std::size_t events = 0;
  };
  struct Outcome;
  enum class Attempt { written, refused, gave_up };

  void run();
  void commit(WriteBatch& batch);
  void write_or_isolate(WriteBatch& batch, Outcome& out);
  Attempt write_with_retry(const WriteBatch& batch, std::string& error, int& failures);
  template <typename Item>
  bool add_capped(Item&& item, std::vector<Item> WriteBatch::*list, Counter& dropped);
  bool take_bounded(std::size_t bytes);  // with mu_ held
  void publish_depth();                  // with mu_ held
  WriteBatch& back_chunk();              // with mu_ held
  void wake_if_needed();                 // with mu_ held

  IngestStore& store_;
  Config config_;
  IngestMetrics& metrics_;
  LogSink log_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Chunks of at most batch_max items, each with the time its first item
  // arrived: that item may wait at most flush_interval. Sequence numbers are
  // consecutive, so a chunk is found from its number.
  struct Chunk {
    WriteBatch batch;
    std::chrono::steady_clock::time_point since;
    std::uint64_t seq = 0;
    std::size_t presences = 0;  // entries of presence_ that point into it
  };
  std::deque<Chunk> pending_;
  // Batches the writer has committed, emptied with their capacity kept: the
  // next chunks reuse them, so the broker thread does not allocate for a
  // row once the buffers have grown to a batch's size, and memory the
  // broker thread allocated is not freed on the writer's.
  std::vector<WriteBatch> spare_;
  std::size_t spare_bytes_ = 0;  // their telemetry buffers' capacity
  // The telemetry of the largest batch committed (rows, text bytes) that a
  // spare may hold: what a spare must hold, and half as much again is what
  // the writer grows a new one to.
  std::size_t spare_rows_ = 0;
  std::size_t spare_text_ = 0;
  void note_batch(std::size_t rows, std::size_t text);  // with mu_ held
  // Takes the emptied batch as a spare, or, when it is too small or the
  // spares are at their bound, frees it with the lock released. mu_ held on
  // entry and on return.
  void recycle(WriteBatch&& batch, std::unique_lock<std::mutex>& lock);
  // Keeps kSparesReady spares, grown and touched on this thread (outside
  // the lock) unless more chunks wait than the spares could hold. Writer
  // thread, mu_ held on entry and on return.
  void prepare_spares(std::unique_lock<std::mutex>& lock);
  std::uint64_t next_seq_ = 0;
  // Where each device's waiting presence is (not yet taken by the writer).
  struct PresenceSlot {
    std::uint64_t chunk_seq = 0;
    std::size_t index = 0;  // in that chunk's batch.devices
  };
  std::unordered_map<std::int64_t, PresenceSlot> presence_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point give_up_{};  // writer thread only

  // Queued or in flight; written under mu_, read anywhere.
  std::atomic<std::size_t> items_{0};
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::size_t> events_{0};
  std::atomic<bool> failing_{false};
  std::atomic<std::int64_t> oldest_ms_{
      0};  // steady-clock ms of the oldest pending chunk, 0 if none
  std::atomic<std::int64_t> last_commit_ms_{0};
  std::thread thread_;
};

}  // namespace rs1
