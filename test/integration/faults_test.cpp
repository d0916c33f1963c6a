// Injected disk faults against the real broker (test/faults/rs1_faultfs.c
// preloaded into mosquitto or rs1ctl): the writer under ENOSPC and fsync EIO
// while devices publish, backups, the archive and the firmware store under
// ENOSPC/EIO, opens that fail at start, and a write lock held for 10 s by
// another process. What every test asserts is what a user sees: the broker
// keeps serving, every accepted row is stored or counted lost, and no half
// file or half batch is ever visible.
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "api_harness.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;
namespace fs = std::filesystem;

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// A broker with the HTTP listener (for /metrics), the fault injector and
// device "dev-a" and account "backend" applied.
struct FaultyBroker {
  explicit FaultyBroker(std::vector<std::pair<std::string, std::string>> more = {})
      : faults(fault_file()),
        broker(config(std::move(more), faults.path())),
        fleet(broker.db_path()),
        dev(fleet.add_device("dev-a")),
        svc(fleet.add_account("backend", Role::service)) {
    broker.sync_changes();
  }
  static std::string fault_file() {
    char tmpl[] = "/tmp/rs1-faults-XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    return tmpl;
  }
  BrokerConfig config(std::vector<std::pair<std::string, std::string>> more,
                      const std::string& control) {
    BrokerConfig c;
    c.plugin_options = {{"http_listen", "127.0.0.1:" + std::to_string(http_port)},
                        {"rate_limit_per_min", "0"},
                        {"ingest_flush_ms", "50"}};
    c.plugin_options.insert(c.plugin_options.end(), more.begin(), more.end());
    c.fault_control = control;
    return c;
  }
  // A metric's value from GET /metrics (the sum over its labels), -1 when absent.
  double metric(const std::string& name) {
    httplib::Client c("127.0.0.1", http_port);
    c.set_read_timeout(5, 0);
    auto r = c.Get("/metrics");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    std::istringstream in(r->body);
    std::string line;
    double sum = -1;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      const std::string key = line.substr(0, line.find(' '));
      if (key != name && key.rfind(name + "{", 0) != 0) continue;
      sum = (sum < 0 ? 0 : sum) + std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  int http_port = free_port();
  FaultControl faults;
  BrokerRunner broker;
  Fleet fleet;
  Device dev;
  Account svc;
};

std::string integrity_check(const std::string& db) {
  CommandResult r = run_command({"/usr/bin/sqlite3", db, "PRAGMA integrity_check"});
  REQUIRE(r.exit_code == 0);
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) names.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The "i" of every stored row of `device` on `metric`, in the order stored.
std::vector<int> stored_sequence(Fleet& fleet, const std::string& device,
                                 const std::string& metric) {
  std::vector<int> seq;
  for (const auto& r : fleet.telemetry(device, metric)) seq.push_back(json::parse(r.payload)["i"]);
  return seq;
}

// True when `seq` is exactly 0, 1, …, n-1 as a set (nothing twice, no gap).
bool is_prefix(std::vector<int> seq) {
  std::sort(seq.begin(), seq.end());
  for (std::size_t i = 0; i < seq.size(); ++i) {
    if (seq[i] != static_cast<int>(i)) return false;
  }
  return true;
}

// rs1ctl on the broker's database, with the injector when `faults` is given.
CommandResult ctl(const BrokerRunner& broker, std::vector<std::string> args,
                  const FaultControl* faults = nullptr) {
  args.insert(args.begin(), {RS1CTL_PATH, "--db", broker.db_path()});
  std::map<std::string, std::optional<std::string>> env{{"RS1_DB", std::nullopt}};
  if (faults) {
    for (auto& kv : faults->environment()) env[kv.first] = kv.second;
  }
  return run_command(args, env, {}, 60s);
}

// What the system says for the errno of a rule ("write ENOSPC" …).
std::string reason_of(const std::string& rule) {
  return contains(rule, "ENOSPC") ? "No space left on device" : "Input/output error";
}

bool broker_serves(FaultyBroker& b, const std::string& probe) {
  auto sub = connect_account(b.broker, b.svc, Protocol::v5);
  if (sub->subscribe("opticworks/+/telemetry/#") != 1) return false;
  auto c = connect_device(b.broker, b.dev, Protocol::v5);
  if (c->publish("opticworks/dev-a/telemetry/" + probe, R"({"probe":1})", 1) != 0) return false;
  auto m = sub->wait_for_message();
  return m && m->topic == "opticworks/dev-a/telemetry/" + probe;
}

// The writer under a disk fault: rows published before, during and after
// it, every one acknowledged; what is stored is always a gapless prefix.
// `rule_of` is the injector's rule for {db}, the database's path.
void writer_survives(const std::string& kind, const std::string& rule_of) {
  FaultyBroker b;
  std::string rule = rule_of;
  rule.replace(rule.find("{db}"), 4, b.broker.db_path());
  Device late = b.fleet.add_device("dev-late");
  b.broker.sync_changes();
  auto sub = connect_account(b.broker, b.svc, Protocol::v5);
  REQUIRE(sub->subscribe("opticworks/+/telemetry/#") == 1);
  auto c = connect_device(b.broker, b.dev, Protocol::v5);
  const std::string topic = "opticworks/dev-a/telemetry/seq";
  int accepted = 0;
  auto publish = [&](int n) {
    for (int k = 0; k < n; ++k) {
      const int rc = c->publish(topic, json{{"i", accepted}}.dump(), 1);
      REQUIRE(rc == 0);  // PUBACK: accepted, whatever the disk does
      ++accepted;
    }
  };
  publish(200);
  REQUIRE(wait_until([&] { return b.fleet.telemetry_count("dev-a") == 200; }, 10s));
  const double failures_before = b.metric("rs1_write_failures_total");

  INFO("fault: " << rule);
  b.faults.set({rule});
  publish(300);
  REQUIRE(wait_until([&] { return b.metric("rs1_write_failures_total") > failures_before; }, 10s));
  // While the disk refuses: the stored rows are a gapless prefix, and
  // nothing more is committed.
  const std::size_t stored_while_failing = b.fleet.telemetry_count("dev-a");
  CHECK(stored_while_failing < static_cast<std::size_t>(accepted));
  CHECK(is_prefix(stored_sequence(b.fleet, "dev-a", "seq")));
  // Logins and routing go on: a device that had not logged in, its
  // message to the subscriber, and more rows accepted.
  auto l = connect_device(b.broker, late, Protocol::v5);
  CHECK(l->publish("opticworks/dev-late/telemetry/probe", R"({"i":0})", 1) == 0);
  bool routed = false;
  for (int k = 0; k < 600 && !routed; ++k) {
    auto m = sub->wait_for_message(2s);
    if (!m) break;
    routed = m->topic == "opticworks/dev-late/telemetry/probe";
  }
  CHECK(routed);
  publish(100);
  std::this_thread::sleep_for(1s);
  CHECK(b.fleet.telemetry_count("dev-a") == stored_while_failing);
  CHECK(is_prefix(stored_sequence(b.fleet, "dev-a", "seq")));
  CHECK(b.metric("rs1_rows_lost_total") == 0);
  CHECK(b.metric("rs1_write_items_lost_total") == 0);
  CHECK(b.broker.running());
  // Unhealthy while it lasts.
  {
    httplib::Client h("127.0.0.1", b.http_port);
    auto r = h.Get("/healthz");
    REQUIRE(r);
    CHECK(r->status == 503);
  }

  b.faults.clear();
  // Every accepted row stored exactly once, or counted lost: none is.
  REQUIRE(wait_until([&] { return b.fleet.telemetry_count("dev-a") == 600; }, 20s, 50ms));
  CHECK(b.fleet.telemetry_count("dev-late") == 1);
  std::vector<int> seq = stored_sequence(b.fleet, "dev-a", "seq");
  CHECK(seq.size() == static_cast<std::size_t>(accepted));
  CHECK(is_prefix(seq));
  CHECK(b.metric("rs1_rows_lost_total") == 0);
  CHECK(b.metric("rs1_write_items_lost_total") == 0);
  CHECK(b.fleet.telemetry_count("dev-a") + b.metric("rs1_rows_lost_total") == accepted);
  CHECK(wait_until([&] { return contains(b.broker.log(), "database writes recovered"); }, 5s));
  CHECK(integrity_check(b.broker.db_path()) == "ok");
  CHECK(broker_serves(b, "after-" + kind));
  ExitStatus st = b.broker.stop();
  CHECK(st.exited);
  CHECK(st.code == 0);
  CHECK(integrity_check(b.broker.db_path()) == "ok");
}

// The telemetry rows of every "gave up on N queued item(s) (A telemetry
// row(s), …)" line (one per batch): the sum of A, -1 without such a line.
long gave_up_rows(const std::string& log) {
  std::istringstream in(log);
  std::string line;
  long sum = -1;
  while (std::getline(in, line)) {
    auto at = line.find("gave up on ");
    if (at == std::string::npos) continue;
    if (sum < 0) sum = 0;
    auto open = line.find('(', at);
    auto rows = line.find(" telemetry row(s)", at);
    if (open == std::string::npos || rows == std::string::npos || rows < open) continue;
    auto from = line.find_last_of("(, ", rows - 1);
    sum += std::stol(line.substr(from + 1, rows - from - 1));
  }
  return sum;
}

}  // namespace

