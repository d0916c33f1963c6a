// SPEC §3/§9 HTTP listener against the real broker: GET /metrics in
// Prometheus text with counters that follow what clients do, GET /healthz
// through a failing disk, and a busy HTTP port at start.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"
#include "http/http_listener.hpp"
#include "http/ops_routes.hpp"
#include "http/routes.hpp"
#include "runtime/metrics.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

constexpr int kRefusedV5 = 0x87;

// A broker configuration with the HTTP listener on a free loopback port.
struct HttpConfig {
  int http_port = free_port();
  BrokerConfig config;
  explicit HttpConfig(std::vector<std::pair<std::string, std::string>> more = {}) {
    config.plugin_options = {{"http_listen", "127.0.0.1:" + std::to_string(http_port)}};
    config.plugin_options.insert(config.plugin_options.end(), more.begin(), more.end());
  }
};

struct Response {
  int status = 0;  // 0: no answer
  std::string content_type;
  std::string body;
};

Response http_get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path.c_str());
  Response r;
  if (!res) return r;
  r.status = res->status;
  r.content_type = res->get_header_value("Content-Type");
  r.body = res->body;
  return r;
}

// Sample lines of a Prometheus text page: "name{labels}" -> value.
std::map<std::string, double> parse_samples(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

class MetricsPage {
 public:
  explicit MetricsPage(int port) : port_(port) {}

  // One scrape; the test fails unless it is a 200 text page.
  std::map<std::string, double> scrape() {
    Response r = http_get(port_, "/metrics");
    INFO("GET /metrics: " << r.status << "\n" << r.body);
    REQUIRE(r.status == 200);
    last_ = r.body;
    return parse_samples(r.body);
  }
  double value(const std::string& sample) {
    auto samples = scrape();
    auto it = samples.find(sample);
    INFO("GET /metrics:\n" << last_);
    REQUIRE(it != samples.end());
    return it->second;
  }
  // Waits (2 s) until `sample` reads `expected`; the counters move on the
  // broker thread or the writer, a little after what the client saw.
  bool reaches(const std::string& sample, double expected) {
    double seen = -1;
    bool ok = wait_until(
        [&] {
          seen = value(sample);
          return seen == expected;
        },
        2s, 20ms);
    UNSCOPED_INFO(sample << " is " << seen << ", expected " << expected);
    return ok;
  }
  const std::string& last_page() const { return last_; }

 private:
  int port_;
  std::string last_;
};

const char* const kDropped = "rs1_messages_dropped_total{reason=\"";
std::string dropped(const std::string& reason) { return kDropped + reason + "\"}"; }

// What differs between two scrapes, for the samples that are not `except`.
std::vector<std::string> moved(const std::map<std::string, double>& before,
                               const std::map<std::string, double>& after,
                               const std::vector<std::string>& except) {
  std::vector<std::string> out;
  for (const auto& [name, value] : after) {
    if (std::find(except.begin(), except.end(), name) != except.end()) continue;
    auto it = before.find(name);
    if (it == before.end() || it->second != value) out.push_back(name);
  }
  return out;
}

}  // namespace

TEST_CASE("http: /metrics is Prometheus text with every metric of SPEC §9", "[http][metrics]") {
  HttpConfig h;
  BrokerRunner broker(h.config);
  Response r = http_get(h.http_port, "/metrics");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(contains(r.content_type, "text/plain"));
  auto samples = parse_samples(r.body);

  const std::pair<const char*, const char*> metrics[] = {
      {"rs1_devices_online", "gauge"},
      {"rs1_connections_total", "counter"},
      {"rs1_auth_failures_total", "counter"},
      {"rs1_acl_denials_total", "counter"},
      {"rs1_messages_received_total", "counter"},
      {"rs1_messages_dropped_total", "counter"},
      {"rs1_telemetry_rows_written_total", "counter"},
      {"rs1_ingest_queue_depth", "gauge"},
      {"rs1_ota_triggers_total", "counter"},
  };
  for (const auto& [name, type] : metrics) {
    CAPTURE(name);
    CHECK(contains(r.body, std::string("# TYPE ") + name + " " + type + "\n"));
    CHECK(contains(r.body, std::string("# HELP ") + name + " "));
    if (std::string(name) != "rs1_messages_dropped_total") {
      REQUIRE(samples.count(name) == 1);
      CHECK(samples[name] == 0);  // a fresh broker
    }
  }
  // Every drop reason of SPEC §5, each its own series from the start.
  for (const std::string reason :
       {"not_json_object", "too_large", "invalid_schema", "rate_limited", "queue_full"}) {
    CAPTURE(reason);
    REQUIRE(samples.count(dropped(reason)) == 1);
    CHECK(samples[dropped(reason)] == 0);
  }

  // And the health check of a healthy broker.
  Response health = http_get(h.http_port, "/healthz");
  CHECK(health.status == 200);
  // Only those two paths.
  CHECK(http_get(h.http_port, "/nothing").status == 404);
}

