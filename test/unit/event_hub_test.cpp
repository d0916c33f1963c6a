// The event hub behind GET /api/v1/events: bounded buffers, dropping a
// subscriber that fell behind, the stream limit, no work without
// subscribers, filters, and shutdown waking every waiter.
#include "runtime/event_hub.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

using namespace rs1;
using namespace std::chrono_literals;

namespace {

using EventBatch = std::vector<std::shared_ptr<const std::string>>;

EventBatch hub_take(EventSubscription& sub) {
  EventBatch out;
  sub.wait(out, 0ms);
  return out;
}

}  // namespace

TEST_CASE("event hub: no subscriber, no work, and events formatted once for all", "[events]") {
  MetricRegistry registry;
  EventHub hub(registry);
  int made = 0;
  auto make = [&] {
    ++made;
    return std::string("{\"n\":1}");
  };
  CHECK_FALSE(hub.active());
  hub.publish(EventKind::telemetry, "d1", make);
  CHECK(made == 0);

  auto a = hub.subscribe();
  auto b = hub.subscribe();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(hub.active());
  CHECK(registry.value("rs1_api_event_streams") == 2);
  hub.publish(EventKind::telemetry, "d1", make);
  CHECK(made == 1);
  EventBatch got_a = hub_take(*a), got_b = hub_take(*b);
  REQUIRE(got_a.size() == 1);
  REQUIRE(got_b.size() == 1);
  CHECK(got_a[0] == got_b[0]);  // one text, shared
  CHECK(*got_a[0] == "event: telemetry\ndata: {\"n\":1}\n\n");

  a.reset();
  CHECK(registry.value("rs1_api_event_streams") == 1);
  b.reset();
  CHECK_FALSE(hub.active());
  CHECK(registry.value("rs1_api_event_streams") == 0);
  hub.publish(EventKind::state, "d1", make);
  CHECK(made == 1);
}

TEST_CASE("event hub: a line break in the JSON continues in a new data line", "[events]") {
  MetricRegistry registry;
  EventHub hub(registry);
  auto sub = hub.subscribe();
  hub.publish(EventKind::state, "d", [] { return std::string("{\"a\":\r\n1}"); });
  auto got = hub_take(*sub);
  REQUIRE(got.size() == 1);
  CHECK(*got[0] == "event: state\ndata: {\"a\":\ndata: 1}\n\n");
}

TEST_CASE("event hub: the events' JSON", "[events]") {
  using nlohmann::json;
  CHECK(json::parse(presence_event_json("d-1", true)) ==
        json{{"device_id", "d-1"}, {"online", true}});
  CHECK(json::parse(presence_event_json("d\"2", false)) ==
        json{{"device_id", "d\"2"}, {"online", false}});
  CHECK(state_event_json("d", R"({"fw": "1.0"})") == R"({"device_id":"d","state":{"fw": "1.0"}})");
  CHECK(telemetry_event_json("d", "temp", 1700000000123, R"({"v":1})") ==
        R"({"device_id":"d","metric":"temp","received_at_ms":1700000000123,"payload":{"v":1}})");
}

TEST_CASE("event hub: a device filter and rollout events", "[events]") {
  MetricRegistry registry;
  EventHub hub(registry);
  auto all = hub.subscribe();
  auto one = hub.subscribe(std::string("d1"));
  hub.publish(EventKind::presence, "d1", [] { return std::string("1"); });
  hub.publish(EventKind::presence, "d2", [] { return std::string("2"); });
  hub.publish(EventKind::rollout, "", [] { return std::string("3"); });
  CHECK(hub_take(*all).size() == 3);
  auto got = hub_take(*one);
  REQUIRE(got.size() == 1);
  CHECK(*got[0] == "event: presence\ndata: 1\n\n");
}

TEST_CASE("event hub: a full buffer drops its subscriber, never the others", "[events]") {
  const bool by_bytes = GENERATE(false, true);
  CAPTURE(by_bytes);
  MetricRegistry registry;
  EventHub::Limits limits;
  limits.max_events = by_bytes ? 1000 : 4;
  limits.max_bytes = by_bytes ? 100 : 1 << 20;
  EventHub hub(registry, limits);
  auto slow = hub.subscribe();
  auto fast = hub.subscribe();
  const std::string data(20, 'x');  // 42 bytes formatted
  auto publish = [&] { hub.publish(EventKind::telemetry, "d", [&] { return data; }); };
  const int fits = by_bytes ? 2 : 4;
  for (int i = 0; i < fits; ++i) {
    publish();
    CHECK(hub_take(*fast).size() == 1);
  }
  CHECK(registry.value("rs1_api_event_streams_dropped_total") == 0);
  publish();  // one too many for `slow`
  CHECK(hub_take(*fast).size() == 1);
  CHECK(registry.value("rs1_api_event_streams_dropped_total") == 1);
  CHECK(registry.value("rs1_api_event_streams") == 1);
  EventBatch out;
  CHECK(slow->wait(out, 0ms) == EventSubscription::Wait::ended);
  CHECK(out.empty());  // what it had is gone with it
  publish();
  CHECK(hub_take(*fast).size() == 1);
  slow.reset();  // no double count
  CHECK(registry.value("rs1_api_event_streams") == 1);
  CHECK(registry.value("rs1_api_event_streams_dropped_total") == 1);
}

TEST_CASE("event hub: at most max_streams subscriptions", "[events]") {
  MetricRegistry registry;
  EventHub hub(registry);
  std::vector<std::unique_ptr<EventSubscription>> subs;
  for (int i = 0; i < 64; ++i) {
    subs.push_back(hub.subscribe());
    REQUIRE(subs.back());
  }
  CHECK_FALSE(hub.subscribe());
  CHECK(registry.value("rs1_api_event_streams") == 64);
  subs.pop_back();
  CHECK(hub.subscribe());  // freed again at once (the temporary goes)
  CHECK(hub.open_streams() == 63);
}

TEST_CASE("event hub: waiting times out, wakes for an event, and shutdown wakes everyone",
          "[events]") {
  MetricRegistry registry;
  EventHub hub(registry);
  auto sub = hub.subscribe();
  EventBatch out;
  CHECK(sub->wait(out, 20ms) == EventSubscription::Wait::timeout);

  std::thread publisher([&] {
    std::this_thread::sleep_for(50ms);
    hub.publish(EventKind::state, "d", [] { return std::string("{}"); });
  });
  auto t0 = std::chrono::steady_clock::now();
  auto got = sub->wait(out, 10s);
  publisher.join();
  CHECK(got == EventSubscription::Wait::events);
  CHECK(out.size() == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);

  std::vector<std::unique_ptr<EventSubscription>> waiting;
  for (int i = 0; i < 4; ++i) waiting.push_back(hub.subscribe());
  std::vector<EventSubscription::Wait> results(4, EventSubscription::Wait::timeout);
  std::vector<std::thread> threads;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      EventBatch mine;
      results[i] = waiting[i]->wait(mine, 30s);
    });
  }
  std::this_thread::sleep_for(50ms);
  hub.shutdown();
  for (auto& t : threads) t.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  for (auto r : results) CHECK(r == EventSubscription::Wait::ended);
  CHECK_FALSE(hub.subscribe());
  CHECK(registry.value("rs1_api_event_streams") == 0);
}
