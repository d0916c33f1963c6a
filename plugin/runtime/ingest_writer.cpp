#include "runtime/ingest_writer.hpp"

#include <algorithm>

namespace rs1 {
namespace {

std::int64_t to_ms(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t steady_ms() { return to_ms(std::chrono::steady_clock::now()); }

std::size_t bounded_items(const WriteBatch& b) {
  return b.telemetry.size() +
         static_cast<std::size_t>(std::count_if(b.devices.begin(), b.devices.end(),
                                                [](const DeviceUpdate& u) { return !u.online; }));
}

}  // namespace

IngestMetrics::IngestMetrics(MetricRegistry& r)
    : rows_written(r.counter("rs1_telemetry_rows_written_total", "Telemetry rows committed.")),
      queue_depth(r.gauge("rs1_ingest_queue_depth", "Rows and updates waiting for the writer.")),
      write_failures(r.counter("rs1_write_failures_total", "Failed database commits (each retried).")),
      rows_lost(r.counter("rs1_rows_lost_total", "Accepted telemetry rows that could not be kept.")) {}

IngestWriter::IngestWriter(IngestStore& store, Config config, IngestMetrics& metrics, LogSink log)
    : store_(store), config_(config), metrics_(metrics), log_(std::move(log)) {
  thread_ = std::thread([this] { run(); });
}

IngestWriter::~IngestWriter() { stop(); }

WriteBatch& IngestWriter::back_chunk() {
  if (pending_.empty() || pending_.back().batch.size() >= config_.batch_max) {
    auto now = std::chrono::steady_clock::now();
    if (pending_.empty()) oldest_ms_.store(to_ms(now), std::memory_order_relaxed);
    pending_.push_back(Chunk{WriteBatch{}, now});
  }
  return pending_.back().batch;
}

void IngestWriter::wake_if_needed() {
  // The writer sleeps until the first item arrives, then until the flush
  // deadline or a full batch: only those two moments need a wake-up.
  const WriteBatch& back = pending_.back().batch;
  if ((pending_.size() == 1 && back.size() == 1) || back.size() == config_.batch_max) {
    cv_.notify_one();
  }
}

bool IngestWriter::add(TelemetryRow&& row) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || bounded_.load(std::memory_order_relaxed) >= config_.queue_max) return false;
  back_chunk().telemetry.push_back(std::move(row));
  metrics_.queue_depth.store(bounded_.fetch_add(1, std::memory_order_relaxed) + 1,
                                    std::memory_order_relaxed);
  wake_if_needed();
  return true;
}

bool IngestWriter::add(DeviceUpdate&& update) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  if (!update.online) {
    if (bounded_.load(std::memory_order_relaxed) >= config_.queue_max) return false;
    metrics_.queue_depth.store(bounded_.fetch_add(1, std::memory_order_relaxed) + 1,
                                      std::memory_order_relaxed);
  }
  back_chunk().devices.push_back(std::move(update));
  wake_if_needed();
  return true;
}

void IngestWriter::add(SecurityEvent&& event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  back_chunk().events.push_back(std::move(event));
  wake_if_needed();
}

void IngestWriter::add(DiagSent&& sent) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  back_chunk().diag_sent.push_back(std::move(sent));
  wake_if_needed();
}

void IngestWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool IngestWriter::keeping_up() const {
  if (failing_.load(std::memory_order_relaxed)) return false;
  std::int64_t oldest = oldest_ms_.load(std::memory_order_relaxed);
  return oldest == 0 || steady_ms() - oldest <= 10 * config_.flush_interval.count() + 1000;
}

void IngestWriter::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) break;  // stopping, nothing left
    if (!stopping_) {
      cv_.wait_until(lock, pending_.front().since + config_.flush_interval, [&] {
        return stopping_ || pending_.size() > 1 || pending_.front().batch.size() >= config_.batch_max;
      });
    }
    WriteBatch batch = std::move(pending_.front().batch);
    pending_.pop_front();
    oldest_ms_.store(pending_.empty() ? 0 : to_ms(pending_.front().since), std::memory_order_relaxed);
    lock.unlock();
    commit(batch);
    lock.lock();
  }
}

void IngestWriter::commit(WriteBatch& batch) {
  const std::size_t bounded = bounded_items(batch);
  auto backoff = std::chrono::milliseconds(50);
  int failures = 0;
  for (;;) {
    try {
      store_.write_batch(batch);
      metrics_.rows_written.fetch_add(batch.telemetry.size(),
                                                      std::memory_order_relaxed);
      if (failures > 0) {
        log_(LogLevel::info, "rs1: database writes recovered after " + std::to_string(failures) +
                                 " failed attempt(s); " + std::to_string(batch.size()) +
                                 " queued item(s) committed");
      }
      failing_.store(false, std::memory_order_relaxed);
      break;
    } catch (const std::exception& e) {
      ++failures;
      metrics_.write_failures.fetch_add(1, std::memory_order_relaxed);
      failing_.store(true, std::memory_order_relaxed);
      auto* se = dynamic_cast<const StoreError*>(&e);
      bool transient = se && se->kind() == StoreError::Kind::transient;
      if (failures == 1) {
        log_(LogLevel::error, std::string("rs1: database write failed, will retry: ") + e.what());
      }
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping = stopping_;
      }
      auto now = std::chrono::steady_clock::now();
      // One grace period for the whole shutdown, not one per batch.
      if (stopping && give_up_ == std::chrono::steady_clock::time_point{}) {
        give_up_ = now + config_.shutdown_grace;
      }
      // A transient error (full disk, I/O error, lock) is retried for as long
      // as the broker runs; anything else three times.
      bool out_of_time = stopping && now >= give_up_;
      if (out_of_time || (!transient && failures >= 3)) {
        metrics_.rows_lost.fetch_add(batch.telemetry.size(), std::memory_order_relaxed);
        log_(LogLevel::error, "rs1: gave up on " + std::to_string(batch.size()) +
                                  " queued item(s) after " + std::to_string(failures) +
                                  " failed attempt(s): " + e.what());
        break;
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, backoff);
      backoff = std::min(backoff * 2, config_.retry_max);
    }
  }
  // Under mu_, like add(): otherwise an add() racing this store could
  // overwrite the gauge with its older, larger value.
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t left = bounded_.fetch_sub(bounded, std::memory_order_relaxed) - bounded;
  metrics_.queue_depth.store(left, std::memory_order_relaxed);
}

}  // namespace rs1
