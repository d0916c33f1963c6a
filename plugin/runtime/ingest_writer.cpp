#include "runtime/ingest_writer.hpp"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <utility>

namespace rs1 {
namespace {

std::int64_t to_ms(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t steady_ms() { return to_ms(std::chrono::steady_clock::now()); }

std::size_t bytes_of(const DeviceUpdate& u) {
  return (u.state ? u.state->size() : 0) + (u.firmware_version ? u.firmware_version->size() : 0);
}

// Presence waits outside the bounds (coalesced per device); everything else
// of a device update counts.
bool is_presence(const DeviceUpdate& u) { return u.online.has_value(); }

// The first half of the batch's items and the rest, in the order
// write_batch applies them, so committing the halves one after the other
// leaves the database as the whole batch would have.
std::pair<WriteBatch, WriteBatch> split(WriteBatch&& b) {
  std::size_t first_left = b.size() / 2;
  WriteBatch first, second;
  auto deal = [&](WriteKind, auto& from, auto& to_first, auto& to_second) {
    for (auto&& item : from) {
      if (first_left > 0) {
        to_first.push_back(std::move(item));
        --first_left;
      } else {
        to_second.push_back(std::move(item));
      }
    }
    from.clear();
  };
  WriteBatch::each_list_of(deal, b, first, second);
  return {std::move(first), std::move(second)};
}

// The one item of a batch, for the log line that says what was dropped.
std::string describe_item(const WriteBatch& b) {
  if (!b.telemetry.empty()) {
    const TelemetryRowView r = b.telemetry.front();
    return "telemetry row (device_ref " + std::to_string(r.device_ref) + ", metric '" +
           std::string(r.metric) +
           "', received_at_ms " + std::to_string(r.received_at_ms) + ", " +
           std::to_string(r.payload.size()) + " bytes)";
  }
  if (!b.devices.empty()) {
    const auto& u = b.devices.front();
    std::string what = "device update (device_ref " + std::to_string(u.device_ref);
    if (u.online) what += std::string(", online ") + (*u.online ? "true" : "false");
    if (u.state) what += ", state of " + std::to_string(u.state->size()) + " bytes";
    if (u.firmware_version) what += ", firmware '" + *u.firmware_version + "'";
    return what + ")";
  }
  if (!b.events.empty()) {
    const auto& e = b.events.front();
    return "security event (" + e.event_type + ", ip '" + e.ip + "', time " +
           std::to_string(e.time) + ")";
  }
  if (!b.diag_sent.empty()) return "diag record (request " + b.diag_sent.front().request_id + ")";
  if (!b.zone_acks.empty()) {
    const auto& a = b.zone_acks.front();
    return "zone acknowledgement (" + a.device_id + ", version " + std::to_string(a.version) + ")";
  }
  if (!b.rollouts.empty())
    return "rollout " + std::to_string(b.rollouts.front().rollout_id) + " progress";
  if (!b.rollout_devices.empty()) {
    return "rollout " + std::to_string(b.rollout_devices.front().rollout_id) + " device " +
           b.rollout_devices.front().device.device_id;
  }
  return "nothing";
}

// rs1_write_items_lost_total's kinds: every kind but telemetry rows, which
// rs1_rows_lost_total counts.
std::vector<std::string> lost_labels() {
  std::vector<std::string> labels;
  for (std::size_t k = 1; k < kWriteKindCount; ++k) {
    labels.emplace_back(write_kind_label(static_cast<WriteKind>(k)));
  }
  return labels;
}

}  // namespace

void declare_options(OptionRegistry& r, IngestOptions& o) {
  r.integer("ingest_flush_ms", o.flush_ms, 1, 60000);
  r.integer("ingest_queue_max", o.queue_max, 1, 100000000);
  r.integer("ingest_queue_max_bytes", o.queue_max_bytes, std::int64_t{1} << 20,
            std::int64_t{64} << 30);
}

IngestMetrics::IngestMetrics(MetricRegistry& r)
    : rows_written(r.counter("rs1_telemetry_rows_written_total", "Telemetry rows committed.")),
      queue_depth(r.gauge("rs1_ingest_queue_depth", "Rows and updates waiting for the writer.")),
      write_failures(
          r.counter("rs1_write_failures_total", "Failed database commits (each retried).")),
      rows_lost(
          r.counter("rs1_rows_lost_total", "Accepted telemetry rows that could not be kept.")),
      queue_bytes(r.gauge(
          "rs1_ingest_queue_bytes",
          "Payload, metric and state bytes of the rows and updates waiting for the writer.")),
      items_lost(r.counter_family(
          "rs1_write_items_lost_total",
          "Accepted items other than telemetry rows (device updates, security events, diag, "
          "zone and rollout records) that could not be kept.",
          "kind", lost_labels())),
      events_dropped(r.counter_family(
          "rs1_ingest_events_dropped_total",
          "Security events, diag records and zone acknowledgements dropped because too many were "
          "waiting for the writer.",
          "kind", {"security_event", "diag_sent", "zone_ack"})) {}

// What one batch came to: written, or lost and why.
struct IngestWriter::Outcome {
  using PerKind = std::array<std::size_t, kWriteKindCount>;
  std::size_t written = 0;  // items
  // Refused by the database (non-transient), item by item.
  PerKind refused{};
  std::vector<std::string> refused_samples;  // "<item>: <error>", the first few
  // Given up at stop after the grace period: the piece that failed and all
  // that was not yet tried.
  bool gave_up = false;
  std::string gave_up_error;
  int gave_up_failures = 0;
  PerKind abandoned{};

