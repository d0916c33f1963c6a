// The event hub behind GET /api/v1/events (SPEC §10): the broker thread
// publishes presence, state, telemetry and rollout events; HTTP threads
// subscribe, one subscription per open stream.
//
// Publishing never waits on a client. With no subscriber it costs one
// relaxed atomic load: publish() takes the JSON as a callable and calls it
// only when someone listens, so nothing is allocated or formatted. With
// subscribers the event is formatted once (`event: <kind>\ndata: <json>\n\n`,
// shared by every buffer) and appended to each matching subscriber's
// bounded buffer under a short lock. A subscriber whose buffer is full
// (max_events or max_bytes) is dropped: its buffer is emptied, its stream
// ends, and rs1_api_event_streams_dropped_total counts it; it never slows
// the publisher or the other subscribers. At most max_streams subscribe at
// once (the next is refused, uncounted); rs1_api_event_streams is the
// number open. shutdown() ends every subscription and wakes every waiter, so
// the HTTP threads serving streams return at once when the broker stops.
//
// A subscription may filter on one device: it then receives only the events
// of that device (presence, state, telemetry); rollout events belong to no
// single device and go to unfiltered subscriptions only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/metrics.hpp"

namespace rs1 {

enum class EventKind { presence, state, telemetry, rollout };
const char* event_kind_name(EventKind kind);

// The events' JSON (SPEC §10). `state` and `payload` are the objects as the
// device sent them (the uplink check accepted them), put in unparsed.
std::string presence_event_json(std::string_view device_id, bool online);
std::string state_event_json(std::string_view device_id, std::string_view state);
std::string telemetry_event_json(std::string_view device_id, std::string_view metric,
                                 std::int64_t received_at_ms, std::string_view payload);

class EventHub;

// One open stream's buffer; taken by the HTTP thread that serves it.
class EventSubscription {
 public:
  enum class Wait { events, timeout, ended };
  // Moves every buffered event (formatted text) into `out`, waiting up to
  // `timeout` for one. `ended`: dropped or shut down (nothing more comes).
  Wait wait(std::vector<std::shared_ptr<const std::string>>& out,
            std::chrono::milliseconds timeout);
  ~EventSubscription();  // unsubscribes
  EventSubscription(const EventSubscription&) = delete;
  EventSubscription& operator=(const EventSubscription&) = delete;

 private:
  friend class EventHub;
  struct State;
  EventSubscription(EventHub& hub, std::shared_ptr<State> state)
      : hub_(hub), state_(std::move(state)) {}
  EventHub& hub_;
  std::shared_ptr<State> state_;
};

class EventHub {
 public:
  struct Limits {
    std::size_t max_streams = 64;
    std::size_t max_events = 256;         // per subscriber
    std::size_t max_bytes = 1024 * 1024;  // per subscriber
  };
  // Declares rs1_api_event_streams and rs1_api_event_streams_dropped_total.
  EventHub(MetricRegistry& registry, Limits limits);
  explicit EventHub(MetricRegistry& registry) : EventHub(registry, Limits{}) {}
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Someone listens (a relaxed load; a stale answer loses or formats one event).
  bool active() const { return subscribers_.load(std::memory_order_relaxed) != 0; }

  // `data()` returns the event's JSON text; it is called once, and only
  // when a subscriber listens. `device_id` empty: no device (rollout).
  template <class MakeData>
  void publish(EventKind kind, std::string_view device_id, MakeData&& data) {
    if (!active()) return;
    deliver(kind, device_id, data());
  }

  // A new subscription, or null when max_streams are open or the hub is
  // shut down. `device`: only that device's events.
  std::unique_ptr<EventSubscription> subscribe(std::optional<std::string> device = std::nullopt);

  // Ends every subscription and refuses new ones (broker stop).
  void shutdown();

  std::size_t open_streams() const;

 private:
  friend class EventSubscription;
  void deliver(EventKind kind, std::string_view device_id, const std::string& json);
  void unsubscribe(const std::shared_ptr<EventSubscription::State>& state);

  Limits limits_;
  Counter& streams_;
  Counter& dropped_;
  std::atomic<std::size_t> subscribers_{0};
  mutable std::mutex mu_;  // guards the two below
  std::vector<std::shared_ptr<EventSubscription::State>> subs_;
  bool stopped_ = false;
};

}  // namespace rs1