TEST_CASE("http: /metrics follows logins, failures, denials, drops and written rows",
          "[http][metrics]") {
  HttpConfig h(
      {{"max_payload_bytes", "256"}, {"rate_limit_per_min", "20"}, {"ingest_flush_ms", "50"}});
  BrokerRunner broker(h.config);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Device loud = fleet.add_device("dev-r");
  MetricsPage m(h.http_port);
  REQUIRE(m.value("rs1_devices_online") == 0);
  const double connections0 = m.value("rs1_connections_total");

  // A login.
  auto c = connect_device(broker, dev, Protocol::v5);
  CHECK(m.reaches("rs1_devices_online", 1));
  CHECK(m.reaches("rs1_connections_total", connections0 + 1));

  // A refused login: one auth failure, nothing else.
  auto before = m.scrape();
  {
    MqttClient impostor(dev.id, Protocol::v5);
    impostor.credentials(dev.id, dev.password(-3));
    CHECK(impostor.connect(broker.port()) == kRefusedV5);
  }
  CHECK(m.reaches("rs1_auth_failures_total", before["rs1_auth_failures_total"] + 1));
  CHECK(m.value("rs1_devices_online") == 1);
  CHECK(m.value("rs1_connections_total") == connections0 + 1);

  // A denied publish.
  before = m.scrape();
  CHECK(c->publish("opticworks/dev-b/state", R"({"x":1})", 1) == kRefusedV5);
  CHECK(m.reaches("rs1_acl_denials_total", before["rs1_acl_denials_total"] + 1));

  // Invalid and oversized payloads: each counted under its own reason only.
  before = m.scrape();
  CHECK(c->publish("opticworks/dev-a/telemetry/t", "not json", 1) == kRefusedV5);
  CHECK(c->publish("opticworks/dev-a/telemetry/t", "[1,2,3]", 1) == kRefusedV5);
  CHECK(m.reaches(dropped("not_json_object"), before[dropped("not_json_object")] + 2));
  const std::string big = json{{"pad", std::string(300, 'x')}}.dump();
  CHECK(c->publish("opticworks/dev-a/telemetry/t", big, 1) == kRefusedV5);
  CHECK(m.reaches(dropped("too_large"), before[dropped("too_large")] + 1));
  {
    auto after = m.scrape();
    INFO(m.last_page());
    CHECK(moved(before, after,
                {dropped("not_json_object"), dropped("too_large"), "rs1_messages_received_total"})
              .empty());
  }

  // N telemetry rows, then the barrier's: rows_written moves by N + 1.
  constexpr int kRows = 8;
  before = m.scrape();
  for (int i = 0; i < kRows; ++i) {
    CHECK(c->publish("opticworks/dev-a/telemetry/t", json{{"i", i}}.dump(), 1) != kRefusedV5);
  }
  REQUIRE(writer_barrier(*c, fleet, dev.id));
  CHECK(m.reaches("rs1_telemetry_rows_written_total",
                  before["rs1_telemetry_rows_written_total"] + kRows + 1));
  CHECK(m.reaches("rs1_ingest_queue_depth", 0));
  {
    auto after = m.scrape();
    CHECK(after["rs1_messages_received_total"] >=
          before["rs1_messages_received_total"] + kRows + 1);
    CHECK(after["rs1_messages_received_total"] <=
          before["rs1_messages_received_total"] + kRows + 2);
  }

  // Over the rate limit: every refusal is one rate_limited drop.
  auto r = connect_device(broker, loud, Protocol::v5);
  CHECK(m.reaches("rs1_devices_online", 2));
  before = m.scrape();
  int refused = 0;
  for (int i = 0; i < 25; ++i) {
    int rc = r->publish("opticworks/dev-r/telemetry/t", json{{"i", i}}.dump(), 1);
    if (rc == kRefusedV5) ++refused;
  }
  CHECK(refused >= 5);
  CHECK(m.reaches(dropped("rate_limited"), before[dropped("rate_limited")] + refused));
  CHECK(m.value(dropped("not_json_object")) == before[dropped("not_json_object")]);
  CHECK(m.value("rs1_ota_triggers_total") == 0);

  // Disconnects.
  r->disconnect();
  CHECK(m.reaches("rs1_devices_online", 1));
  c->kill_network();
  CHECK(m.reaches("rs1_devices_online", 0));
  CHECK(m.value("rs1_connections_total") == connections0 + 2);
}

