// SPEC §7 OTA against a real broker with its HTTP listener: firmware added
// with rs1ctl, signed downloads (200, 206, 416, 403 for tampered, expired,
// other-device and unknown-key URLs, 404, malformed Range ignored), key
// rollover while the broker runs, the key file's checks at start, and
// staged rollouts driven through rs1ctl and the change feed against devices
// that follow the trigger: download over real HTTP, check the sha256,
// report; `--all` across a restart; devices deleted while the broker runs
// and while it is down; timeout and retry on a sped-up clock.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/identity.hpp"
#include "features/ota/signing.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

using Env = std::map<std::string, std::optional<std::string>>;

CommandResult ctl(std::vector<std::string> args) {
  args.insert(args.begin(), RS1CTL_PATH);
  return run_command(args, Env{{"RS1_DB", std::nullopt}}, {}, 30s);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  chmod(path.c_str(), mode);
}

// As an operator rolls a key over: a new file renamed over the old one, so
// the broker never reads one half written.
void replace_file(const std::string& path, const std::string& text) {
  write_file(path + ".new", text, 0600);
  REQUIRE(std::rename((path + ".new").c_str(), path.c_str()) == 0);
}

// An image of `size` bytes that is not the same byte over and over.
std::string image_of(std::size_t size, char seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

struct OtaBroker {
  int http_port = free_port();
  BrokerRunner broker;
  Fleet fleet;
  explicit OtaBroker(std::vector<std::pair<std::string, std::string>> more = {},
                     std::vector<std::string> environment = {})
      : broker(config(http_port, more, std::move(environment))), fleet(broker.db_path()) {}
  static BrokerConfig config(int port, const std::vector<std::pair<std::string, std::string>>& more,
                             std::vector<std::string> environment) {
    BrokerConfig c = opts({{"http_listen", "127.0.0.1:" + std::to_string(port)},
                           {"ota_base_url", "http://127.0.0.1:" + std::to_string(port)},
                           {"ingest_flush_ms", "20"}});
    c.plugin_options.insert(c.plugin_options.end(), more.begin(), more.end());
    c.environment = std::move(environment);
    return c;
  }
  std::string key_file() const { return broker.dir() + "/signing.key"; }
  std::vector<SigningKey> keys() const { return parse_key_file(read_file(key_file())); }
  // rs1ctl firmware add; returns its JSON.
  json add_firmware(const std::string& version, const std::string& image) {
    const std::string path = broker.dir() + "/image-" + version + ".bin";
    write_file(path, image, 0644);
    auto r =
        ctl({"--db", broker.db_path(), "--json", "firmware", "add", path, "--version", version});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
  httplib::Result get(const std::string& url, const httplib::Headers& headers = {}) {
    httplib::Client c("127.0.0.1", http_port);
    c.set_read_timeout(10, 0);
    const std::string prefix = "http://127.0.0.1:" + std::to_string(http_port);
    std::string path = url.rfind(prefix, 0) == 0 ? url.substr(prefix.size()) : url;
    return c.Get(path.c_str(), headers);
  }
};

// GET `path` with `Range: <range>` on a raw connection, the head sent in
// two segments split inside the header's name; the body of the answer.
std::string split_range_request(int port, const std::string& path, const std::string& range) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    FAIL("cannot connect to the HTTP port");
  }
  auto send_all = [&](const std::string& bytes) {
    CHECK(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
  };
  send_all("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRa");
  std::this_thread::sleep_for(100ms);  // the listener reads the first part alone
  send_all("nge: " + range + "\r\n\r\n");
  std::string received;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    received.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  INFO(received.substr(0, 200));
  CHECK(received.rfind("HTTP/1.1 206", 0) == 0);
  auto body = received.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : received.substr(body + 4);
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

// A device that follows ota/trigger as the firmware does: downloads the
// URL over HTTP, checks size and sha256, reports downloading, verifying,
// installing and success (or failed), and then runs the version.
struct OtaDevice {
  Device id;
  std::unique_ptr<MqttClient> mqtt;
  std::string version = "1.0.0";

  void state() {
    REQUIRE(mqtt->publish("opticworks/" + id.id + "/state",
                          json{{"firmware_version", version}}.dump(), 1) == 0);
  }
  void subscribe() { REQUIRE(mqtt->subscribe("opticworks/" + id.id + "/ota/trigger", 1) == 1); }
  void report(std::int64_t rollout, const std::string& v, const std::string& status,
              const std::string& error = "") {
    json j{{"rollout_id", rollout}, {"version", v}, {"status", status}, {"progress", 100}};
    if (!error.empty()) j["error"] = error;
    REQUIRE(mqtt->publish("opticworks/" + id.id + "/ota/status", j.dump(), 1) == 0);
  }
  // Waits for a trigger; nothing when none comes.
  std::optional<json> trigger(Millis timeout = 5s) {
    auto m = mqtt->wait_for_message(timeout);
    if (!m) return std::nullopt;
    CHECK(m->topic == "opticworks/" + id.id + "/ota/trigger");
    return json::parse(m->payload);
  }
  // Follows one trigger to the end; `fail` reports failed after the download.
  void follow(OtaBroker& b, const json& t, bool fail = false) {
    const std::int64_t rollout = t["rollout_id"];
    const std::string v = t["version"];
    report(rollout, v, "downloading");
    auto res = b.get(t["url"]);
    REQUIRE(res);
    REQUIRE(res->status == 200);
    CHECK(static_cast<std::int64_t>(res->body.size()) == t["size"].get<std::int64_t>());
    CHECK(sha256_hex(res->body) == t["sha256"]);
    report(rollout, v, "verifying");
    report(rollout, v, "installing");
    if (fail) {
      report(rollout, v, "failed", "simulated install failure");
      return;
    }
    version = v;
    report(rollout, v, "success");
    state();
  }
};

OtaDevice online_device(OtaBroker& b, const std::string& name, bool subscribe = true) {
  OtaDevice d;
  d.id = b.fleet.add_device(name);
  b.broker.sync_changes();
  d.mqtt = connect_device(b.broker, d.id);
  d.state();
  if (subscribe) d.subscribe();
  return d;
}

json rollout_status(OtaBroker& b, std::int64_t id, bool devices = false) {
  std::vector<std::string> args{"--db",    b.broker.db_path(), "--json",
                                "rollout", "status",           std::to_string(id)};
  if (devices) args.push_back("--devices");
  auto r = ctl(args);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

bool wait_status(OtaBroker& b, std::int64_t id, const std::function<bool(const json&)>& pred,
                 Millis timeout = 5s, Millis every = 100ms) {
  return wait_until([&] { return pred(rollout_status(b, id)); }, timeout, every);
}

}  // namespace

TEST_CASE("ota: firmware add and list, then signed downloads with Range, 403 and 404", "[ota]") {
  OtaBroker b;
  // The key file was created at start: 0600, one 256-bit key.
  struct stat st {};
  REQUIRE(stat(b.key_file().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(b.keys().size() == 1);
  CHECK(b.keys()[0].bytes.size() == 32);

  const std::string image = image_of(300000, 7);
  json added = b.add_firmware("2.0.0", image);
  CHECK(added["version"] == "2.0.0");
  CHECK(added["sha256"] == sha256_hex(image));
  CHECK(added["size"] == image.size());
  const std::string sha = added["sha256"];
  CHECK(read_file(b.broker.dir() + "/firmware/" + sha) == image);

  // A duplicate version, a missing file: exit 1, one line, nothing stored.
  auto dup = ctl({"--db", b.broker.db_path(), "firmware", "add",
                  b.broker.dir() + "/image-2.0.0.bin", "--version", "2.0.0"});
  CHECK(dup.exit_code == 1);
  CHECK_THAT(dup.err, Catch::Contains("already exists"));
  auto missing = ctl({"--db", b.broker.db_path(), "firmware", "add", b.broker.dir() + "/nope.bin",
                      "--version", "3.0.0"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("cannot read"));
  auto list = ctl({"--db", b.broker.db_path(), "--json", "firmware", "list"});
  REQUIRE(list.exit_code == 0);
  CHECK(json::parse(list.out).size() == 1);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(b.broker.dir() + "/firmware")) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);  // no temporary file left behind

  const auto keys = b.keys();
  const std::string base = "http://127.0.0.1:" + std::to_string(b.http_port);
  const std::int64_t expires = unix_s() + 600;
  const std::string url = signed_firmware_url(base, keys[0], sha, "dev-a", expires);

  auto whole = b.get(url);
  REQUIRE(whole);
  CHECK(whole->status == 200);
  CHECK(whole->body == image);
  CHECK(whole->get_header_value("ETag") == "\"" + sha + "\"");
  CHECK(whole->get_header_value("Accept-Ranges") == "bytes");

  // One broker for every row (a GENERATE here would start one per row).
  struct RangeCase {
    std::string range;
    int status;
    std::size_t first, length;
  };
  for (const auto& [range, status, first, length] : std::vector<RangeCase>{
           {"bytes=0-9", 206, 0, 10},
           {"bytes=299990-", 206, 299990, 10},
           {"bytes=-100", 206, 299900, 100},
           {"bytes=100000-100000", 206, 100000, 1},
           {"bytes=300000-", 416, 0, 0},
           {"bytes=-0", 416, 0, 0},
           {"bytes=99999999999999999999-", 416, 0, 0},  // well-formed, past the end
           {"bytes=0-1,5-6", 200, 0, 300000},           // several ranges: the whole image
           // Malformed (RFC 9110 §14.2): ignored, the whole image.
           {"bytes=abc", 200, 0, 300000},
           {"bytes=5-2", 200, 0, 300000},
           {"bytes=-", 200, 0, 300000},
           {"items=0-9", 200, 0, 300000},
           {"bytes=1-2-3", 200, 0, 300000},
       }) {
    CAPTURE(range);
    // Header names are case-insensitive: the lowercase one is the same header.
    auto part = b.get(url, {{range.size() % 2 ? "range" : "Range", range}});
    REQUIRE(part);
    CHECK(part->status == status);
    if (status == 206) {
      CHECK(part->body == image.substr(first, length));
      CHECK(part->get_header_value("Content-Range") == "bytes " + std::to_string(first) + "-" +
                                                           std::to_string(first + length - 1) +
                                                           "/300000");
    } else if (status == 416) {
      CHECK(part->get_header_value("Content-Range") == "bytes */300000");
    } else {
      CHECK(part->body == image);
    }
  }
  // A Range header split across TCP segments in the middle of its name is
  // still the Range header.
  CHECK(split_range_request(b.http_port, url.substr(base.size()), "bytes=0-9") ==
        image.substr(0, 10));

  // Tampered, expired, another device's, an unknown key: 403 before anything is read.
  std::string sig = url.substr(url.find("sig=") + 4);
  std::string tampered_sig = sig;
  tampered_sig[0] = tampered_sig[0] == 'a' ? 'b' : 'a';
  SigningKey stranger{"nobody", std::string(32, 'x')};
  for (const std::string& bad :
       {replace(url, "sig=" + sig, "sig=" + tampered_sig),
        signed_firmware_url(base, keys[0], sha, "dev-a", unix_s() - 1),
        replace(url, "device=dev-a", "device=dev-b"),
        replace(url, "expires=" + std::to_string(expires),
                "expires=" + std::to_string(expires + 1)),
        signed_firmware_url(base, stranger, sha, "dev-a", expires), base + "/firmware/" + sha}) {
    CAPTURE(bad);
    auto res = b.get(bad);
    REQUIRE(res);
    CHECK(res->status == 403);
    CHECK(res->get_header_value("Content-Type") == "application/problem+json");
  }
  // A well-signed URL of an image we do not have.
  auto unknown = b.get(signed_firmware_url(base, keys[0], std::string(64, 'f'), "dev-a", expires));
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
}

TEST_CASE("ota: key rollover while the broker runs, and the key file's checks at start", "[ota]") {
  OtaBroker b;
  const std::string image = image_of(5000, 3);
  const std::string sha = b.add_firmware("2.0.0", image)["sha256"];
  const std::string base = "http://127.0.0.1:" + std::to_string(b.http_port);
  const auto old_keys = b.keys();
  const std::string old_url = signed_firmware_url(base, old_keys[0], sha, "dev-a", unix_s() + 600);
  OtaDevice dev = online_device(b, "roll-a");

  // A new key first, no restart: within a few seconds it signs (the next
  // trigger's URL names it) and verifies, and the old one still verifies.
  const std::string old_text = read_file(b.key_file());
  replace_file(b.key_file(), "k2:" + std::string(32, '5') + std::string(32, 'a') + "\n" + old_text);
  const std::string k2_url = signed_firmware_url(base, b.keys()[0], sha, "dev-a", unix_s() + 600);
  REQUIRE(wait_until(
      [&] {
        auto r = b.get(k2_url);
        return r && r->status == 200;
      },
      6s, 100ms));
  // The broker logs the reload just after the listener takes the keys.
  CHECK(wait_until([&] { return contains(b.broker.log(), "signing keys reloaded"); }, 2s));
  auto res = b.get(old_url);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == image);
  auto created = ctl({"--db", b.broker.db_path(), "--json", "rollout", "create", "--version",
                      "2.0.0", "--devices", "roll-a", "--stages", "100"});
  REQUIRE(created.exit_code == 0);
  auto t = dev.trigger();
  REQUIRE(t);
  const std::string url = (*t)["url"];
  CHECK_THAT(url, Catch::Contains("kid=k2&"));
  dev.follow(b, *t);

  // A malformed file at a reload: one clear line, the keys in use stay,
  // and the refusal shows on /metrics until a good file is back.
  replace_file(b.key_file(), "k3:not-hex\n" + old_text);
  REQUIRE(wait_until([&] { return contains(b.broker.log(), "the keys in use stay"); }, 6s, 100ms));
  CHECK_THAT(b.broker.log(),
             Catch::Contains("signing_key_file " + b.key_file() + ": malformed: line 1"));
  httplib::Client c("127.0.0.1", b.http_port);
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("rs1_signing_key_file_refused 1"));
  for (const std::string& u : {old_url, k2_url, url}) {
    auto again = b.get(u);
    REQUIRE(again);
    CHECK(again->status == 200);
  }
  CHECK(count_lines_with(b.broker.log(), "the keys in use stay") == 1);
  CHECK_FALSE(contains(b.broker.log(), "not-hex"));
}

TEST_CASE("ota: the key file's checks at start", "[ota]") {
  // Group-readable, or malformed: the broker refuses to start with one line
  // (never showing the key).
  auto [text, mode, expected] = GENERATE(table<std::string, mode_t, std::string>({
      {"k1:" + std::string(64, 'a') + "\n", 0640, "group or world may access it"},
      {"k1:" + std::string(64, 'a') + "\n", 0604, "group or world may access it"},
      {"k1:not-hex\n", 0600, "malformed: line 1"},
      {"\n", 0600, "malformed: no key"},
  }));
  CAPTURE(text, mode);
  BrokerRunner refused(opts({}), BrokerRunner::Start::later);
  write_file(refused.dir() + "/signing.key", text, mode);
  expect_startup_failure(refused, {"signing_key_file", expected});
  CHECK_FALSE(contains(refused.log(), std::string(64, 'a')));
}

TEST_CASE("ota: a staged rollout through rs1ctl, with skip, late devices, pause, resume, restart",
          "[ota]") {
  OtaBroker b;
  const std::string image = image_of(20000, 1);
  b.add_firmware("2.0.0", image);
  // d0..d3 online and subscribed; d4 connected but not subscribed; d5
  // offline; d6 already runs 2.0.0.
  std::vector<OtaDevice> devs;
  for (int i = 0; i < 4; ++i) devs.push_back(online_device(b, "d" + std::to_string(i)));
  devs.push_back(online_device(b, "d4", false));
  OtaDevice d5;
  d5.id = b.fleet.add_device("d5");
  OtaDevice d6 = online_device(b, "d6");
  d6.version = "2.0.0";
  d6.state();
  b.broker.sync_changes();
  REQUIRE(writer_barrier(*d6.mqtt, b.fleet, "d6"));

  auto created = ctl({"--db", b.broker.db_path(), "--json", "rollout", "create", "--version",
                      "2.0.0", "--devices", "d0,d1,d2,d3,d4,d5,d6", "--stages", "15,100",
                      "--retries", "1", "--min-finished", "3", "--max-failure-rate", "0.3"});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  json r = json::parse(created.out);
  const std::int64_t id = r["rollout_id"];
  CHECK(r["state"] == "running");
  CHECK(r["stages"] == json::array({15, 100}));
  CHECK(r["counts"]["pending"] == 7);

  // A second rollout for a device of this one is refused.
  b.add_firmware("3.0.0", image_of(100, 2));
  auto second = ctl(
      {"--db", b.broker.db_path(), "rollout", "create", "--version", "3.0.0", "--devices", "d1"});
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("d1") && Catch::Contains("already in rollout"));

  // Stage 1: 15% of 7 is 2: d0 and d1.
  auto t0 = devs[0].trigger();
  auto t1 = devs[1].trigger();
  REQUIRE(t0);
  REQUIRE(t1);
  CHECK((*t0)["rollout_id"] == id);
  CHECK((*t0)["version"] == "2.0.0");
  CHECK((*t0)["sha256"] == sha256_hex(image));
  CHECK((*t0)["size"] == image.size());
  CHECK((*t0)["expires_at"].get<std::int64_t>() > unix_s());
  CHECK_FALSE(devs[2].trigger(300ms));  // not in the first stage
  // d0 succeeds, d1 reports success and comes back on 1.0.0: rolled back, retried.
  devs[0].follow(b, *t0);
  devs[1].follow(b, *t1);
  devs[1].version = "1.0.0";
  devs[1].state();
  auto retry = devs[1].trigger();
  REQUIRE(retry);
  devs[1].follow(b, *retry);

  // Stage 2: the rest of those subscribed; d6 skipped; d4 only after its SUBSCRIBE.
  for (int i : {2, 3}) {
    auto t = devs[static_cast<std::size_t>(i)].trigger();
    REQUIRE(t);
    devs[static_cast<std::size_t>(i)].follow(b, *t);
  }
  CHECK_FALSE(devs[4].mqtt->wait_for_message(500ms));
  REQUIRE(wait_status(b, id, [](const json& s) {
    return s["stage"] == 2 && s["counts"]["success"] == 4 && s["counts"]["skipped"] == 1;
  }));

  // A broker restart while d4 and d5 are still to come: it carries on.
  devs[4].mqtt.reset();
  b.broker.stop();
  b.broker.start();
  devs[4].mqtt = connect_device(b.broker, devs[4].id);
  devs[4].subscribe();
  auto t4 = devs[4].trigger();
  REQUIRE(t4);
  devs[4].follow(b, *t4, /*fail=*/true);
  auto t4b = devs[4].trigger();  // retried
  REQUIRE(t4b);
  devs[4].follow(b, *t4b, /*fail=*/true);
  // 1 failed of 6 finished: 0.17, under 0.3. d5 comes online late.
  d5.mqtt = connect_device(b.broker, d5.id);
  d5.subscribe();
  auto t5 = d5.trigger();
  REQUIRE(t5);
  d5.follow(b, *t5);
  REQUIRE(wait_status(b, id, [](const json& s) { return s["state"] == "completed"; }));
  json done = rollout_status(b, id, true);
  CHECK(done["counts"]["success"] == 5);
  CHECK(done["counts"]["failed"] == 1);
  CHECK(done["counts"]["skipped"] == 1);
  bool saw_d4 = false;
  for (const auto& d : done["devices"]) {
    if (d["device_id"] != "d4") continue;
    saw_d4 = true;
    CHECK(d["status"] == "failed");
    CHECK(d["attempts"] == 2);
    CHECK(d["error"] == "simulated install failure");
  }
  CHECK(saw_d4);
  // rs1_ota_triggers_total counted every trigger (2 + retry + 2 + 2 after the restart + 1).
  httplib::Client c("127.0.0.1", b.http_port);
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("rs1_ota_rollout_devices{status=\"failed\"}"));
}