TEST_CASE("faults: ENOSPC on the database's writes: logins and routing go on, nothing lost",
          "[faults][disk]") {
  writer_survives("enospc", "write ENOSPC {db}");
}

TEST_CASE("faults: EIO on fsync of the WAL: logins and routing go on, nothing lost",
          "[faults][disk]") {
  writer_survives("fsync-eio", "fsync EIO {db}-wal");
}

TEST_CASE("faults: a disk that never recovers: rows still queued at SIGTERM are counted lost",
          "[faults][disk][shutdown]") {
  FaultyBroker b;
  auto c = connect_device(b.broker, b.dev, Protocol::v5);
  const std::string topic = "opticworks/dev-a/telemetry/seq";
  int accepted = 0;
  for (; accepted < 100; ++accepted)
    REQUIRE(c->publish(topic, json{{"i", accepted}}.dump(), 1) == 0x10);
  REQUIRE(wait_until([&] { return b.fleet.telemetry_count("dev-a") == 100; }, 10s));
  b.faults.set({"write EIO " + b.broker.db_path()});
  for (; accepted < 400; ++accepted)
    REQUIRE(c->publish(topic, json{{"i", accepted}}.dump(), 1) == 0x10);
  REQUIRE(wait_until([&] { return b.metric("rs1_write_failures_total") > 0; }, 10s));
  CHECK(b.metric("rs1_rows_lost_total") == 0);  // retried, not lost, while it runs
  c->disconnect();
  ExitStatus st = b.broker.stop(60s);  // the writer's grace at stop: 10 s
  CHECK(st.exited);
  const std::string log = b.broker.log();
  INFO(log);
  const long lost = gave_up_rows(log);
  CHECK(lost > 0);
  // Stored or counted lost, never silently gone.
  std::vector<int> seq = stored_sequence(b.fleet, "dev-a", "seq");
  CHECK(is_prefix(seq));
  CHECK(static_cast<long>(seq.size()) + lost == accepted);
  b.faults.clear();
  CHECK(integrity_check(b.broker.db_path()) == "ok");
}