TEST_CASE("http: /healthz is 503 with a reason while database writes fail, 200 again after",
          "[http][health][disk]") {
  HttpConfig h({{"rate_limit_per_min", "0"}, {"ingest_flush_ms", "50"}});
  h.config.file_size_limit = 2 * 1024 * 1024;  // the WAL cannot grow past 2 MiB
  BrokerRunner broker(h.config);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto c = connect_device(broker, dev, Protocol::v5);
  {
    Response ok = http_get(h.http_port, "/healthz");
    INFO(ok.body);
    CHECK(ok.status == 200);
  }

  std::size_t published = fill_until_writes_fail(broker, fleet, *c, dev.id);

  Response sick;
  CHECK(wait_until(
      [&] {
        sick = http_get(h.http_port, "/healthz");
        return sick.status == 503;
      },
      3s, 50ms));
  INFO("GET /healthz: " << sick.status << " " << sick.body);
  CHECK(sick.status == 503);
  std::string reason = sick.body;
  reason.erase(std::remove_if(reason.begin(), reason.end(), ::isspace), reason.end());
  CHECK_FALSE(reason.empty());
  CHECK(reason != "ok");
  // /metrics still answers, and logins go on.
  CHECK(http_get(h.http_port, "/metrics").status == 200);
  CHECK(broker.running());

  // The disk comes back.
  struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  if (prlimit(broker.pid(), RLIMIT_FSIZE, &unlimited, nullptr) != 0) {
    const int err = errno;
    if (err == EPERM) {
      WARN("SKIPPED the recovery half: prlimit on the broker is not permitted here ("
           << std::strerror(err) << "); run as root or with CAP_SYS_RESOURCE");
      return;
    }
    FAIL("prlimit: " << std::strerror(err));
  }
  Response well;
  CHECK(wait_until(
      [&] {
        well = http_get(h.http_port, "/healthz");
        return well.status == 200;
      },
      20s, 50ms));
  INFO("GET /healthz: " << well.status << " " << well.body);
  CHECK(well.status == 200);
  CHECK(wait_until([&] { return fleet.telemetry_count(dev.id) == published; }, 20s, 50ms));
}

TEST_CASE("http: a busy HTTP port stops the broker at start with one line naming the address",
          "[http][startup]") {
  // Someone else listens on the port first.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string where = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  BrokerRunner broker(opts({{"http_listen", where}}), BrokerRunner::Start::later);
  expect_startup_failure(broker, {where});
  ::close(fd);
}

// ---------------------------------------------------------------- limits

namespace {

// A raw TCP connection to the HTTP port, from `source` (any 127.x.y.z is on
// loopback), for what httplib::Client will not do: dribble a request, send
// 60 MB of headers, or say nothing at all.
class RawHttp {
 public:
  RawHttp(int port, const char* source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawHttp() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawHttp(const RawHttp&) = delete;
  RawHttp& operator=(const RawHttp&) = delete;

  bool ok() const { return fd_ >= 0; }
  // False once the peer is gone (EPIPE, ECONNRESET) or the send timed out.
  bool send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Something to read, or the end of the stream, within `timeout`.
  bool readable(Millis timeout) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }
  // Everything until the server closes the connection (true), or until
  // `timeout` passes with the connection still open (false).
  bool read_until_closed(Millis timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<Millis>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !readable(left)) return false;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
      received_.append(buf, static_cast<std::size_t>(n));
    }
  }
  // The status of the first answer read so far, 0 if none.
  int status() const {
    if (received_.compare(0, 9, "HTTP/1.1 ") != 0 || received_.size() < 12) return 0;
    return std::atoi(received_.substr(9, 3).c_str());
  }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  std::string received_;
};

// GET `path` on a raw connection from `source`: the status, 0 for no
// answer within 5 s.
int raw_get(int port, const std::string& path, const char* source) {
  RawHttp c(port, source);
  if (!c.ok() || !c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) {
    return 0;
  }
  c.read_until_closed(5s);
  return c.status();
}

// The resident set of a process in KiB (VmRSS of /proc/<pid>/status).
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

