// The event hub (see event_hub.hpp). Lock order: the hub's, then a
// subscriber's; a waiting HTTP thread holds only its subscriber's.
#include "runtime/event_hub.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace rs1 {

struct EventSubscription::State {
  std::optional<std::string> device;
  std::mutex mu;  // guards the four below
  std::condition_variable cv;
  std::deque<std::shared_ptr<const std::string>> queue;
  std::size_t bytes = 0;
  bool ended = false;
};

namespace {

std::string event_quoted(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string presence_event_json(std::string_view device_id, bool online) {
  return "{\"device_id\":" + event_quoted(device_id) +
         ",\"online\":" + (online ? "true" : "false") + "}";
}

std::string state_event_json(std::string_view device_id, std::string_view state) {
  std::string out = "{\"device_id\":" + event_quoted(device_id) + ",\"state\":";
  out.append(state.data(), state.size());
  out += '}';
  return out;
}

std::string telemetry_event_json(std::string_view device_id, std::string_view metric,
                                 std::int64_t received_at_ms, std::string_view payload) {
  std::string out = "{\"device_id\":" + event_quoted(device_id) +
                    ",\"metric\":" + event_quoted(metric) +
                    ",\"received_at_ms\":" + std::to_string(received_at_ms) + ",\"payload\":";
  out.append(payload.data(), payload.size());
  out += '}';
  return out;
}

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::presence:
      return "presence";
    case EventKind::state:
      return "state";
    case EventKind::telemetry:
      return "telemetry";
    case EventKind::rollout:
      return "rollout";
  }
  return "unknown";
}

EventHub::EventHub(MetricRegistry& registry, Limits limits)
    : limits_(limits),
      streams_(registry.gauge("rs1_api_event_streams", "Open GET /api/v1/events streams.")),
      dropped_(
          registry.counter("rs1_api_event_streams_dropped_total",
                           "Event streams ended because the client fell behind (buffer full).")) {}

EventHub::~EventHub() { shutdown(); }

std::unique_ptr<EventSubscription> EventHub::subscribe(std::optional<std::string> device) {
  auto state = std::make_shared<EventSubscription::State>();
  state->device = std::move(device);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || subs_.size() >= limits_.max_streams) return nullptr;
  subs_.push_back(state);
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
  streams_.store(subs_.size(), std::memory_order_relaxed);
  return std::unique_ptr<EventSubscription>(new EventSubscription(*this, std::move(state)));
}

void EventHub::unsubscribe(const std::shared_ptr<EventSubscription::State>& state) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find(subs_.begin(), subs_.end(), state);
  if (it == subs_.end()) return;  // dropped or shut down already
  subs_.erase(it);
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
  streams_.store(subs_.size(), std::memory_order_relaxed);
}

void EventHub::deliver(EventKind kind, std::string_view device_id, const std::string& json) {
  std::string text;
  text.reserve(json.size() + 24);
  text += "event: ";
  text += event_kind_name(kind);
  text += "\ndata: ";
  // A data line ends at a line break: JSON whitespace that is one goes on
  // in a new data line (the client joins them with "\n").
  for (char c : json) {
    if (c == '\n') {
      text += "\ndata: ";
    } else if (c != '\r') {
      text += c;
    }
  }
  text += "\n\n";
  const auto event = std::make_shared<const std::string>(std::move(text));
  std::lock_guard<std::mutex> lock(mu_);
  bool dropped_any = false;
  for (auto& sub : subs_) {
    if (sub->device && (device_id.empty() || *sub->device != device_id)) continue;
    std::lock_guard<std::mutex> sub_lock(sub->mu);
    if (sub->queue.size() >= limits_.max_events || sub->bytes + event->size() > limits_.max_bytes) {
      sub->queue.clear();
      sub->bytes = 0;
      sub->ended = true;
      dropped_any = true;
    } else {
      sub->queue.push_back(event);
      sub->bytes += event->size();
    }
    sub->cv.notify_one();
  }
  if (!dropped_any) return;
  const std::size_t before = subs_.size();
  subs_.erase(std::remove_if(subs_.begin(), subs_.end(),
                             [](const std::shared_ptr<EventSubscription::State>& s) {
                               std::lock_guard<std::mutex> l(s->mu);
                               return s->ended;
                             }),
              subs_.end());
  dropped_.fetch_add(before - subs_.size(), std::memory_order_relaxed);
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
  streams_.store(subs_.size(), std::memory_order_relaxed);
}

void EventHub::shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  for (auto& sub : subs_) {
    std::lock_guard<std::mutex> sub_lock(sub->mu);
    sub->ended = true;
    sub->cv.notify_all();
  }
  subs_.clear();
  subscribers_.store(0, std::memory_order_relaxed);
  streams_.store(0, std::memory_order_relaxed);
}

std::size_t EventHub::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subs_.size();
}

EventSubscription::~EventSubscription() { hub_.unsubscribe(state_); }

EventSubscription::Wait EventSubscription::wait(
    std::vector<std::shared_ptr<const std::string>>& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait_for(lock, timeout, [&] { return state_->ended || !state_->queue.empty(); });
  if (!state_->queue.empty()) {
    for (auto& e : state_->queue) out.push_back(std::move(e));
    state_->queue.clear();
    state_->bytes = 0;
    return Wait::events;
  }
  return state_->ended ? Wait::ended : Wait::timeout;
}

}  // namespace rs1
