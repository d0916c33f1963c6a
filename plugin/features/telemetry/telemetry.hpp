// Telemetry (SPEC §5 `telemetry/<metric>`, §8 `telemetry query`): the row the
// broker queues, the query rs1ctl runs, and the narrow store interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/store_error.hpp"

namespace rs1 {

// A row that owns its text (tests, tools).
struct TelemetryRow {
  std::int64_t device_ref = 0;
  std::string metric;
  std::int64_t received_at_ms = 0;
  std::string payload;
};

// A row whose text lives elsewhere: the message the broker is handling, or
// the TelemetryRows that holds it. What the MESSAGE handler queues.
struct TelemetryRowView {
  TelemetryRowView() = default;
  TelemetryRowView(std::int64_t ref, std::string_view m, std::int64_t at_ms, std::string_view p)
      : device_ref(ref), metric(m), received_at_ms(at_ms), payload(p) {}
  TelemetryRowView(const TelemetryRow& r)  // NOLINT(google-explicit-constructor): a view of it
      : TelemetryRowView(r.device_ref, r.metric, r.received_at_ms, r.payload) {}
  std::size_t bytes() const { return metric.size() + payload.size(); }

  std::int64_t device_ref = 0;
  std::string_view metric;
  std::int64_t received_at_ms = 0;
  std::string_view payload;
};

// Rows packed for the ingest writer: fixed-size entries in one vector and
// every row's metric and payload in one byte buffer. Adding a row copies its
// text into the buffer; clear() keeps both capacities, so a container that
// is reused (the writer hands its batches back) stops allocating once it has
// held a full batch. Elements are views into the container, valid until it
// is changed.
class TelemetryRows {
 public:
  void push_back(const TelemetryRowView& row) {
    entries_.push_back(Entry{row.device_ref, row.received_at_ms, bytes_.size(), row.metric.size(),
                             row.payload.size()});
    bytes_.append(row.metric);
    bytes_.append(row.payload);
  }
  TelemetryRowView operator[](std::size_t i) const {
    const Entry& e = entries_[i];
    std::string_view text(bytes_.data() + e.offset, e.metric_size + e.payload_size);
    return TelemetryRowView{e.device_ref, text.substr(0, e.metric_size), e.received_at_ms,
                            text.substr(e.metric_size)};
  }
  TelemetryRowView front() const { return (*this)[0]; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // The metric and payload bytes of every row (what the writer's byte bound counts).
  std::size_t bytes() const { return bytes_.size(); }
  void clear() {
    entries_.clear();
    bytes_.clear();
  }
  // The memory held, used or not.
  std::size_t capacity_bytes() const {
    return capacity_bytes_for(entries_.capacity(), bytes_.capacity());
  }
  // How many rows, and how much of their text, it holds without growing.
  std::size_t row_capacity() const { return entries_.capacity(); }
  std::size_t text_capacity() const { return bytes_.capacity(); }
  static std::size_t capacity_bytes_for(std::size_t rows, std::size_t text) {
    return rows * sizeof(Entry) + text;
  }
  // Grows an empty container to hold `rows` rows of `text` bytes and writes
  // every page of both buffers, so the thread that fills it later neither
  // allocates nor takes a page fault. Still empty afterwards.
  void reserve_touched(std::size_t rows, std::size_t text) {
    entries_.resize(rows);
    entries_.clear();
    bytes_.resize(text);
    bytes_.clear();
  }

  class const_iterator {
   public:
    const_iterator(const TelemetryRows* rows, std::size_t i) : rows_(rows), i_(i) {}
    TelemetryRowView operator*() const { return (*rows_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const const_iterator& o) const { return i_ != o.i_; }

   private:
    const TelemetryRows* rows_;
    std::size_t i_;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, entries_.size()}; }

 private:
  struct Entry {
    std::int64_t device_ref;
    std::int64_t received_at_ms;
    std::size_t offset;
    std::size_t metric_size;
    std::size_t payload_size;
  };
  std::vector<Entry> entries_;
  std::string bytes_;
};

struct TelemetryQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> until_ms;
  std::int64_t limit = 1000;
};

struct TelemetryRecord {
  std::string device_id;
  std::string metric;
  std::int64_t received_at_ms = 0;
  std::string payload;  // JSON object text, exactly as the device sent it
};

class TelemetryStore {
 public:
  virtual ~TelemetryStore() = default;
  // Oldest first.
  virtual std::vector<TelemetryRecord> query(const TelemetryQuery& q) = 0;
  // Every row held (the bench checks that none was lost).
  virtual std::int64_t count() = 0;
};

}  // namespace rs1