TEST_CASE("ota: auto-pause at the failure threshold, resume, cancel", "[ota]") {
  OtaBroker b;
  b.add_firmware("2.0.0", image_of(1000, 9));
  std::vector<OtaDevice> devs;
  std::string ids;
  for (int i = 0; i < 6; ++i) {
    devs.push_back(online_device(b, "p" + std::to_string(i)));
    ids += (ids.empty() ? "" : ",") + devs.back().id.id;
  }
  auto created =
      ctl({"--db", b.broker.db_path(), "--json", "rollout", "create", "--version", "2.0.0",
           "--devices", ids, "--stages", "50,100", "--retries", "0", "--min-finished", "2",
           "--max-failure-rate", "0.4", "--max-per-minute", "30"});
  REQUIRE(created.exit_code == 0);
  const std::int64_t id = json::parse(created.out)["rollout_id"];
  // Stage 1 is p0..p2: one succeeds, one fails (0.5 of 2 > 0.4): paused.
  // One trigger every 2 s (a bucket of one).
  auto t0 = devs[0].trigger();
  auto t1 = devs[1].trigger();
  auto t2 = devs[2].trigger();
  REQUIRE(t0);
  REQUIRE(t1);
  REQUIRE(t2);
  devs[0].follow(b, *t0);
  devs[1].follow(b, *t1, true);
  REQUIRE(wait_status(b, id, [](const json& s) { return s["state"] == "paused"; }));
  json paused = rollout_status(b, id);
  REQUIRE(paused["reason"].is_string());
  CHECK_THAT(paused["reason"].get<std::string>(),
             Catch::Contains("50.0%") && Catch::Contains("1 of 2 finished"));
  // Paused: p2 finishes what it started, nothing new is triggered.
  devs[2].follow(b, *t2);
  CHECK_FALSE(devs[3].trigger(1s));
  // Resume: stage 2 goes on (within 2 s).
  auto resumed =
      ctl({"--db", b.broker.db_path(), "--json", "rollout", "resume", std::to_string(id)});
  REQUIRE(resumed.exit_code == 0);
  auto t3 = devs[3].trigger(3s);
  REQUIRE(t3);
  // Pause by hand, then cancel: nothing more is triggered.
  REQUIRE(ctl({"--db", b.broker.db_path(), "rollout", "cancel", std::to_string(id)}).exit_code ==
          0);
  auto again = ctl({"--db", b.broker.db_path(), "rollout", "resume", std::to_string(id)});
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("cancelled"));
  devs[3].follow(b, *t3);
  CHECK_FALSE(devs[4].trigger(1500ms));
  CHECK(rollout_status(b, id)["state"] == "cancelled");
}

