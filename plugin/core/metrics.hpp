// Counters of SPEC §9's /metrics. Written from the broker thread and the
// writer thread, read by anyone: relaxed atomics, no locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "core/payload.hpp"

namespace rs1 {

struct Metrics {
  using Counter = std::atomic<std::uint64_t>;
  Counter devices_online{0};
  Counter connections_total{0};
  Counter auth_failures_total{0};
  Counter acl_denials_total{0};
  Counter messages_received_total{0};
  std::array<Counter, kDropReasonCount> messages_dropped_total{};
  Counter telemetry_rows_written_total{0};
  Counter ingest_queue_depth{0};
  Counter ota_triggers_total{0};
  Counter write_failures_total{0};  // failed batch commits (each retried)
  Counter rows_lost_total{0};       // accepted rows that could not be kept (shutdown on a dead disk)

  void count_drop(DropReason reason) {
    messages_dropped_total[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t dropped(DropReason reason) const {
    return messages_dropped_total[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }
};

}  // namespace rs1