  static void add(PerKind& to, const WriteBatch& batch) {
    batch.each_list(
        [&](WriteKind k, const auto& list) { to[static_cast<std::size_t>(k)] += list.size(); });
  }
  static std::size_t total(const PerKind& n) {
    std::size_t sum = 0;
    for (std::size_t v : n) sum += v;
    return sum;
  }
};

IngestWriter::IngestWriter(IngestStore& store, Config config, IngestMetrics& metrics, LogSink log)
    : store_(store), config_(config), metrics_(metrics), log_(std::move(log)) {
  thread_ = std::thread([this] { run(); });
  // Its own name in top -H, ps -L and the bench's per-thread figures.
  ::pthread_setname_np(thread_.native_handle(), "rs1-writer");
}

IngestWriter::~IngestWriter() { stop(); }

WriteBatch& IngestWriter::back_chunk() {
  if (pending_.empty() || pending_.back().batch.size() >= config_.batch_max) {
    auto now = std::chrono::steady_clock::now();
    if (pending_.empty()) oldest_ms_.store(to_ms(now), std::memory_order_relaxed);
    pending_.push_back(Chunk{WriteBatch{}, now, next_seq_++});
    if (!spare_.empty()) {
      spare_bytes_ -= spare_.back().telemetry.capacity_bytes();
      std::swap(pending_.back().batch, spare_.back());
      spare_.pop_back();
    }
  }
  return pending_.back().batch;
}

namespace {
// Spare batches: enough for the chunks that fill while a commit waits on its
// fsync or a checkpoint (a full batch of 200-byte rows holds 2.6 MiB, a spare
// grown for one 3.5 MiB); beyond 32 MiB in all a batch is freed, so a burst
// of large payloads or an overload does not pin its peak.
constexpr std::size_t kSpareBytesMax = std::size_t{32} << 20;
// How many the writer keeps ready, grown (and their pages touched) to half
// as much again as the largest batch committed, so the broker thread does
// not grow a buffer (and take its page faults) whenever one more chunk than
// ever before is waiting, or a batch is larger than any before.
constexpr std::size_t kSparesReady = 3;
}  // namespace

void IngestWriter::note_batch(std::size_t rows, std::size_t text) {
  if (TelemetryRows::capacity_bytes_for(rows, text) > kSpareBytesMax / kSparesReady) return;
  spare_rows_ = std::max(spare_rows_, rows);
  spare_text_ = std::max(spare_text_, text);
}

void IngestWriter::recycle(WriteBatch&& batch, std::unique_lock<std::mutex>& lock) {
  // One that would not hold the largest batch grows again on the broker
  // thread while a load ramps up: not kept, and prepare_spares() grows one
  // that does.
  const std::size_t held = batch.telemetry.capacity_bytes();
  if (batch.telemetry.row_capacity() >= spare_rows_ &&
      batch.telemetry.text_capacity() >= spare_text_ &&
      held <= kSpareBytesMax - std::min(spare_bytes_, kSpareBytesMax)) {
    spare_bytes_ += held;
    spare_.push_back(std::move(batch));
    return;
  }
  lock.unlock();
  {
    WriteBatch dropped = std::move(batch);  // freed here, outside the lock
  }
  lock.lock();
}

void IngestWriter::prepare_spares(std::unique_lock<std::mutex>& lock) {
  for (std::size_t made = 0; made < kSparesReady && !stopping_ &&
                             spare_.size() < kSparesReady && spare_rows_ > 0;
       ++made) {
    // Half as large again as the largest batch committed (rows no more
    // than a full batch holds), as that fits: batches that grow while a
    // load ramps up still fit without growing on the broker thread.
    std::size_t rows = std::max(spare_rows_, std::min(spare_rows_ + spare_rows_ / 2,
                                                      config_.batch_max));
    std::size_t text = spare_text_ + spare_text_ / 2;
    if (TelemetryRows::capacity_bytes_for(rows, text) > kSpareBytesMax / kSparesReady) {
      rows = spare_rows_;
      text = spare_text_;
    }
    // Not beyond the spares' bound, nor once more chunks wait than that
    // bound could hold: that is an overload, where the writer's time goes
    // to commits and a chunk beyond grows on the broker thread.
    const std::size_t held = TelemetryRows::capacity_bytes_for(rows, text);
    if (held > kSpareBytesMax / kSparesReady ||
        held > kSpareBytesMax - std::min(spare_bytes_, kSpareBytesMax) ||
        pending_.size() > kSpareBytesMax / held) {
      return;
    }
    lock.unlock();
    WriteBatch fresh;
    fresh.telemetry.reserve_touched(rows, text);
    lock.lock();
    recycle(std::move(fresh), lock);
  }
}

void IngestWriter::wake_if_needed() {
  // The writer sleeps until the first item arrives, then until the flush
  // deadline or a full batch: only those two moments need a wake-up.
  const std::size_t n = pending_.back().batch.size();
  if ((pending_.size() == 1 && n == 1) || n == config_.batch_max) {
    cv_.notify_one();
  }
}

bool IngestWriter::take_bounded(std::size_t bytes) {
  const std::size_t items = items_.load(std::memory_order_relaxed);
  const std::size_t queued = bytes_.load(std::memory_order_relaxed);
  if (items >= config_.queue_max || bytes > config_.queue_max_bytes ||
      queued > config_.queue_max_bytes - bytes) {
    return false;
  }
  items_.store(items + 1, std::memory_order_relaxed);
  bytes_.store(queued + bytes, std::memory_order_relaxed);
  publish_depth();
  return true;
}

void IngestWriter::publish_depth() {
  // Under mu_ like every change of the counters: otherwise a racing update
  // could overwrite a gauge with an older value.
  metrics_.queue_depth.store(items_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  metrics_.queue_bytes.store(bytes_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

bool IngestWriter::add(const TelemetryRowView& row) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || !take_bounded(row.bytes())) return false;
  back_chunk().telemetry.push_back(row);
  wake_if_needed();
  return true;
}

bool IngestWriter::add(DeviceUpdate&& update) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  bool state_taken = true;
  if (is_presence(update) && (update.state || update.firmware_version)) {
    // The state half is bounded like any state update; the presence half
    // is coalesced below. They touch different columns (last_seen is a
    // max), so their order does not matter.
    DeviceUpdate state;
    state.device_ref = update.device_ref;
    state.last_seen = update.last_seen;
    state.state = std::move(update.state);
    state.firmware_version = std::move(update.firmware_version);
    update.state.reset();
    update.firmware_version.reset();
    state_taken = take_bounded(bytes_of(state));
    if (state_taken) {
      back_chunk().devices.push_back(std::move(state));
      wake_if_needed();
    }
  } else if (!is_presence(update)) {
    if (!take_bounded(bytes_of(update))) return false;
    back_chunk().devices.push_back(std::move(update));
    wake_if_needed();
    return true;
  }

  // Presence: only the online flag and last_seen. Presence alone writes
  // online, and last_seen is a max, so folding a newer presence into the
  // one still waiting, wherever it sits, is exact.
  auto slot = presence_.find(update.device_ref);
  if (slot != presence_.end()) {
    Chunk& chunk = pending_[slot->second.chunk_seq - pending_.front().seq];
    DeviceUpdate& waiting = chunk.batch.devices[slot->second.index];
    waiting.online = update.online;
    waiting.last_seen = std::max(waiting.last_seen, update.last_seen);
    return state_taken;
  }
  WriteBatch& batch = back_chunk();
  presence_[update.device_ref] = PresenceSlot{pending_.back().seq, batch.devices.size()};
  ++pending_.back().presences;
  batch.devices.push_back(std::move(update));
  wake_if_needed();
  return state_taken;
}

// Security events and diag records share one cap.
template <typename Item>
bool IngestWriter::add_capped(Item&& item, std::vector<Item> WriteBatch::*list, Counter& dropped) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  if (events_.load(std::memory_order_relaxed) >= config_.events_max) {
    dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  events_.fetch_add(1, std::memory_order_relaxed);
  (back_chunk().*list).push_back(std::move(item));
  wake_if_needed();
  return true;
}

bool IngestWriter::add(SecurityEvent&& event) {
  return add_capped(std::move(event), &WriteBatch::events, *metrics_.events_dropped[0]);
}

bool IngestWriter::add(DiagSent&& sent) {
  return add_capped(std::move(sent), &WriteBatch::diag_sent, *metrics_.events_dropped[1]);
}

bool IngestWriter::add(ZoneAck&& ack) {
  return add_capped(std::move(ack), &WriteBatch::zone_acks, *metrics_.events_dropped[2]);
}

bool IngestWriter::add(std::vector<RolloutProgress>&& rollouts,
                       std::vector<RolloutDeviceRow>&& devices) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  // back_chunk() for each item: a 10,000-device stage fills whole batches.
  for (auto& r : rollouts) {
    back_chunk().rollouts.push_back(std::move(r));
    wake_if_needed();
  }
  for (auto& d : devices) {
    back_chunk().rollout_devices.push_back(std::move(d));
    wake_if_needed();
  }
  return true;
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
        return stopping_ || pending_.size() > 1 ||
               pending_.front().batch.size() >= config_.batch_max;
      });
    }
    // Only swaps and pops under the lock, unless the chunk holds presence.
    WriteBatch batch = std::move(pending_.front().batch);
    const std::uint64_t seq = pending_.front().seq;
    const bool has_presence = pending_.front().presences > 0;
    pending_.pop_front();
    // Its presence is in flight now: a newer one must wait on its own.
    for (std::size_t i = 0; has_presence && i < batch.devices.size(); ++i) {
      if (!is_presence(batch.devices[i])) continue;
      auto slot = presence_.find(batch.devices[i].device_ref);
      if (slot != presence_.end() && slot->second.chunk_seq == seq && slot->second.index == i) {
        presence_.erase(slot);
      }
    }
    oldest_ms_.store(pending_.empty() ? 0 : to_ms(pending_.front().since),
                     std::memory_order_relaxed);
    const std::size_t rows = batch.telemetry.size();
    const std::size_t text = batch.telemetry.bytes();
    lock.unlock();
    commit(batch);
    batch.clear();
    lock.lock();
    note_batch(rows, text);
    recycle(std::move(batch), lock);
    prepare_spares(lock);
  }
}

