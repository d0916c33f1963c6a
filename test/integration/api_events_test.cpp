// GET /api/v1/events (SPEC §10) against a real broker: presence, state,
// telemetry and rollout events of real MQTT devices, the device filter, the
// 64-stream limit, and a reader that stops reading: it is dropped and never
// delays MQTT delivery between other clients. Streams are read on raw
// sockets by helper threads; every assertion stays on the test thread.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api_harness.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct SseEvent {
  std::string kind;
  json data;
};

// One GET /api/v1/events on a raw socket from `from` (a loopback address:
// the listener allows 32 connections per address). With `read`, a thread
// reads everything that comes; without, nobody reads (a stalled client).
class EventStreamClient {
 public:
  EventStreamClient(int port, const std::string& path, const std::string& token,
                    const std::string& from = "127.0.0.1", bool read = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!read) {
      int small = 2048;  // so the server's writes back up soon
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, from.c_str(), &local.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                "Authorization: Bearer " + token + "\r\n\r\n";
    if (connected_)
      connected_ = ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
                   static_cast<ssize_t>(request.size());
    if (read && connected_) reader_ = std::thread([this] { read_all(); });
  }
  ~EventStreamClient() {
    ::shutdown(fd_, SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    ::close(fd_);
  }
  EventStreamClient(const EventStreamClient&) = delete;
  EventStreamClient& operator=(const EventStreamClient&) = delete;

  bool connected() const { return connected_; }
  std::string raw() {
    std::lock_guard<std::mutex> lock(mu_);
    return raw_;
  }
  // Waits until what arrived satisfies `pred` (or the stream ended).
  bool wait(const std::function<bool(EventStreamClient&)>& pred, Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred(*this)) {
      std::unique_lock<std::mutex> lock(mu_);
      if (closed_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        lock.unlock();
        return pred(*this);
      }
    }
    return true;
  }
  bool has_head() { return raw().find("\r\n\r\n") != std::string::npos; }
  std::string head() {
    std::string r = raw();
    return r.substr(0, r.find("\r\n\r\n"));
  }
  int status() {
    std::string h = head();
    return h.size() > 12 ? std::atoi(h.c_str() + 9) : 0;
  }
  // The body (chunked transfer coding undone) as events; comments apart.
  std::vector<SseEvent> events() {
    std::string r = raw();
    auto at = r.find("\r\n\r\n");
    if (at == std::string::npos) return {};
    std::string body;
    for (std::size_t pos = at + 4;;) {
      auto eol = r.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const std::size_t n = std::strtoul(r.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (n == 0 || eol + 2 + n > r.size()) break;
      body += r.substr(eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    std::vector<SseEvent> out;
    for (std::size_t pos = 0;;) {
      auto end = body.find("\n\n", pos);
      if (end == std::string::npos) break;
      std::string block = body.substr(pos, end - pos);
      pos = end + 2;
      SseEvent e;
      std::string data;
      std::size_t line_at = 0;
      while (line_at <= block.size()) {
        auto nl = block.find('\n', line_at);
        std::string line =
            block.substr(line_at, nl == std::string::npos ? std::string::npos : nl - line_at);
        if (line.rfind("event: ", 0) == 0) e.kind = line.substr(7);
        if (line.rfind("data: ", 0) == 0) data += (data.empty() ? "" : "\n") + line.substr(6);
        if (nl == std::string::npos) break;
        line_at = nl + 1;
      }
      if (e.kind.empty()) continue;  // ": keepalive"
      e.data = json::parse(data, nullptr, false);
      out.push_back(std::move(e));
    }
    return out;
  }
  std::size_t count(const std::string& kind, const json& subset) {
    std::size_t n = 0;
    for (const auto& e : events()) {
      if (e.kind != kind || !e.data.is_object()) continue;
      bool all = true;
      for (auto& [k, v] : subset.items()) all = all && e.data.contains(k) && e.data[k] == v;
      n += all;
    }
    return n;
  }

 private:
  void read_all() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      std::lock_guard<std::mutex> lock(mu_);
      if (n <= 0) {
        closed_ = true;
        cv_.notify_all();
        return;
      }
      raw_.append(buf, static_cast<std::size_t>(n));
      cv_.notify_all();
    }
  }

  int fd_ = -1;
  bool connected_ = false;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string raw_;
  bool closed_ = false;
};

std::uint64_t events_metric(const Api& api, const std::string& name) {
  auto r = api.client().Get("/metrics");
  if (!r || r->status != 200) return ~0ull;
  auto at = r->body.find("\n" + name + " ");
  if (at == std::string::npos) return ~0ull;
  return std::stoull(r->body.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("api events: presence, state, telemetry and rollout events, the filter, the limit",
          "[api]") {
  Api api({{"api_rate_limit_per_min", "0"}, {"ingest_flush_ms", "20"}});
  Account svc = api.fleet.add_account("svc", Role::service);
  Device d1 = api.fleet.add_device("ev-d1");
  Device d2 = api.fleet.add_device("ev-d2");
  const std::string token = api.token(svc);

  // Unauthenticated: the stage answers, no stream.
  check_problem(api.call("GET", "/api/v1/events", {}), 401);
  check_problem(api.call("GET", "/api/v1/events?device=", bearer(token)), 400);

  EventStreamClient all(api.http_port, "/api/v1/events", token);
  EventStreamClient only_d2(api.http_port, "/api/v1/events?device=ev-d2", token);
  REQUIRE(all.wait([](EventStreamClient& s) { return s.has_head(); }, 5s));
  REQUIRE(only_d2.wait([](EventStreamClient& s) { return s.has_head(); }, 5s));
  CHECK(all.status() == 200);
  CHECK_THAT(all.head(), Catch::Contains("Content-Type: text/event-stream"));
  CHECK_THAT(all.head(), Catch::Contains("Transfer-Encoding: chunked"));
  CHECK(events_metric(api, "rs1_api_event_streams") == 2);

  auto c1 = connect_device(api.broker, d1);
  auto c2 = connect_device(api.broker, d2);
  REQUIRE(c1->publish("opticworks/ev-d1/state", R"({"firmware_version":"1.0.0","rssi": -61})", 1) ==
          0);
  REQUIRE(c1->publish("opticworks/ev-d1/telemetry/temp", R"({"v":21.5})", 1) == 0);
  REQUIRE(c2->publish("opticworks/ev-d2/telemetry/hum", R"({"v":40})", 1) == 0);
  c1->disconnect();
  CHECK(all.wait(
      [](EventStreamClient& s) {
        return s.count("presence", {{"device_id", "ev-d1"}, {"online", false}}) == 1;
      },
      5s));
  CHECK(all.count("presence", {{"device_id", "ev-d1"}, {"online", true}}) == 1);
  CHECK(all.count("presence", {{"device_id", "ev-d2"}, {"online", true}}) == 1);
  CHECK(all.count("state", {{"device_id", "ev-d1"},
                            {"state", {{"firmware_version", "1.0.0"}, {"rssi", -61}}}}) == 1);
  CHECK(all.count("telemetry",
                  {{"device_id", "ev-d1"}, {"metric", "temp"}, {"payload", {{"v", 21.5}}}}) == 1);
  CHECK(all.count("telemetry",
                  {{"device_id", "ev-d2"}, {"metric", "hum"}, {"payload", {{"v", 40}}}}) == 1);
  // received_at_ms is the stored row's.
  for (const auto& e : all.events()) {
    if (e.kind != "telemetry" || e.data["device_id"] != "ev-d1") continue;
    REQUIRE(wait_until([&] { return api.fleet.telemetry("ev-d1", "temp").size() == 1; }, 5s));
    auto rows = api.fleet.telemetry("ev-d1", "temp");
    CHECK(e.data["received_at_ms"] == rows[0].received_at_ms);
  }
  // Order of one device's events is the order they happened.
  std::vector<std::string> d1_kinds;
  for (const auto& e : all.events()) {
    if (e.data.value("device_id", "") == "ev-d1") d1_kinds.push_back(e.kind);
  }
  CHECK(d1_kinds == std::vector<std::string>{"presence", "state", "telemetry", "presence"});
  // The filter: ev-d2's events only.
  CHECK(only_d2.wait(
      [](EventStreamClient& s) {
        return s.count("telemetry", {{"device_id", "ev-d2"}}) == 1;
      },
      5s));
  for (const auto& e : only_d2.events()) CHECK(e.data["device_id"] == "ev-d2");
  CHECK(only_d2.events().size() == 2);  // presence, telemetry

  // A rollout: its status document when ev-d2 is triggered.
  REQUIRE(c2->subscribe("opticworks/ev-d2/ota/trigger", 1) == 1);
  const std::string image_path = api.broker.dir() + "/fw.bin";
  {
    std::ofstream image(image_path, std::ios::binary);
    image << std::string(1000, 'f');
  }
  auto added = api_ctl(api.broker.db_path(), {"firmware", "add", image_path, "--version", "2.0.0"});
  INFO(added.err);
  REQUIRE(added.exit_code == 0);
  auto created = api_ctl(api.broker.db_path(), {"--json", "rollout", "create", "--version", "2.0.0",
                                                "--devices", "ev-d2", "--stages", "100"});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  const std::int64_t rollout_id = json::parse(created.out)["rollout_id"];
  REQUIRE(c2->wait_for_message(5s));  // the trigger
  CHECK(all.wait(
      [&](EventStreamClient& s) {
        return s.count("rollout",
                       {{"rollout_id", rollout_id}, {"state", "running"}, {"version", "2.0.0"}}) >=
               1;
      },
      5s));
  for (const auto& e : all.events()) {
    if (e.kind != "rollout") continue;
    CHECK(e.data.contains("counts"));
    CHECK(e.data.contains("stages"));
    CHECK_FALSE(e.data.contains("devices"));
  }
  CHECK(all.wait(
      [&](EventStreamClient& s) {
        for (const auto& e : s.events()) {
          if (e.kind == "rollout" && e.data["counts"]["triggered"] == 1) return true;
        }
        return false;
      },
      5s));
  for (const auto& e : only_d2.events()) CHECK(e.kind != "rollout");

  // 64 streams at most: 62 more (from other loopback addresses, 15 per
  // address at most), then the 65th is refused before it is counted.
  std::vector<std::unique_ptr<EventStreamClient>> more;
  for (int i = 0; i < 62; ++i) {
    more.push_back(std::make_unique<EventStreamClient>(api.http_port, "/api/v1/events", token,
                                                       "127.0.0." + std::to_string(2 + i / 15)));
    REQUIRE(more.back()->connected());
  }
  for (auto& s : more) {
    REQUIRE(s->wait([](EventStreamClient& c) { return c.has_head(); }, 10s));
    CHECK(s->status() == 200);
  }
  CHECK(events_metric(api, "rs1_api_event_streams") == 64);
  auto refused = api.call("GET", "/api/v1/events", bearer(token));
  check_problem(refused, 503);
  CHECK(events_metric(api, "rs1_api_event_streams") == 64);
  // The 64 still stream: one more event reaches the last one.
  REQUIRE(c2->publish("opticworks/ev-d2/telemetry/hum", R"({"v":41})", 1) == 0);
  CHECK(more.back()->wait(
      [](EventStreamClient& s) {
        return s.count("telemetry", {{"payload", {{"v", 41}}}}) == 1;
      },
      5s));
  CHECK(events_metric(api, "rs1_api_event_streams_dropped_total") == 0);
}

TEST_CASE("api events: a reader that stops reading is dropped and never delays MQTT", "[api]") {
  Api api({{"api_rate_limit_per_min", "0"}, {"rate_limit_per_min", "0"}});
  Account svc = api.fleet.add_account("svc", Role::service);
  Device flood = api.fleet.add_device("ev-flood");
  Device probe = api.fleet.add_device("ev-probe");
  const std::string token = api.token(svc);

  EventStreamClient stalled(api.http_port, "/api/v1/events", token, "127.0.0.1", false);
  REQUIRE(stalled.connected());
  EventStreamClient probe_events(api.http_port, "/api/v1/events?device=ev-probe", token);
  REQUIRE(probe_events.wait([](EventStreamClient& s) { return s.has_head(); }, 5s));
  REQUIRE(wait_until([&] { return events_metric(api, "rs1_api_event_streams") == 2; }, 5s));

  auto flooder = connect_device(api.broker, flood);
  auto prober = connect_device(api.broker, probe);
  auto watcher = connect_account(api.broker, svc);
  REQUIRE(watcher->subscribe("opticworks/ev-probe/telemetry/#", 1) == 1);

  // A round trip device -> broker -> service, measured between bursts of
  // 1 kB telemetry from another device that the stalled stream cannot take.
  const std::string big = json{{"blob", std::string(1000, 'z')}}.dump();
  auto round_trip = [&](int n) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::chrono::milliseconds lost = 99s;
    if (prober->publish("opticworks/ev-probe/telemetry/rtt", json{{"n", n}}.dump(), 0) != 0)
      return lost;
    auto m = watcher->wait_for_message(10s);
    if (!m || json::parse(m->payload)["n"] != n) return lost;
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0);
  };
  const auto baseline = round_trip(0);
  std::chrono::milliseconds worst{0};
  const int bursts = 8, per_burst = 500;
  for (int b = 1; b <= bursts; ++b) {
    for (int i = 0; i < per_burst; ++i) {
      REQUIRE(flooder->publish("opticworks/ev-flood/telemetry/blob", big, 0) == 0);
    }
    worst = std::max(worst, round_trip(b));
  }
  // Every flood message went through (the writer took them).
  CHECK(wait_until([&] { return api.fleet.telemetry_count("ev-flood") == bursts * per_burst; }, 20s,
                   100ms));
  WARN("round trip: baseline " << baseline.count() << " ms, worst during the flood "
                               << worst.count() << " ms");
  CHECK(worst < 1000ms);
  CHECK(wait_until([&] { return events_metric(api, "rs1_api_event_streams_dropped_total") == 1; },
                   5s));
  CHECK(events_metric(api, "rs1_api_event_streams") == 1);
  // The reading stream was not dropped and missed nothing.
  CHECK(probe_events.wait(
      [&](EventStreamClient& s) {
        return s.count("telemetry", {{"metric", "rtt"}}) == bursts + 1;
      },
      5s));
}