TEST_CASE(
    "http: ten clients dribbling header lines neither starve /metrics and /healthz "
    "nor outlast the request-head deadline",
    "[http][limits]") {
  HttpConfig h;
  BrokerRunner broker(h.config);
  constexpr int kSlow = 10;
  std::vector<std::unique_ptr<RawHttp>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawHttp>(h.http_port));
    REQUIRE(slow.back()->ok());
    REQUIRE(slow.back()->send("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
  }
  const auto started = Clock::now();
  // One header line every 2 s on each, well inside any per-read timeout, until
  // the server answers or closes.
  std::atomic<bool> stop{false};
  std::thread dribbler([&] {
    for (int line = 0; !stop; ++line) {
      for (auto& c : slow) {
        if (!c->readable(0ms)) c->send("X-Slow-" + std::to_string(line) + ": 1\r\n");
      }
      for (int i = 0; i < 20 && !stop; ++i) std::this_thread::sleep_for(100ms);
    }
  });
  struct StopDribbler {
    std::atomic<bool>& stop;
    std::thread& t;
    ~StopDribbler() {
      stop = true;
      t.join();
    }
  } stop_dribbler{stop, dribbler};

  std::this_thread::sleep_for(3s);  // every slow connection is being served by now
  for (int round = 0; round < 3; ++round) {
    for (const std::string path : {"/metrics", "/healthz"}) {
      CAPTURE(round, path);
      auto t = Clock::now();
      Response r = http_get(h.http_port, path);
      const double took = seconds_since(t);
      CHECK(r.status == 200);
      CHECK(took < 2.0);
    }
  }
  // The slow ones are still held (they are under the per-address cap) …
  std::size_t open_now = 0;
  for (auto& c : slow) open_now += c->readable(0ms) ? 0 : 1;
  CHECK(open_now == kSlow);
  // … and cut off once their head has taken 10 s, however often they send.
  std::size_t cut_off = 0, timed_out = 0;
  for (auto& c : slow) {
    auto left = std::chrono::duration_cast<Millis>(started + 14s - Clock::now());
    if (c->read_until_closed(std::max(left, Millis(0)))) ++cut_off;
    if (c->status() == 408) ++timed_out;
  }
  INFO("cut off after " << seconds_since(started) << " s");
  CHECK(cut_off == kSlow);
  CHECK(timed_out == kSlow);
  CHECK(seconds_since(started) >= 8.0);
}

TEST_CASE("http: a request with 60 MB of headers is refused with 431 and does not grow the broker",
          "[http][limits]") {
  HttpConfig h;
  BrokerRunner broker(h.config);
  REQUIRE(http_get(h.http_port, "/metrics").status == 200);  // threads and pages warmed up
  const long before = rss_kib(broker.pid());
  REQUIRE(before > 0);

  RawHttp c(h.http_port);
  REQUIRE(c.ok());
  std::atomic<std::size_t> sent{0};
  std::thread sender([&] {
    if (!c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n")) return;
    const std::string pad(1000, 'x');
    for (int i = 0; sent < 60u * 1000 * 1000; ++i) {
      std::string line = "X-Pad-" + std::to_string(i) + ": " + pad + "\r\n";
      if (!c.send(line)) return;
      sent += line.size();
    }
    c.send("\r\n");
  });
  const bool closed = c.read_until_closed(30s);
  sender.join();
  const long after = rss_kib(broker.pid());
  INFO("sent " << sent << " bytes; answer: " << c.received().substr(0, 200));
  INFO("broker RSS " << before << " KiB before, " << after << " KiB after");
  CHECK(closed);
  CHECK(c.status() == 431);
  CHECK(contains(c.received(), "application/problem+json"));
  CHECK(sent < 60u * 1000 * 1000);  // refused before the end of the head
  CHECK(after - before < 8 * 1024);
  CHECK(http_get(h.http_port, "/metrics").status == 200);
}

TEST_CASE(
    "http: idle connections past the per-address cap are closed and do not starve "
    "another address",
    "[http][limits]") {
  HttpConfig h;
  BrokerRunner broker(h.config);
  const int cap = static_cast<int>(HttpLimits{}.max_connections_per_address);
  const int kIdle = cap + 24;
  std::vector<std::unique_ptr<RawHttp>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<RawHttp>(h.http_port, "127.0.0.1"));
    REQUIRE(idle.back()->ok());
  }
  std::this_thread::sleep_for(500ms);
  auto t = Clock::now();
  const int status = raw_get(h.http_port, "/metrics", "127.0.0.2");
  const double took = seconds_since(t);
  CHECK(status == 200);
  CHECK(took < 2.0);
  // Those past the cap were closed at once; the cap's worth still wait.
  std::size_t closed = 0;
  for (auto& c : idle) closed += c->read_until_closed(100ms) ? 1 : 0;
  CHECK(closed == static_cast<std::size_t>(kIdle - cap));
}