TEST_CASE("faults: a backup on a full or failing disk fails clearly and leaves no file",
          "[faults][disk][backup]") {
  FaultyBroker b;
  const std::string dir = b.broker.dir() + "/backups";
  auto c = connect_device(b.broker, b.dev, Protocol::v5);
  for (int i = 0; i < 50; ++i)
    REQUIRE(c->publish("opticworks/dev-a/telemetry/t", json{{"i", i}}.dump(), 1) == 0x10);
  // The broker's own backup at start (none existed): wait for it, then
  // remove it, so the rs1ctl ones below are the only ones.
  REQUIRE(wait_until([&] { return contains(b.broker.log(), "rs1: backup "); }, 20s));
  for (const auto& f : files_in(dir)) fs::remove(dir + "/" + f);

  FaultControl ctl_faults(FaultyBroker::fault_file());
  const auto fault = GENERATE(table<std::string, std::string>({{"write ENOSPC", ""},
                                                               {"write EIO", " after=40960"},
                                                               {"fsync EIO", ""},
                                                               {"open ENOSPC", ""}}));
  const std::string rule = std::get<0>(fault) + " " + dir + "/" + std::get<1>(fault);
  INFO("fault: " << rule);
  ctl_faults.set({rule});
  CommandResult r = ctl(b.broker, {"backup", "now"}, &ctl_faults);
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  CHECK(r.out.empty());
  CHECK(contains(r.err, dir));
  // SQLite's own words for a short write on a full disk are clear too.
  CHECK((contains(r.err, reason_of(std::get<0>(fault))) ||
         (std::get<0>(fault) == "write ENOSPC" && contains(r.err, "database or disk is full"))));
  CHECK(files_in(dir).empty());  // neither the final name nor a temporary
  CHECK(b.broker.running());
  CHECK(broker_serves(b, "during-backup"));

  ctl_faults.clear();
  CommandResult ok = ctl(b.broker, {"backup", "now", "--json"}, &ctl_faults);
  INFO(ok.out << ok.err);
  REQUIRE(ok.exit_code == 0);
  const std::string file = json::parse(ok.out)["file"];
  CHECK(files_in(dir) == std::vector<std::string>{fs::path(file).filename().string()});
  CHECK(integrity_check(file) == "ok");
}