TEST_CASE("ota: an --all rollout takes in devices provisioned while the broker was down", "[ota]") {
  OtaBroker b;
  b.add_firmware("2.0.0", image_of(3000, 4));
  OtaDevice a0 = online_device(b, "all-0");
  auto created = ctl({"--db", b.broker.db_path(), "--json", "rollout", "create", "--version",
                      "2.0.0", "--all", "--stages", "100", "--retries", "0"});
  REQUIRE(created.exit_code == 0);
  const std::int64_t id = json::parse(created.out)["rollout_id"];
  auto t0 = a0.trigger();  // left unanswered: the rollout still runs at the restart
  REQUIRE(t0);
  a0.mqtt.reset();
  b.broker.stop();
  OtaDevice a1;
  a1.id = b.fleet.add_device("all-1");  // provisioned while the broker is down
  b.broker.start();
  // At once part of the rollout, before it ever connects.
  REQUIRE(wait_status(b, id, [](const json& s) { return s["counts"]["pending"] == 1; }));
  // And one provisioned while it runs, as before.
  OtaDevice a2 = online_device(b, "all-2");
  a1.mqtt = connect_device(b.broker, a1.id);
  a1.state();
  a1.subscribe();
  a0.mqtt = connect_device(b.broker, a0.id);
  a0.subscribe();  // the trigger it had not answered comes again
  for (OtaDevice* d : {&a0, &a1, &a2}) {
    auto t = d->trigger();
    REQUIRE(t);
    CHECK((*t)["rollout_id"] == id);
    d->follow(b, *t);
  }
  REQUIRE(wait_status(b, id, [](const json& s) { return s["state"] == "completed"; }));
  CHECK(rollout_status(b, id)["counts"]["success"] == 3);
}

