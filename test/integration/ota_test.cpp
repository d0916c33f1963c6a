// SPEC §7 OTA against a real broker with its HTTP listener: firmware added
// with rs1ctl, signed downloads (200, 206, 416, 403 for tampered, expired,
// other-device and unknown-key URLs, 404), key rollover, the key file's
// checks at start, and staged rollouts driven through rs1ctl and the change
// feed against devices that follow the trigger: download over real HTTP,
// check the sha256, report.
#include <httplib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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
  explicit OtaBroker(std::vector<std::pair<std::string, std::string>> more = {})
      : broker(config(http_port, more)), fleet(broker.db_path()) {}
  static BrokerConfig config(int port,
                             const std::vector<std::pair<std::string, std::string>>& more) {
    BrokerConfig c = opts({{"http_listen", "127.0.0.1:" + std::to_string(port)},
                           {"ota_base_url", "http://127.0.0.1:" + std::to_string(port)},
                           {"ingest_flush_ms", "20"}});
    c.plugin_options.insert(c.plugin_options.end(), more.begin(), more.end());
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
                 Millis timeout = 5s) {
  return wait_until([&] { return pred(rollout_status(b, id)); }, timeout, 100ms);
}

}  // namespace

TEST_CASE("ota: firmware add and list; signed downloads with Range, 403 and 404", "[ota]") {
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

  auto [range, status, first, length] = GENERATE(table<std::string, int, std::size_t, std::size_t>({
      {"bytes=0-9", 206, 0, 10},
      {"bytes=299990-", 206, 299990, 10},
      {"bytes=-100", 206, 299900, 100},
      {"bytes=100000-100000", 206, 100000, 1},
      {"bytes=300000-", 416, 0, 0},
      {"bytes=0-1,5-6", 200, 0, 300000},
  }));
  CAPTURE(range);
  auto part = b.get(url, {{"Range", range}});
  REQUIRE(part);
  CHECK(part->status == status);
  if (status == 206) {
    CHECK(part->body == image.substr(first, length));
    CHECK(part->get_header_value("Content-Range") ==
          "bytes " + std::to_string(first) + "-" + std::to_string(first + length - 1) + "/300000");
  } else if (status == 416) {
    CHECK(part->get_header_value("Content-Range") == "bytes */300000");
  } else {
    CHECK(part->body == image);
  }

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

TEST_CASE("ota: key rollover, and the key file's checks at start", "[ota]") {
  OtaBroker b;
  const std::string image = image_of(5000, 3);
  const std::string sha = b.add_firmware("2.0.0", image)["sha256"];
  const std::string base = "http://127.0.0.1:" + std::to_string(b.http_port);
  const auto old_keys = b.keys();
  const std::string old_url = signed_firmware_url(base, old_keys[0], sha, "dev-a", unix_s() + 600);
  b.broker.stop();
  // A new key first: it signs from now on, the old one still verifies.
  const std::string old_text = read_file(b.key_file());
  write_file(b.key_file(), "k2:" + random_hex(32) + "\n" + old_text);
  b.broker.start();
  auto res = b.get(old_url);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == image);
  auto fresh = b.get(signed_firmware_url(base, b.keys()[0], sha, "dev-a", unix_s() + 600));
  REQUIRE(fresh);
  CHECK(fresh->status == 200);
  b.broker.stop();

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
