// The metrics registry of SPEC §9's /metrics: a module declares each of its
// metrics once, where it lives (name, HELP text, TYPE), and the registry
// renders all of them in Prometheus text. Declare at start, before other
// threads run; after that counters are relaxed atomics that any thread may
// update and the HTTP listener reads without a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace rs1 {

using Counter = std::atomic<std::uint64_t>;

class MetricRegistry {
 public:
  // A monotonically increasing count.
  Counter& counter(const std::string& name, const std::string& help);
  // A value that goes up and down.
  Counter& gauge(const std::string& name, const std::string& help);
  // A counter per value of one label, in the order given
  // (rs1_messages_dropped_total{reason="too_large"}, …).
  std::vector<Counter*> counter_family(const std::string& name, const std::string& help,
                                       const std::string& label,
                                       const std::vector<std::string>& values);
  // A gauge per value of one label (rs1_ota_rollout_devices{status="failed"}).
  std::vector<Counter*> gauge_family(const std::string& name, const std::string& help,
                                     const std::string& label,
                                     const std::vector<std::string>& values);

  // Prometheus text format 0.0.4.
  std::string render() const;
  // The value of a declared metric (tests, shutdown summaries); throws
  // std::out_of_range for an unknown one.
  std::uint64_t value(const std::string& name, const std::string& label_value = {}) const;

 private:
  struct Family {
    std::string name, help, type, label;
    std::vector<std::string> label_values;  // empty: one unlabelled series
    std::vector<Counter*> series;
  };
  Family& declare(const std::string& name, const std::string& help, const std::string& type);

  std::deque<Counter> storage_;  // stable addresses
  std::deque<Family> families_;
};

}  // namespace rs1
