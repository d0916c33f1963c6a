// The ingest writer: the only thread that writes what devices send. It owns a
// bounded queue, commits batches in one transaction each (after
// ingest_flush_ms or when a batch fills), retries a batch the disk refused,
// and at stop commits everything still queued before it returns.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "core/log.hpp"
#include "runtime/ingest_store.hpp"
#include "runtime/metrics.hpp"

namespace rs1 {

// The writer's metrics, declared once here.
struct IngestMetrics {
  explicit IngestMetrics(MetricRegistry& r);
  Counter& rows_written;  // rs1_telemetry_rows_written_total
  Counter& queue_depth;   // rs1_ingest_queue_depth
  Counter& write_failures;
  Counter& rows_lost;
};

class IngestWriter {
 public:
  struct Config {
    std::chrono::milliseconds flush_interval{100};
    std::size_t queue_max = 200000;  // telemetry rows and state updates waiting
    std::size_t batch_max = 10000;   // items in one transaction
    std::chrono::milliseconds retry_max{2000};
    std::chrono::milliseconds shutdown_grace{10000};  // retrying a failing disk at stop
  };

  IngestWriter(IngestStore& store, Config config, IngestMetrics& metrics, LogSink log);
  ~IngestWriter();
  IngestWriter(const IngestWriter&) = delete;
  IngestWriter& operator=(const IngestWriter&) = delete;

  // False when the queue is full: the caller drops the message and counts it.
  bool add(TelemetryRow&& row);
  // Presence changes (online set) are always taken: losing one would leave a
  // device's online flag wrong. Other updates count against queue_max.
  bool add(DeviceUpdate&& update);
  void add(SecurityEvent&& event);
  void add(DiagSent&& sent);

  // Commits everything queued, then joins the thread. Idempotent.
  void stop();

  std::size_t depth() const { return bounded_.load(std::memory_order_relaxed); }
  // False while commits are failing or the oldest queued item has waited for
  // more than 10 flush intervals.
  bool keeping_up() const;

 private:
  void run();
  void commit(WriteBatch& batch);
  WriteBatch& back_chunk();  // with mu_ held
  void wake_if_needed();     // with mu_ held

  IngestStore& store_;
  Config config_;
  IngestMetrics& metrics_;
  LogSink log_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Chunks of at most batch_max items, each with the time its first item
  // arrived: that item may wait at most flush_interval.
  struct Chunk {
    WriteBatch batch;
    std::chrono::steady_clock::time_point since;
  };
  std::deque<Chunk> pending_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point give_up_{};  // writer thread only

  std::atomic<std::size_t> bounded_{0};  // telemetry rows + non-presence updates queued or in flight
  std::atomic<bool> failing_{false};
  std::atomic<std::int64_t> oldest_ms_{0};  // steady-clock ms of the oldest pending chunk, 0 if none
  std::thread thread_;
};

}  // namespace rs1