TEST_CASE("http: unknown paths and wrong methods are RFC 9457 problems", "[http][errors]") {
  HttpConfig h;
  BrokerRunner broker(h.config);
  Response r = http_get(h.http_port, "/nothing");
  CHECK(r.status == 404);
  CHECK(r.content_type == "application/problem+json");
  json p = json::parse(r.body, nullptr, false);
  INFO(r.body);
  REQUIRE(p.is_object());
  CHECK(p.value("status", 0) == 404);
  CHECK(p.value("title", "") == "Not Found");
  CHECK(p.contains("type"));
  CHECK(p.contains("detail"));

  httplib::Client client("127.0.0.1", h.http_port);
  client.set_read_timeout(5, 0);
  auto post = client.Post("/metrics", "x", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->get_header_value("Allow") == "GET, HEAD");
  CHECK(post->get_header_value("Content-Type") == "application/problem+json");
  json q = json::parse(post->body, nullptr, false);
  REQUIRE(q.is_object());
  CHECK(q.value("status", 0) == 405);
}

TEST_CASE("http: a listener destroyed right after it was started stops, 200 times over",
          "[http][startup]") {
  auto registry = std::make_shared<MetricRegistry>();
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  // On a thread of its own: a hang fails the test instead of blocking it.
  std::thread([registry, done] {
    for (int i = 0; i < 200; ++i) {
      HttpListener listener(HostPort{"127.0.0.1", 0});
      mount_ops_routes(listener.routes(), *registry, [](std::string&) { return true; });
      listener.start();
    }
    done->set_value();
  }).detach();
  REQUIRE(finished.wait_for(30s) == std::future_status::ready);
}

TEST_CASE("http: a handler that throws is a 500 problem and the listener serves on",
          "[http][errors]") {
  std::mutex mu;
  std::vector<std::string> logged;
  HttpListener listener(HostPort{"127.0.0.1", 0}, [&](LogLevel, const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    logged.push_back(line);
  });
  listener.routes()
      .get("/boom", [](const httplib::Request&,
                       httplib::Response&) { throw std::runtime_error("disk on fire"); })
      .get("/odd", [](const httplib::Request&, httplib::Response&) { throw 42; })
      .get("/fine", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("fine", "text/plain");
      });
  listener.start();
  for (const std::string path : {"/boom", "/odd"}) {
    CAPTURE(path);
    Response r = http_get(listener.port(), path);
    CHECK(r.status == 500);
    CHECK(r.content_type == "application/problem+json");
    json p = json::parse(r.body, nullptr, false);
    REQUIRE(p.is_object());
    CHECK(p.value("status", 0) == 500);
    CHECK_FALSE(contains(r.body, "disk on fire"));  // the log has it, the client does not
  }
  CHECK(http_get(listener.port(), "/fine").body == "fine");
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(logged.size() == 2);
  CHECK(contains(logged[0], "GET /boom"));
  CHECK(contains(logged[0], "disk on fire"));
}

TEST_CASE("http: answers are gzipped once when the client takes gzip, never brotli, never twice",
          "[http][compression]") {
  HttpConfig h;
  BrokerRunner broker(h.config);
  const std::string plain = http_get(h.http_port, "/metrics").body;
  REQUIRE(plain.size() > 1024);
  auto fetch = [&](const char* accept) {
    httplib::Client client("127.0.0.1", h.http_port);
    client.set_read_timeout(5, 0);
    client.set_decompress(false);
    auto r = client.Get("/metrics", {{"Accept-Encoding", accept}});
    INFO(httplib::to_string(r.error()));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Vary") == "Accept-Encoding");
    return *r;
  };
  for (const char* accept : {"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5", "*"}) {
    INFO(accept);
    httplib::Response r = fetch(accept);
    CHECK(r.get_header_value_count("Content-Encoding") == 1);
    CHECK(r.get_header_value("Content-Encoding") == "gzip");
    CHECK(r.body.size() < plain.size() / 2);
    z_stream z{};
    REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
    std::string out(plain.size() * 2, '\0');
    z.next_in = reinterpret_cast<Bytef*>(r.body.data());
    z.avail_in = static_cast<uInt>(r.body.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    inflateEnd(&z);
    // The page changes between requests only in its counters' values.
    CHECK(out.substr(0, 200) == plain.substr(0, 200));
  }
  for (const char* accept : {"br", "identity", "gzip;q=0", "deflate"}) {
    INFO(accept);
    httplib::Response r = fetch(accept);
    CHECK_FALSE(r.has_header("Content-Encoding"));
    CHECK(r.body.substr(0, 200) == plain.substr(0, 200));
  }
}