TEST_CASE("ota: a device deleted while the broker was down no longer holds its rollout up",
          "[ota]") {
  OtaBroker b;
  b.add_firmware("2.0.0", image_of(2500, 6));
  // gone-0 succeeds first; gone-1 is deleted while the broker is down and
  // gone-2 while it runs, both triggered and unanswered; gone-3 succeeds
  // after the restart.
  std::vector<OtaDevice> devs;
  for (int i = 0; i < 4; ++i) devs.push_back(online_device(b, "gone-" + std::to_string(i)));
  auto created =
      ctl({"--db", b.broker.db_path(), "--json", "rollout", "create", "--version", "2.0.0",
           "--devices", "gone-0,gone-1,gone-2,gone-3", "--stages", "100", "--retries", "0"});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  const std::int64_t id = json::parse(created.out)["rollout_id"];
  std::vector<json> triggers;
  for (auto& d : devs) {
    auto t = d.trigger();
    REQUIRE(t);
    triggers.push_back(*t);
  }
  devs[0].follow(b, triggers[0]);
  auto row_of = [&](const std::string& device) {
    const json status = rollout_status(b, id, true);
    for (const auto& d : status["devices"]) {
      if (d["device_id"] == device) return d;
    }
    return json::object();
  };

  // Deleted while the broker runs: what a deletion makes of a device.
  REQUIRE(ctl({"--db", b.broker.db_path(), "device", "delete", "gone-2"}).exit_code == 0);
  REQUIRE(wait_until([&] { return row_of("gone-2").value("status", "") == "skipped"; }, 5s, 100ms));
  const json live = row_of("gone-2");
  CHECK(live["error"] == "device deleted");
  REQUIRE(wait_status(b, id, [](const json& s) { return s["counts"]["success"] == 1; }));

  // Deleted while the broker is down: the same once it is up again.
  for (auto& d : devs) d.mqtt.reset();
  b.broker.stop();
  REQUIRE(ctl({"--db", b.broker.db_path(), "device", "delete", "gone-1"}).exit_code == 0);
  CHECK(row_of("gone-1")["status"] == "triggered");
  b.broker.start();
  REQUIRE(wait_until([&] { return row_of("gone-1").value("status", "") == live["status"]; }, 5s,
                     100ms));
  CHECK(row_of("gone-1")["error"] == live["error"]);
  json running = rollout_status(b, id);
  CHECK(running["state"] == "running");  // gone-3 has not answered yet
  CHECK(running["counts"]["skipped"] == 2);

  // gone-3 gets its trigger again and succeeds: the rollout completes.
  devs[3].mqtt = connect_device(b.broker, devs[3].id);
  devs[3].subscribe();
  auto again = devs[3].trigger();
  REQUIRE(again);
  CHECK((*again)["rollout_id"] == id);
  devs[3].follow(b, *again);
  REQUIRE(wait_status(b, id, [](const json& s) { return s["state"] == "completed"; }));
  json done = rollout_status(b, id);
  CHECK(done["counts"]["success"] == 2);
  CHECK(done["counts"]["skipped"] == 2);
}