TEST_CASE("faults: the broker's own backup on a full disk fails, is reported, and retried",
          "[faults][disk][backup]") {
  FaultyBroker b;
  const std::string dir = b.broker.dir() + "/backups";
  REQUIRE(wait_until([&] { return contains(b.broker.log(), "rs1: backup "); }, 20s));
  // It ran once fault-free at start; now one with ENOSPC, by a restart.
  for (const auto& f : files_in(dir)) fs::remove(dir + "/" + f);
  REQUIRE(b.broker.stop().code == 0);
  b.faults.set({"write ENOSPC " + dir + "/"});
  b.broker.start();
  REQUIRE(wait_until([&] { return contains(b.broker.log_of_this_run(), "backup failed"); }, 20s));
  INFO(b.broker.log_of_this_run());
  CHECK(b.metric("rs1_backup_failing") == 1);
  CHECK(files_in(dir).empty());
  CHECK(b.broker.running());
  CHECK(broker_serves(b, "backup-failed"));
  // After the fault, rs1ctl's backup works beside the running broker.
  b.faults.clear();
  CommandResult ok = ctl(b.broker, {"backup", "now", "--json"});
  INFO(ok.out << ok.err);
  REQUIRE(ok.exit_code == 0);
  CHECK(files_in(dir).size() == 1);
}