IngestWriter::Attempt IngestWriter::write_with_retry(const WriteBatch& batch, std::string& error,
                                                     int& failures) {
  auto backoff = std::chrono::milliseconds(50);
  failures = 0;
  for (;;) {
    try {
      store_.write_batch(batch);
      last_commit_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count(),
                            std::memory_order_relaxed);
      if (failures > 0) {
        log_(LogLevel::info, "rs1: database writes recovered after " + std::to_string(failures) +
                                 " failed attempt(s); " + std::to_string(batch.size()) +
                                 " queued item(s) committed");
      }
      failing_.store(false, std::memory_order_relaxed);
      return Attempt::written;
    } catch (const std::exception& e) {
      ++failures;
      metrics_.write_failures.fetch_add(1, std::memory_order_relaxed);
      error = e.what();
      auto* se = dynamic_cast<const StoreError*>(&e);
      // A constraint, a CHECK, a corrupt page: trying the same items again
      // cannot succeed; the caller isolates what the database refuses.
      if (!se || se->kind() != StoreError::Kind::transient) {
        const char* kind = !se                                        ? "error"
                           : se->kind() == StoreError::Kind::conflict ? "conflict"
                                                                      : "fatal";
        error = std::string(kind) + ": " + e.what();
        return Attempt::refused;
      }
      failing_.store(true, std::memory_order_relaxed);
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
      // A transient error (full disk, I/O error, lock) is retried for as
      // long as the broker runs.
      if (stopping && now >= give_up_) return Attempt::gave_up;
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, backoff);
      backoff = std::min(backoff * 2, config_.retry_max);
    }
  }
}