namespace {
// One minute of the broker's wall clock. In the plain build the broker runs
// under libfaketime 60 times faster, so --timeout-min 1 passes in about a
// second; its monotonic clock (mosquitto's keepalives, the writer's
// flushes) keeps the real pace. libfaketime and the AddressSanitizer (or
// ThreadSanitizer) runtime deadlock when both are preloaded, so the
// sanitizer builds wait the real minutes (two, beside the other tests).
#if defined(RS1_ASAN_RUNTIME) || defined(RS1_TSAN_RUNTIME)
constexpr Millis kBrokerMinute = 60s;
const std::vector<std::string> kBrokerClock = {};
#else
constexpr Millis kBrokerMinute = 1s;
const std::vector<std::string> kBrokerClock = {
    "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1", "FAKETIME=+0 x60",
    "FAKETIME_DONT_FAKE_MONOTONIC=1"};
#endif
}  // namespace

TEST_CASE("ota: timeout, and a retry with a freshly signed URL", "[ota]") {
  OtaBroker b({}, kBrokerClock);
  b.add_firmware("2.0.0", image_of(2000, 5));
  OtaDevice d = online_device(b, "slow-0");
  auto created =
      ctl({"--db", b.broker.db_path(), "--json", "rollout", "create", "--version", "2.0.0",
           "--devices", "slow-0", "--stages", "100", "--timeout-min", "1", "--retries", "1",
           "--max-failure-rate", "1"});  // one device timing out must not pause it
  REQUIRE(created.exit_code == 0);
  const std::int64_t id = json::parse(created.out)["rollout_id"];
  auto device_row = [&] { return rollout_status(b, id, true)["devices"][0]; };

  auto first = d.trigger();  // never answered
  REQUIRE(first);
  auto second = d.trigger(kBrokerMinute + 10s);  // after the timeout: attempt 2
  REQUIRE(second);
  CHECK((*second)["rollout_id"] == id);
  CHECK((*second)["expires_at"].get<std::int64_t>() > (*first)["expires_at"].get<std::int64_t>());
  const std::string url1 = (*first)["url"], url2 = (*second)["url"];
  CHECK(url1 != url2);
  CHECK(url1.substr(url1.find("sig=")) != url2.substr(url2.find("sig=")));
  CHECK(url2.find("expires=" + std::to_string((*second)["expires_at"].get<std::int64_t>())) !=
        std::string::npos);
  REQUIRE(wait_until([&] { return device_row()["attempts"] == 2; }, 3s, 50ms));
  // The fresh URL downloads.
  auto res = b.get(url2);
  REQUIRE(res);
  CHECK(res->status == 200);

  // No retry left: timed_out once this attempt times out too, and the
  // rollout is done with it.
  REQUIRE(wait_status(
      b, id, [](const json& s) { return s["state"] == "completed"; }, kBrokerMinute + 10s,
      std::max<Millis>(100ms, kBrokerMinute / 60)));
  json row = device_row();
  CHECK(row["status"] == "timed_out");
  CHECK(row["attempts"] == 2);
  CHECK(row["error"] == "no success within 1 min");
  CHECK_FALSE(d.trigger(1500ms));
}