namespace {

// `n` rows of `device` 40 days old (past hot_days), each with a random
// 100-byte hex blob so the archive member is about 100 bytes a row.
void insert_old_rows(const std::string& db, const std::string& device, int n) {
  const std::int64_t day_ms = 86400000;
  const std::int64_t t0 = (unix_ms() / day_ms - 40) * day_ms + 3600000;
  const std::string sql =
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < " +
      std::to_string(n - 1) +
      ") INSERT INTO telemetry (device_ref, metric, received_at_ms, payload) "
      "SELECT (SELECT id FROM devices WHERE device_id = '" +
      device + "'), 'old', " + std::to_string(t0) +
      " + i, json_object('i', i, 'r', hex(randomblob(100))) FROM n";
  CommandResult r = run_command({"/usr/bin/sqlite3", db, sql});
  REQUIRE(r.exit_code == 0);
}

std::int64_t old_rows_in_db(const std::string& db) {
  CommandResult r =
      run_command({"/usr/bin/sqlite3", db, "SELECT count(*) FROM telemetry WHERE metric = 'old'"});
  REQUIRE(r.exit_code == 0);
  return std::stoll(r.out);
}

// What `rs1ctl telemetry query` returns of the old rows (database and archive).
std::vector<int> old_rows_queried(const BrokerRunner& broker) {
  CommandResult r = ctl(broker, {"telemetry", "query", "--device", "dev-a", "--metric", "old",
                                 "--since", "60d", "--limit", "100000", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<int> seq;
  for (const auto& row : json::parse(r.out)) seq.push_back(row["payload"]["i"]);
  return seq;
}

}  // namespace

TEST_CASE("faults: an archive chunk on a full or failing disk is moved whole or not at all",
          "[faults][disk][archive]") {
  constexpr int kRows = 4000;  // one chunk, about 400 kB of gzip
  const std::string control = FaultyBroker::fault_file();
  FaultControl faults(control);
  const int http_port = free_port();
  BrokerConfig cfg;
  cfg.plugin_options = {{"http_listen", "127.0.0.1:" + std::to_string(http_port)}};
  cfg.fault_control = control;
  BrokerRunner broker(cfg, BrokerRunner::Start::later);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  insert_old_rows(broker.db_path(), "dev-a", kRows);
  const std::string archive = broker.dir() + "/archive";

  // Mid-member (past the first 128 kB the compressor hands over), at the
  // fsync of a complete member, and at the file's creation.
  const auto fault = GENERATE(table<std::string, std::string>({{"write ENOSPC", " after=131072"},
                                                               {"write EIO", ""},
                                                               {"fsync EIO", ""},
                                                               {"open ENOSPC", ""}}));
  const std::string rule = std::get<0>(fault) + " " + archive + "/" + std::get<1>(fault);
  INFO("fault: " << rule);
  faults.set({rule});
  broker.start();  // aggregates, then archives at start
  REQUIRE(wait_until([&] { return contains(broker.log_of_this_run(), "archive failed"); }, 30s));
  INFO(broker.log_of_this_run());
  CHECK(broker.running());
  // Not moved: every row still in the database, and no member, whole or
  // half, in the archive (a row there too would be read twice).
  CHECK(old_rows_in_db(broker.db_path()) == kRows);
  for (const auto& f : files_in(archive)) {
    INFO(f);
    CHECK(fs::file_size(archive + "/" + f) == 0);
  }
  std::vector<int> seen = old_rows_queried(broker);
  CHECK(seen.size() == static_cast<std::size_t>(kRows));
  CHECK(is_prefix(seen));
  {
    auto c = connect_device(broker, dev, Protocol::v5);
    CHECK(writer_barrier(*c, fleet, "dev-a"));
  }

  // The fault clears; the next run (here: the next start) moves them all.
  REQUIRE(broker.stop().code == 0);
  faults.clear();
  broker.start();
  REQUIRE(wait_until([&] { return contains(broker.log_of_this_run(), "archived "); }, 30s));
  CHECK(old_rows_in_db(broker.db_path()) == 0);
  seen = old_rows_queried(broker);
  CHECK(seen.size() == static_cast<std::size_t>(kRows));
  CHECK(is_prefix(seen));
  CHECK(integrity_check(broker.db_path()) == "ok");
}

namespace {

std::string image_of(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

}  // namespace

TEST_CASE("faults: a firmware upload on a full or failing disk fails clearly and stores nothing",
          "[faults][disk][ota]") {
  FaultControl faults(FaultyBroker::fault_file());
  Api api({{"api_rate_limit_per_min", "0"}}, faults.path());
  Account ops = api.fleet.add_account("ops", Role::admin);
  api.broker.sync_changes();
  const std::string admin = api.token(ops);
  const std::string fw_dir = api.broker.dir() + "/firmware";
  const std::string image = image_of(2 * 1024 * 1024);
  httplib::Headers upload = bearer(admin);
  upload.emplace("Content-Type", "application/octet-stream");

  const auto fault = GENERATE(
      table<std::string, std::string, int>({{"write ENOSPC", " after=1048576", 507},  // mid-upload
                                            {"write EIO", " after=65536", 500},
                                            {"fsync EIO", "", 500},
                                            {"open ENOSPC", "", 507}}));
  const std::string rule = std::get<0>(fault) + " " + fw_dir + "/" + std::get<1>(fault);
  INFO("fault: " << rule);
  faults.set({rule});
  auto r = api.call("POST", "/api/v1/firmware?version=2.0.0", upload, image);
  check_problem(r, std::get<2>(fault));
  CHECK(contains(r->body, fw_dir));
  CHECK(contains(r->body, reason_of(std::get<0>(fault))));
  // Nothing stored, listed or served.
  CHECK(files_in(fw_dir).empty());
  auto list = api.call("GET", "/api/v1/firmware", bearer(admin));
  REQUIRE(list);
  CHECK(json::parse(list->body) == json::array());
  CHECK(api.broker.running());

  // rs1ctl firmware add, on the same disk: a clear error and exit 1.
  const std::string file = api.broker.dir() + "/image.bin";
  std::ofstream(file, std::ios::binary) << image;
  CommandResult add = ctl(api.broker, {"firmware", "add", file, "--version", "2.0.0"}, &faults);
  INFO(add.out << add.err);
  CHECK(add.exit_code == 1);
  CHECK(contains(add.err, fw_dir));
  CHECK(contains(add.err, reason_of(std::get<0>(fault))));
  CHECK(files_in(fw_dir).empty());

  // The disk recovers: both work.
  faults.clear();
  auto ok = api.call("POST", "/api/v1/firmware?version=2.0.0", upload, image);
  REQUIRE(ok);
  INFO(ok->body);
  CHECK(ok->status == 201);
  CommandResult add_ok = ctl(api.broker, {"firmware", "add", file, "--version", "2.0.1"});
  INFO(add_ok.err);
  CHECK(add_ok.exit_code == 0);
  CHECK(files_in(fw_dir).size() == 1);  // one image, both versions
}

TEST_CASE("faults: a database that cannot be opened stops the broker with one clear line",
          "[faults][disk][startup]") {
  FaultControl faults(FaultyBroker::fault_file());
  BrokerConfig cfg;
  cfg.fault_control = faults.path();
  BrokerRunner broker(cfg, BrokerRunner::Start::later);
  const bool exists = GENERATE(false, true);
  const std::string err = GENERATE(as<std::string>{}, "EIO", "ENOSPC");
  INFO((exists ? "an existing database, " : "a new database, ") << err);
  if (exists) Fleet fleet(broker.db_path());
  faults.set({"open " + err + " " + broker.db_path()});
  expect_startup_failure(
      broker, {broker.db_path(), err == "EIO" ? "Input/output error" : "No space left on device"});
  // On the next start with the disk back it serves.
  faults.clear();
  broker.start();
  CHECK(broker.running());
}

TEST_CASE("faults: a database that fails on reopen: rs1ctl says so, the broker serves on",
          "[faults][disk]") {
  FaultyBroker b;
  b.faults.set({"open EIO " + b.broker.db_path()});
  CommandResult r = ctl(b.broker, {"device", "list"}, &b.faults);
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  CHECK(contains(r.err, b.broker.db_path()));
  CHECK(contains(r.err, "Input/output error"));
  // The broker's connections are open already: logins, routing, writes go on.
  CHECK(broker_serves(b, "reopen"));
  auto c = connect_device(b.broker, b.dev);
  CHECK(writer_barrier(*c, b.fleet, "dev-a"));
  // A restart cannot open it: one clear line, no crash.
  REQUIRE(b.broker.stop().code == 0);
  ExitStatus st = b.broker.start_expecting_failure(10s);
  const std::string log = b.broker.log_of_this_run();
  INFO(log);
  CHECK(st.exited);
  CHECK(st.code != 0);
  CHECK(count_lines_with(log, "rs1:") == 1);
  CHECK(contains(log, b.broker.db_path()));
  CHECK(contains(log, "Input/output error"));
  b.faults.clear();
  b.broker.start();
  CHECK(broker_serves(b, "reopened"));
}

TEST_CASE("faults: another process holding the write lock for 10 s stalls no login or message",
          "[faults][lock]") {
  BrokerRunner broker(opts({{"rate_limit_per_min", "0"}, {"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device pinger = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  std::vector<Device> fresh;
  for (int i = 0; i < 15; ++i) fresh.push_back(fleet.add_device("dev-new-" + std::to_string(i)));
  broker.sync_changes();
  auto sub = connect_account(broker, svc, Protocol::v5);
  REQUIRE(sub->subscribe("opticworks/+/telemetry/#") == 1);
  auto ping = connect_device(broker, pinger, Protocol::v5);
  REQUIRE(writer_barrier(*ping, fleet, "dev-a"));

  // sqlite3 takes the write lock (BEGIN IMMEDIATE), says so, holds it 10 s.
  const std::string flag = broker.dir() + "/locked";
  std::vector<std::string> args = {"/usr/bin/sqlite3",
                                   broker.db_path(),
                                   ".timeout 5000",
                                   "BEGIN IMMEDIATE",
                                   ".shell touch " + flag + "; sleep 10",
                                   "COMMIT"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t holder = -1;
  REQUIRE(posix_spawn(&holder, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
  struct Reap {
    pid_t pid;
    ~Reap() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reap{holder};
  REQUIRE(wait_until([&] { return fs::exists(flag); }, 10s, 1ms));
  const auto locked_at = Clock::now();
  // It is held: a write from here waits.
  CHECK(run_command({"/usr/bin/sqlite3", broker.db_path(), "BEGIN IMMEDIATE"}).exit_code != 0);

  auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  double ping_max = 0, ping_sum = 0, login_max = 0, delivery_max = 0;
  int pings = 0, logins = 0;
  std::size_t stored_mid_lock = 1;
  bool released = false;
  int status = 0;
  while (!released) {
    const auto t = Clock::now();
    REQUIRE(ping->publish("opticworks/dev-a/telemetry/ping", json{{"i", pings}}.dump(), 1) == 0);
    const double rtt = ms_since(t);
    ping_max = std::max(ping_max, rtt);
    ping_sum += rtt;
    ++pings;
    if (pings % 60 == 0 && logins < static_cast<int>(fresh.size())) {
      // A device that was never online logs in and its message is routed.
      const Device& d = fresh[static_cast<std::size_t>(logins)];
      const auto t_login = Clock::now();
      auto c = connect_device(broker, d, Protocol::v5);
      login_max = std::max(login_max, ms_since(t_login));
      const std::string topic = "opticworks/" + d.id + "/telemetry/hello";
      const auto t_send = Clock::now();
      REQUIRE(c->publish(topic, R"({"hello":1})", 1) == 0);
      bool got = false;
      while (!got) {
        auto m = sub->wait_for_message(2s);
        REQUIRE(m);
        got = m->topic == topic;
      }
      delivery_max = std::max(delivery_max, ms_since(t_send));
      ++logins;
    }
    if (ms_since(locked_at) > 5000 && stored_mid_lock == 1) {
      stored_mid_lock = fleet.telemetry_count("dev-a") - 1;  // the barrier row
    }
    std::this_thread::sleep_for(10ms);
    released = ::waitpid(holder, &status, WNOHANG) == holder;
  }
  reap.pid = -1;
  const double held_ms = ms_since(locked_at);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  WARN("write lock held " << held_ms << " ms: " << pings << " QoS 1 round trips, longest "
                          << ping_max << " ms, mean " << ping_sum / pings << " ms; " << logins
                          << " logins, longest " << login_max << " ms; longest delivery "
                          << delivery_max << " ms");
  CHECK(held_ms > 9500);
  CHECK(stored_mid_lock == 0);  // the writer really was held off
  CHECK(logins >= 10);
  CHECK(ping_max < 200);
  CHECK(login_max < 200);
  CHECK(delivery_max < 200);
  // Once the lock is gone, everything accepted meanwhile is committed.
  const auto t_release = Clock::now();
  CHECK(wait_until(
      [&] { return fleet.telemetry_count("dev-a") == static_cast<std::size_t>(pings) + 1; }, 10s,
      20ms));
  WARN("rows of the lock window committed " << ms_since(t_release) << " ms after its end");
  CHECK(is_prefix(stored_sequence(fleet, "dev-a", "ping")));
  for (int i = 0; i < logins; ++i)
    CHECK(fleet.telemetry_count(fresh[static_cast<std::size_t>(i)].id) == 1);
}