void IngestWriter::write_or_isolate(WriteBatch& batch, Outcome& out) {
  if (batch.empty()) return;
  auto abandon = [&] { Outcome::add(out.abandoned, batch); };
  if (out.gave_up) return abandon();  // the disk is dead and the grace is over
  std::string error;
  int failures = 0;
  switch (write_with_retry(batch, error, failures)) {
    case Attempt::written:
      out.written += batch.size();
      metrics_.rows_written.fetch_add(batch.telemetry.size(), std::memory_order_relaxed);
      return;
    case Attempt::gave_up:
      out.gave_up = true;
      out.gave_up_error = error;
      out.gave_up_failures = failures;
      return abandon();
    case Attempt::refused:
      break;
  }
  if (batch.size() == 1) {
    Outcome::add(out.refused, batch);
    if (out.refused_samples.size() < 3)
      out.refused_samples.push_back(describe_item(batch) + ": " + error);
    return;
  }
  // Bisect: each half its own transaction, in order, so one bad item costs
  // about 2·log2(batch) transactions and takes nothing else with it.
  auto halves = split(std::move(batch));
  write_or_isolate(halves.first, out);
  write_or_isolate(halves.second, out);
}

void IngestWriter::commit(WriteBatch& batch) {
  Footprint held;
  held.items = batch.telemetry.size();
  held.bytes = batch.telemetry.bytes();
  for (const auto& u : batch.devices) {
    if (is_presence(u)) continue;
    ++held.items;
    held.bytes += bytes_of(u);
  }
  held.events = batch.events.size() + batch.diag_sent.size() + batch.zone_acks.size();

  Outcome out;
  write_or_isolate(batch, out);

  for (std::size_t k = 0; k < kWriteKindCount; ++k) {
    metrics_.lost(static_cast<WriteKind>(k))
        .fetch_add(out.refused[k] + out.abandoned[k], std::memory_order_relaxed);
  }
  // "2 telemetry row(s), 1 device update(s)": the kinds of `n` that are not 0.
  auto counts_of = [](const Outcome::PerKind& n) {
    std::string counts;
    for (std::size_t k = 0; k < kWriteKindCount; ++k) {
      if (n[k] == 0) continue;
      counts += (counts.empty() ? "" : ", ") + std::to_string(n[k]) + " " +
                write_kind_words(static_cast<WriteKind>(k));
    }
    return counts;
  };
  const std::size_t refused = Outcome::total(out.refused);
  if (refused > 0) {
    const std::string counts = counts_of(out.refused);
    std::string samples;
    for (const auto& s : out.refused_samples) samples += (samples.empty() ? "" : "; ") + s;
    if (refused > out.refused_samples.size()) {
      samples += "; and " + std::to_string(refused - out.refused_samples.size()) + " more";
    }
    log_(LogLevel::error, "rs1: dropped " + counts + " the database refused, keeping the other " +
                              std::to_string(out.written) + " item(s) of the batch: " + samples);
  }
  if (out.gave_up) {
    log_(LogLevel::error, "rs1: gave up on " + std::to_string(Outcome::total(out.abandoned)) +
                              " queued item(s) (" + counts_of(out.abandoned) + ") after " +
                              std::to_string(out.gave_up_failures) +
                              " failed attempt(s): " + out.gave_up_error);
  } else if (out.written == 0 && refused > 0) {
    // Nothing of the batch could be kept: report unhealthy until a commit succeeds.
    failing_.store(true, std::memory_order_relaxed);
  } else {
    failing_.store(false, std::memory_order_relaxed);
  }

  std::lock_guard<std::mutex> lock(mu_);
  items_.fetch_sub(held.items, std::memory_order_relaxed);
  bytes_.fetch_sub(held.bytes, std::memory_order_relaxed);
  events_.fetch_sub(held.events, std::memory_order_relaxed);
  publish_depth();
}

}  // namespace rs1
