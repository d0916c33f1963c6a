// SPEC §4/§8 `rs1ctl` as an operator runs it: the real binary, its stdout,
// stderr and exit code, against standalone databases and against the
// database of a running broker, whose devices then log in over real MQTT.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "core/json_scan.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::optional<std::string>>;

constexpr int kNotAuthorized311 = 5;
constexpr int kNotAuthorizedV5 = 0x87;

const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});

// A scratch directory for databases no broker uses; removed at the end
// unless the test failed.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/rs1-cli-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    if (current_test_failed()) {
      std::cerr << "rs1-it: test failed; kept " << path_ << "\n";
      return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// rs1ctl with `args`. $RS1_DB is unset unless `env` sets it, so the caller's
// shell cannot change what a test sees.
// `stdin_text`, when given, is its standard input.
CommandResult ctl(std::vector<std::string> args, Env env = {}, const std::string& cwd = {},
                  const std::optional<std::string>& stdin_text = std::nullopt) {
  args.insert(args.begin(), RS1CTL_PATH);
  env.emplace("RS1_DB", std::nullopt);
  return run_command(args, env, cwd, 30s, stdin_text);
}

std::string show(const std::vector<std::string>& args, const CommandResult& r) {
  std::ostringstream out;
  out << "rs1ctl";
  for (const auto& a : args) out << ' ' << a;
  out << "\n  -> " << r.status.describe() << "\n  stdout: " << r.out << "\n  stderr: " << r.err;
  return out.str();
}

bool one_line(const std::string& text) {
  return text.size() > 1 && text.back() == '\n' && std::count(text.begin(), text.end(), '\n') == 1;
}

// `args` on `db` with --json after the command words; the command must
// succeed and print exactly one JSON document.
json ctl_json(const std::string& db, std::vector<std::string> args) {
  args.insert(args.end(), {"--db", db, "--json"});
  CommandResult r = ctl(args);
  INFO(show(args, r));
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  // parse() refuses anything after the document but whitespace.
  json doc = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(doc.is_discarded());
  return doc;
}

// A command that must fail with `code`: nothing on stdout and, for 1, one
// line on stderr.
void expect_failure(const std::vector<std::string>& args, int code, Env env = {}) {
  CommandResult r = ctl(args, std::move(env));
  INFO(show(args, r));
  CHECK(r.exit_code == code);
  CHECK(r.out.empty());
  if (code == 1) {
    CHECK(one_line(r.err));
  } else {
    CHECK_FALSE(r.err.empty());
  }
}

bool is_hex(const std::string& s, std::size_t min_len, std::size_t max_len) {
  static const std::regex hex("^[0-9a-f]+$");
  return s.size() >= min_len && s.size() <= max_len && std::regex_match(s, hex);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The database as it is on disk: the main file, its WAL and shared memory.
std::string db_bytes(const std::string& db) {
  return file_bytes(db) + file_bytes(db + "-wal") + file_bytes(db + "-shm");
}

std::string iso_utc(std::int64_t unix_s, int offset_hours = 0) {
  std::time_t t = static_cast<std::time_t>(unix_s + offset_hours * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string zone = "Z";
  if (offset_hours != 0) {
    char z[16];
    std::snprintf(z, sizeof z, "%+03d:00", offset_hours);
    zone = z;
  }
  return buf + zone;
}

// Provisions `id` with rs1ctl; returns the secret it printed.
std::string add_device(const std::string& db, const std::string& id) {
  json added = ctl_json(db, {"device", "add", id, "--model", "RS-1"});
  REQUIRE(added.at("secret").is_string());
  return added["secret"].get<std::string>();
}

// The password `rs1ctl device password` prints for `id` now.
std::string cli_password(const std::string& id, const std::string& secret) {
  // Never let the hour turn between making a password and sending it.
  wait_until([] { return 3600 - unix_s() % 3600 > 3; }, 5s, 100ms);
  std::vector<std::string> args = {"device", "password", id, "--secret", secret};
  CommandResult r = ctl(args);
  INFO(show(args, r));
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.size() == 65);
  return r.out.substr(0, 64);
}

int login(const BrokerRunner& broker, const std::string& client_id, const std::string& username,
          const std::string& password, Protocol protocol = Protocol::v311) {
  MqttClient c(client_id, protocol);
  c.credentials(username, password);
  return c.connect(broker.port());
}

std::unique_ptr<MqttClient> connect_with(const BrokerRunner& broker, const std::string& id,
                                         const std::string& password,
                                         Protocol protocol = Protocol::v311) {
  auto c = std::make_unique<MqttClient>(id, protocol);
  c->credentials(id, password);
  INFO(id << " logs in");
  REQUIRE(c->connect(broker.port()) == 0);
  return c;
}

json device_show(const std::string& db, const std::string& id) {
  return ctl_json(db, {"device", "show", id});
}

// SPEC §8's device document, field by field, with types.
void check_device_shape(const json& d) {
  INFO(d.dump());
  REQUIRE(d.is_object());
  for (const char* key : {"device_id", "model", "status", "online", "last_seen", "state",
                          "firmware_version", "created_at"}) {
    CAPTURE(key);
    CHECK(d.contains(key));
  }
  CHECK(d["device_id"].is_string());
  CHECK((d["model"].is_string() || d["model"].is_null()));
  CHECK((d["status"] == "active" || d["status"] == "revoked"));
  CHECK(d["online"].is_boolean());
  CHECK((d["last_seen"].is_number_integer() || d["last_seen"].is_null()));
  CHECK((d["state"].is_object() || d["state"].is_null()));
  CHECK((d["firmware_version"].is_string() || d["firmware_version"].is_null()));
  CHECK(d["created_at"].is_number_integer());
}

std::vector<std::string> ids_in(const json& list, const char* key) {
  std::vector<std::string> ids;
  for (const auto& e : list) ids.push_back(e.at(key).get<std::string>());
  return ids;
}

}  // namespace

TEST_CASE("cli: init creates the database and its directory, and other commands never create one",
          "[cli]") {
  TempDir tmp;
  const std::string db = tmp / "var/deep/rs1.db";
  {
    std::vector<std::string> args = {"init", "--db", db};
    CommandResult r = ctl(args);
    INFO(show(args, r));
    CHECK(r.exit_code == 0);
    CHECK(fs::is_regular_file(db));
    CHECK(contains(r.out, db));
  }
  // Again: an up-to-date database is fine, and keeps what it holds.
  add_device(db, "dev-a");
  CHECK(ctl({"init", "--db", db}).exit_code == 0);
  CHECK(ids_in(ctl_json(db, {"device", "list"}), "device_id") == std::vector<std::string>{"dev-a"});

  const std::string missing_in_dir = tmp / "nowhere/rs1.db";
  const std::string missing = tmp / "typo.db";
  const std::vector<std::vector<std::string>> commands = {
      {"device", "list"},
      {"device", "show", "dev-a"},
      {"device", "add", "dev-a"},
      {"device", "revoke", "dev-a"},
      {"device", "delete", "dev-a"},
      {"account", "add", "backend", "--role", "service"},
      {"account", "list"},
      {"telemetry", "query"},
      {"security", "log"},
  };
  for (const auto& path : {missing, missing_in_dir}) {
    for (const auto& command : commands) {
      {
        // Text for one path, --json for the other.
        const bool as_json = path == missing_in_dir;
        std::vector<std::string> args = command;
        args.insert(args.end(), {"--db", path});
        if (as_json) args.push_back("--json");
        CommandResult r = ctl(args);
        INFO(show(args, r));
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK(one_line(r.err));
        CHECK(contains(r.err, path));
        CHECK_FALSE(fs::exists(path));
        CHECK_FALSE(fs::exists(path + "-wal"));
        CHECK_FALSE(fs::exists(path + "-journal"));
      }
    }
  }
  CHECK_FALSE(fs::exists(tmp / "nowhere"));

  // The password of a device needs no database, and makes none.
  std::vector<std::string> args = {"device", "password", "dev-a", "--secret", std::string(64, 'a'),
                                   "--db",   missing};
  CommandResult r = ctl(args);
  INFO(show(args, r));
  CHECK(r.exit_code == 0);
  CHECK_FALSE(fs::exists(missing));
}

TEST_CASE("cli: without --db, $RS1_DB and then ./var/rs1.db are the database", "[cli]") {
  TempDir tmp;
  // No --db, no $RS1_DB: ./var/rs1.db, relative to where rs1ctl runs.
  {
    CommandResult r = ctl({"device", "list"}, {}, tmp.path());
    INFO(show({"device", "list"}, r));
    CHECK(r.exit_code == 1);
    CHECK(one_line(r.err));
    CHECK(contains(r.err, "var/rs1.db"));
    CHECK_FALSE(fs::exists(tmp / "var"));
  }
  {
    CommandResult r = ctl({"init"}, {}, tmp.path());
    INFO(show({"init"}, r));
    CHECK(r.exit_code == 0);
    CHECK(fs::is_regular_file(tmp / "var/rs1.db"));
  }
  // $RS1_DB wins over the default, --db over $RS1_DB.
  const std::string env_db = tmp / "env/rs1.db";
  const std::string flag_db = tmp / "flag.db";
  CHECK(ctl({"init"}, {{"RS1_DB", env_db}}, tmp.path()).exit_code == 0);
  CHECK(ctl({"init", "--db", flag_db}, {{"RS1_DB", env_db}}, tmp.path()).exit_code == 0);
  CHECK(ctl({"device", "add", "in-env"}, {{"RS1_DB", env_db}}, tmp.path()).exit_code == 0);
  CHECK(ctl({"device", "add", "in-flag", "--db", flag_db}, {{"RS1_DB", env_db}}, tmp.path())
            .exit_code == 0);
  CHECK(ids_in(ctl_json(env_db, {"device", "list"}), "device_id") ==
        std::vector<std::string>{"in-env"});
  CHECK(ids_in(ctl_json(flag_db, {"device", "list"}), "device_id") ==
        std::vector<std::string>{"in-flag"});
  CHECK(ids_in(ctl_json(tmp / "var/rs1.db", {"device", "list"}), "device_id").empty());
}

TEST_CASE("cli: --db and --json give the same result before and after the command words", "[cli]") {
  TempDir tmp;
  const std::string db = tmp / "rs1.db";
  REQUIRE(ctl({"init", "--db", db}).exit_code == 0);
  // A write with the options first, another with them last.
  {
    std::vector<std::string> args = {"--db", db,      "--json",  "device",
                                     "add",  "dev-a", "--model", "M"};
    CommandResult r = ctl(args);
    INFO(show(args, r));
    REQUIRE(r.exit_code == 0);
    CHECK(json::parse(r.out).at("device_id") == "dev-a");
  }
  {
    std::vector<std::string> args = {"device", "add", "dev-b", "--json", "--db", db};
    CommandResult r = ctl(args);
    INFO(show(args, r));
    REQUIRE(r.exit_code == 0);
    CHECK(json::parse(r.out).at("device_id") == "dev-b");
  }

  for (const std::vector<std::string>& words : {std::vector<std::string>{"device", "list"},
                                                std::vector<std::string>{"device", "show", "dev-a"},
                                                std::vector<std::string>{"account", "list"}}) {
    CAPTURE(words);
    auto with = [&](std::vector<std::string> before, std::vector<std::string> after) {
      std::vector<std::string> args = std::move(before);
      args.insert(args.end(), words.begin(), words.end());
      args.insert(args.end(), after.begin(), after.end());
      return args;
    };
    const Env from_env = {{"RS1_DB", db}};
    const Env elsewhere = {{"RS1_DB", tmp / "missing.db"}};
    struct Variant {
      std::vector<std::string> args;
      Env env;
    };
    const std::vector<Variant> json_variants = {
        {with({"--db", db, "--json"}, {}), {}},
        {with({}, {"--db", db, "--json"}), {}},
        {with({"--json"}, {"--db", db}), {}},
        {with({"--db", db}, {"--json"}), {}},
        {with({}, {"--json"}), from_env},
        {with({"--json"}, {}), from_env},
        {with({"--db", db}, {"--json"}), elsewhere},
        {with({}, {"--json", "--db", db}), elsewhere},
    };
    const std::vector<Variant> text_variants = {
        {with({"--db", db}, {}), {}},
        {with({}, {"--db", db}), {}},
        {with({}, {}), from_env},
    };
    for (const auto* variants : {&json_variants, &text_variants}) {
      std::optional<std::string> first;
      for (const auto& v : *variants) {
        CommandResult r = ctl(v.args, v.env);
        INFO(show(v.args, r));
        CHECK(r.exit_code == 0);
        CHECK(r.err.empty());
        const bool is_json = !json::parse(r.out, nullptr, false).is_discarded();
        CHECK(is_json == (variants == &json_variants));
        if (!first) first = r.out;
        CHECK(r.out == *first);
      }
    }
  }
}

TEST_CASE(
    "cli: device add prints the secret once, stores only its hash, and the password "
    "from device password logs in",
    "[cli][mqtt]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();

  std::vector<std::string> args = {"device", "add",    "sensor-001", "--model",
                                   "RS-1",   "--json", "--db",       db};
  CommandResult r = ctl(args);
  INFO(show(args, r));
  REQUIRE(r.exit_code == 0);
  json added = json::parse(r.out, nullptr, false);
  REQUIRE(added.is_object());
  CHECK(added.at("device_id") == "sensor-001");
  REQUIRE(added.at("secret").is_string());
  const std::string secret = added["secret"];
  CHECK(is_hex(secret, 64, 64));

  // Text mode shows the secret too, as a line of its own.
  CommandResult text = ctl({"device", "add", "sensor-002", "--db", db});
  REQUIRE(text.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(text.out, m, std::regex("\\b[0-9a-f]{64}\\b")));
  const std::string secret2 = m.str();
  CHECK(secret2 != secret);

  // The database holds the hash of the secret, never the secret.
  const std::string bytes = db_bytes(db);
  CHECK(contains(bytes, sha256_hex(secret)));
  CHECK_FALSE(contains(bytes, secret));
  CHECK_FALSE(contains(bytes, secret2));
  // The device list does not show it either.
  CHECK_FALSE(contains(ctl({"device", "list", "--db", db, "--json"}).out, secret));

  // The password: text mode prints just the password.
  const std::string password = cli_password("sensor-001", secret);
  CHECK(is_hex(password, 64, 64));
  CHECK(password == password_for_hour(sha256_hex(secret), "sensor-001", hour_of(unix_s())));
  // An upper-case copy of the secret gives the same password.
  std::string upper = secret;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  CHECK(ctl({"device", "password", "sensor-001", "--secret", upper}).out == password + "\n");

  // The end-to-end path of the README: provision, compute, log in, publish.
  broker.sync_changes();
  for (Protocol p : {Protocol::v311, Protocol::v5}) {
    auto c = connect_with(broker, "sensor-001", cli_password("sensor-001", secret), p);
    CHECK(c->publish("opticworks/sensor-001/state", R"({"uptime_s":12})", 1) != kNotAuthorizedV5);
  }
  CHECK(login(broker, "sensor-002", "sensor-002", cli_password("sensor-002", secret2)) == 0);
  // One device's password is not another's.
  CHECK(login(broker, "sensor-002", "sensor-002", password) == kNotAuthorized311);
  CHECK(login(broker, "sensor-001", "sensor-001", cli_password("sensor-001", secret2)) ==
        kNotAuthorized311);

  // --json: {"device_id","hour","password"} for this hour.
  {
    const std::int64_t before = hour_of(unix_s());
    json pw = ctl_json(db, {"device", "password", "sensor-001", "--secret", secret});
    const std::int64_t after = hour_of(unix_s());
    CHECK(pw.at("device_id") == "sensor-001");
    REQUIRE(pw.at("hour").is_number_integer());
    CHECK(pw["hour"].get<std::int64_t>() >= before);
    CHECK(pw["hour"].get<std::int64_t>() <= after);
    REQUIRE(pw.at("password").is_string());
    CHECK(pw["password"] ==
          password_for_hour(sha256_hex(secret), "sensor-001", pw["hour"].get<std::int64_t>()));
  }

  // --at UNIX: the password of that hour. One hour back is still accepted,
  // three hours back is refused.
  const std::int64_t now = unix_s();
  for (std::int64_t at : {now - 3 * 3600, now - 3600 - 1, std::int64_t{1700000000}}) {
    CAPTURE(at);
    json pw = ctl_json(
        db, {"device", "password", "sensor-001", "--secret", secret, "--at", std::to_string(at)});
    CHECK(pw.at("hour") == at / 3600);
    CHECK(pw.at("password") == password_for_hour(sha256_hex(secret), "sensor-001", at / 3600));
    CommandResult t =
        ctl({"device", "password", "sensor-001", "--secret", secret, "--at", std::to_string(at)});
    CHECK(t.out == pw["password"].get<std::string>() + "\n");
  }
  wait_until([] { return 3600 - unix_s() % 3600 > 3; }, 5s, 100ms);
  auto at_password = [&](std::int64_t at) {
    CommandResult t =
        ctl({"device", "password", "sensor-001", "--secret", secret, "--at", std::to_string(at)});
    REQUIRE(t.exit_code == 0);
    return t.out.substr(0, 64);
  };
  const std::int64_t t = unix_s();
  CHECK(login(broker, "sensor-001", "sensor-001", at_password(t - 3600)) == 0);
  CHECK(login(broker, "sensor-001", "sensor-001", at_password(t - 3 * 3600)) == kNotAuthorized311);
  CHECK(login(broker, "sensor-001", "sensor-001", at_password(t - 3 * 3600), Protocol::v5) ==
        kNotAuthorizedV5);

  // A secret that is not 64 hex characters is a usage error, never echoed.
  const std::string bad_secret = "zz" + secret.substr(2);
  std::vector<std::string> bad = {"device", "password", "sensor-001", "--secret", bad_secret};
  CommandResult b = ctl(bad);
  INFO(show(bad, b));
  CHECK(b.exit_code == 2);
  CHECK(b.out.empty());
  CHECK_FALSE(contains(b.err, bad_secret));
}

TEST_CASE("cli: device show and list have SPEC §8's shape, with online and state from the broker",
          "[cli][mqtt]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  const std::int64_t t0 = unix_s();
  const std::string secret = add_device(db, "dev-a");
  REQUIRE(ctl({"device", "add", "dev-b", "--db", db}).exit_code == 0);  // no model
  const std::int64_t t1 = unix_s();
  broker.sync_changes();

  json a = device_show(db, "dev-a");
  check_device_shape(a);
  CHECK(a["device_id"] == "dev-a");
  CHECK(a["model"] == "RS-1");
  CHECK(a["status"] == "active");
  CHECK(a["online"] == false);
  CHECK(a["last_seen"].is_null());
  CHECK(a["state"].is_null());
  CHECK(a["firmware_version"].is_null());
  CHECK(a["created_at"].get<std::int64_t>() >= t0);
  CHECK(a["created_at"].get<std::int64_t>() <= t1);
  json b = device_show(db, "dev-b");
  check_device_shape(b);
  CHECK(b["model"].is_null());

  // Online while connected, with the state it published.
  auto c = connect_with(broker, "dev-a", cli_password("dev-a", secret), Protocol::v5);
  const json state = {{"mode", "idle"}, {"uptime_s", 12}, {"zones", {{"sofa", true}}}};
  CHECK(c->publish("opticworks/dev-a/state", state.dump(), 1) != kNotAuthorizedV5);
  json online;
  CHECK(wait_until(
      [&] {
        online = device_show(db, "dev-a");
        return online["online"] == true && online["state"] == state;
      },
      3s, 50ms));
  check_device_shape(online);
  CHECK(online["online"] == true);
  CHECK(online["state"] == state);
  REQUIRE(online["last_seen"].is_number_integer());
  CHECK(online["last_seen"].get<std::int64_t>() >= t0);
  CHECK(online["last_seen"].get<std::int64_t>() <= unix_s());

  json list = ctl_json(db, {"device", "list"});
  REQUIRE(list.is_array());
  REQUIRE(list.size() == 2);
  for (const auto& d : list) check_device_shape(d);
  CHECK(ids_in(list, "device_id") == std::vector<std::string>{"dev-a", "dev-b"});
  CHECK(list[0] == online);
  CHECK(list[1]["online"] == false);
  // Text mode says so too.
  CommandResult text = ctl({"device", "show", "dev-a", "--db", db});
  CHECK(text.exit_code == 0);
  CHECK(contains(text.out, "dev-a"));
  CHECK(contains(text.out, "idle"));

  // Offline after it disconnects; the last state stays.
  c->disconnect();
  json offline;
  CHECK(wait_until(
      [&] {
        offline = device_show(db, "dev-a");
        return offline["online"] == false;
      },
      3s, 50ms));
  CHECK(offline["online"] == false);
  CHECK(offline["state"] == state);
  CHECK(offline["last_seen"].is_number_integer());
}

TEST_CASE(
    "cli: device revoke disconnects a connected device within 2 s, and enable lets it back in",
    "[cli][mqtt][revocation]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  const std::string secret = add_device(db, "dev-a");
  const std::string other_secret = add_device(db, "dev-b");
  broker.sync_changes();
  auto c = connect_with(broker, "dev-a", cli_password("dev-a", secret), Protocol::v5);
  auto o = connect_with(broker, "dev-b", cli_password("dev-b", other_secret));

  const auto t0 = std::chrono::steady_clock::now();
  CommandResult r = ctl({"device", "revoke", "dev-a", "--db", db});
  CHECK(r.exit_code == 0);
  REQUIRE(c->wait_disconnected(5s));
  const auto elapsed = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - t0);
  CAPTURE(elapsed.count());
  CHECK(elapsed <= 2000ms);
  CHECK(o->connected());
  CHECK(device_show(db, "dev-a")["status"] == "revoked");
  CHECK(login(broker, "dev-a", "dev-a", cli_password("dev-a", secret)) == kNotAuthorized311);
  CHECK(login(broker, "dev-a", "dev-a", cli_password("dev-a", secret), Protocol::v5) ==
        kNotAuthorizedV5);

  // enable: back in within 2 s.
  const auto t1 = std::chrono::steady_clock::now();
  CHECK(ctl({"device", "enable", "dev-a", "--db", db}).exit_code == 0);
  CHECK(wait_until(
      [&] { return login(broker, "dev-a", "dev-a", cli_password("dev-a", secret)) == 0; }, 3s,
      100ms));
  CHECK(std::chrono::steady_clock::now() - t1 <= 2s);
  CHECK(device_show(db, "dev-a")["status"] == "active");
}

TEST_CASE("cli: device delete removes a device, disconnects it and refuses it", "[cli][mqtt]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  Fleet fleet(db);
  const std::string secret = add_device(db, "dev-a");
  add_device(db, "dev-b");
  broker.sync_changes();
  auto c = connect_with(broker, "dev-a", cli_password("dev-a", secret), Protocol::v5);
  REQUIRE(writer_barrier(*c, fleet, "dev-a"));

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> args = {"device", "delete", "dev-a", "--db", db};
  CommandResult r = ctl(args);
  INFO(show(args, r));
  CHECK(r.exit_code == 0);
  CHECK(c->wait_disconnected(2500ms));
  CHECK(std::chrono::steady_clock::now() - t0 <= 2500ms);

  expect_failure({"device", "show", "dev-a", "--db", db}, 1);
  expect_failure({"device", "delete", "dev-a", "--db", db}, 1);
  CHECK(ids_in(ctl_json(db, {"device", "list"}), "device_id") == std::vector<std::string>{"dev-b"});
  CHECK(ctl_json(db, {"telemetry", "query", "--device", "dev-a"}).empty());
  CHECK(login(broker, "dev-a", "dev-a", cli_password("dev-a", secret)) == kNotAuthorized311);
}

TEST_CASE("cli: account add makes an account that logs in, and names never collide with devices",
          "[cli][mqtt]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  const std::string secret = add_device(db, "dev-a");

  json svc = ctl_json(db, {"account", "add", "backend", "--role", "service"});
  REQUIRE(svc.is_object());
  CHECK(svc.at("username") == "backend");
  CHECK(svc.at("role") == "service");
  REQUIRE(svc.at("password").is_string());
  const std::string password = svc["password"];
  CHECK(password.size() >= 32);  // at least 128 random bits
  json adm = ctl_json(db, {"account", "add", "operator", "--role", "admin"});
  CHECK(adm.at("role") == "admin");
  const std::string admin_password = adm.at("password");
  CHECK(admin_password != password);
  // Stored as a salted hash only.
  CHECK_FALSE(contains(db_bytes(db), password));
  CHECK_FALSE(contains(db_bytes(db), admin_password));
  broker.sync_changes();

  // The service logs in, reads every device's uplinks; the admin anything.
  MqttClient service("backend-1", Protocol::v5);
  service.credentials("backend", password);
  REQUIRE(service.connect(broker.port()) == 0);
  CHECK(service.subscribe("opticworks/#") == 1);
  MqttClient op("operator-1");
  op.credentials("operator", admin_password);
  REQUIRE(op.connect(broker.port()) == 0);
  CHECK(op.subscribe("#") == 1);
  CHECK(login(broker, "backend-2", "backend", admin_password) == kNotAuthorized311);
  auto dev = connect_with(broker, "dev-a", cli_password("dev-a", secret));
  CHECK(dev->publish("opticworks/dev-a/telemetry/env", R"({"t":21.5})", 1) == 0);
  auto msg = service.wait_for_message();
  REQUIRE(msg);
  CHECK(msg->topic == "opticworks/dev-a/telemetry/env");

  json list = ctl_json(db, {"account", "list"});
  REQUIRE(list.is_array());
  CHECK(ids_in(list, "username") == std::vector<std::string>{"backend", "operator"});
  for (const auto& a : list) {
    CHECK(a.at("role").is_string());
    CHECK_FALSE(a.contains("password"));
  }
  CHECK(list[0]["role"] == "service");
  CHECK(list[1]["role"] == "admin");

  // A name that is a device id, or taken, or a bad role: nothing written.
  expect_failure({"account", "add", "dev-a", "--role", "service", "--db", db}, 1);
  expect_failure({"account", "add", "backend", "--role", "admin", "--db", db}, 1);
  expect_failure({"device", "add", "backend", "--db", db}, 1);
  expect_failure({"account", "add", "other", "--role", "root", "--db", db}, 2);
  expect_failure({"account", "add", "other", "--db", db}, 2);
  CHECK(ctl_json(db, {"account", "list"}) == list);
  CHECK(ids_in(ctl_json(db, {"device", "list"}), "device_id") == std::vector<std::string>{"dev-a"});
  CHECK(login(broker, "dev-a", "dev-a", cli_password("dev-a", secret)) == 0);

  // delete: gone from the list, its session ends, its login is refused.
  CHECK(ctl({"account", "delete", "backend", "--db", db}).exit_code == 0);
  CHECK(service.wait_disconnected(2500ms));
  CHECK(ids_in(ctl_json(db, {"account", "list"}), "username") ==
        std::vector<std::string>{"operator"});
  CHECK(login(broker, "backend-3", "backend", password) == kNotAuthorized311);
  expect_failure({"account", "delete", "backend", "--db", db}, 1);
}

TEST_CASE("cli: telemetry query shows what devices published, oldest first, filtered",
          "[cli][mqtt]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  Fleet fleet(db);
  const std::string sa = add_device(db, "dev-a");
  const std::string sb = add_device(db, "dev-b");
  broker.sync_changes();
  auto a = connect_with(broker, "dev-a", cli_password("dev-a", sa));
  auto b = connect_with(broker, "dev-b", cli_password("dev-b", sb));

  struct Sent {
    std::string device;
    std::string metric;
    json payload;
  };
  std::vector<Sent> sent;
  auto publish = [&](MqttClient& c, const std::string& device, const std::string& metric,
                     json payload) {
    REQUIRE(c.publish("opticworks/" + device + "/telemetry/" + metric, payload.dump(), 1) == 0);
    sent.push_back({device, metric, std::move(payload)});
    std::this_thread::sleep_for(2ms);  // distinct receive times: "oldest first" is then one order
  };
  const std::int64_t t0_ms = unix_ms();
  publish(*a, "dev-a", "env", {{"i", 1}, {"temp", 21.5}});
  publish(*b, "dev-b", "env", {{"i", 2}, {"temp", 19.0}});
  publish(*a, "dev-a", "power", {{"i", 3}, {"w", 4}});
  publish(*a, "dev-a", "env", {{"i", 4}, {"temp", 21.7}, {"nested", {{"ok", true}}}});
  REQUIRE(wait_until(
      [&] { return fleet.telemetry_count("dev-a") + fleet.telemetry_count("dev-b") == 4; }, 3s));
  // A second batch in a later second, so --since and --until have an edge.
  const std::int64_t first_batch_end_ms = unix_ms();
  const std::int64_t edge = first_batch_end_ms / 1000 + 1;
  REQUIRE(wait_until([&] { return unix_ms() >= edge * 1000 + 5; }, 2s, 5ms));
  publish(*b, "dev-b", "env", {{"i", 5}, {"temp", 19.2}});
  publish(*a, "dev-a", "env", {{"i", 6}, {"temp", 21.9}});
  REQUIRE(wait_until(
      [&] { return fleet.telemetry_count("dev-a") + fleet.telemetry_count("dev-b") == 6; }, 3s));
  const std::int64_t t1_ms = unix_ms();

  auto is = [](const json& rows) {
    std::vector<int> out;
    for (const auto& r : rows) out.push_back(r.at("payload").at("i").get<int>());
    return out;
  };
  using V = std::vector<int>;

  json all = ctl_json(db, {"telemetry", "query"});
  REQUIRE(all.is_array());
  REQUIRE(all.size() == sent.size());
  std::int64_t previous = 0;
  for (std::size_t k = 0; k < all.size(); ++k) {
    const json& row = all[k];
    INFO(row.dump());
    CHECK(row.at("device_id") == sent[k].device);
    CHECK(row.at("metric") == sent[k].metric);
    CHECK(row.at("payload") == sent[k].payload);
    REQUIRE(row.at("received_at_ms").is_number_integer());
    const std::int64_t at = row["received_at_ms"];
    CHECK(at >= t0_ms);
    CHECK(at <= t1_ms);
    CHECK(at >= previous);
    previous = at;
  }
  CHECK(is(all) == V{1, 2, 3, 4, 5, 6});

  CHECK(is(ctl_json(db, {"telemetry", "query", "--device", "dev-a"})) == V{1, 3, 4, 6});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--metric", "env"})) == V{1, 2, 4, 5, 6});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--device", "dev-a", "--metric", "env"})) ==
        V{1, 4, 6});
  CHECK(ctl_json(db, {"telemetry", "query", "--device", "dev-c"}) == json::array());
  CHECK(ctl_json(db, {"telemetry", "query", "--metric", "nothing"}) == json::array());
  CHECK(is(ctl_json(db, {"telemetry", "query", "--limit", "2"})) == V{1, 2});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--device", "dev-b", "--limit", "1"})) == V{2});

  // Times: unix seconds, ISO-8601 (Z and an offset), relative.
  const std::string e = std::to_string(edge);
  const std::string before_edge = std::to_string(edge - 1);
  CHECK(is(ctl_json(db, {"telemetry", "query", "--since", e})) == V{5, 6});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--until", before_edge})) == V{1, 2, 3, 4});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--since", iso_utc(edge)})) == V{5, 6});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--since", iso_utc(edge, +1)})) == V{5, 6});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--until", iso_utc(edge - 1, -2)})) ==
        V{1, 2, 3, 4});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--since", "10m"})) == V{1, 2, 3, 4, 5, 6});
  CHECK(is(ctl_json(db, {"telemetry", "query", "--since", "2h", "--until", "10m"})).empty());
  CHECK(is(ctl_json(db, {"telemetry", "query", "--since", std::to_string(unix_s() + 60)})).empty());
  CHECK(is(ctl_json(db, {"telemetry", "query", "--device", "dev-a", "--since", e, "--until",
                         std::to_string(unix_s() + 60)})) == V{6});

  // Text mode: a table a person reads, not JSON.
  CommandResult text = ctl({"telemetry", "query", "--device", "dev-b", "--db", db});
  CHECK(text.exit_code == 0);
  CHECK(json::parse(text.out, nullptr, false).is_discarded());
  CHECK(contains(text.out, "dev-b"));
  CHECK(contains(text.out, "19.2"));
  CHECK_FALSE(contains(text.out, "dev-a"));

  // Bad filters are usage errors.
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--since", "yesterday"},
                                              {"--since", "10x"},
                                              {"--until", "2026-13-01"},
                                              {"--since"},
                                              {"--limit", "0"},
                                              {"--limit", "many"},
                                              {"--device", "bad/id"},
                                              {"--device", "a+b"},
                                              {"--metric", "a/#"}}) {
    std::vector<std::string> args = {"telemetry", "query", "--db", db};
    args.insert(args.end(), bad.begin(), bad.end());
    expect_failure(args, 2);
  }
}

TEST_CASE("cli: the security log records admin commands without secrets, and acl violations",
          "[cli][mqtt][security]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  Fleet fleet(db);
  const std::int64_t t0 = unix_s();
  const std::string secret = add_device(db, "dev-a");  // device add
  json svc = ctl_json(db, {"account", "add", "backend", "--role", "service"});
  const std::string password = svc.at("password");
  REQUIRE(ctl({"device", "password", "dev-a", "--secret", secret, "--db", db}).exit_code == 0);
  REQUIRE(ctl({"device", "list", "--db", db}).exit_code == 0);
  REQUIRE(ctl({"device", "show", "dev-a", "--db", db}).exit_code == 0);

  // A denied publish, then a barrier: its acl_violation is committed.
  broker.sync_changes();
  auto c = connect_with(broker, "dev-a", cli_password("dev-a", secret), Protocol::v5);
  CHECK(c->publish("opticworks/dev-b/state", R"({"spoof":1})", 1) == kNotAuthorizedV5);
  REQUIRE(writer_barrier(*c, fleet, "dev-a"));
  REQUIRE(wait_until([&] { return !fleet.events("acl_violation").empty(); }, 3s));

  std::vector<std::string> args = {"security", "log", "--db", db, "--json"};
  CommandResult r = ctl(args);
  INFO(show(args, r));
  REQUIRE(r.exit_code == 0);
  json log = json::parse(r.out, nullptr, false);
  REQUIRE(log.is_array());
  std::vector<std::string> commands;  // admin commands, newest first
  bool acl_seen = false;
  std::int64_t previous = std::numeric_limits<std::int64_t>::max();
  for (const auto& e : log) {
    INFO(e.dump());
    REQUIRE(e.is_object());
    for (const char* key : {"event_type", "severity", "ip", "details", "time"}) {
      CAPTURE(key);
      CHECK(e.contains(key));
    }
    CHECK(e["event_type"].is_string());
    CHECK(e["severity"].is_string());
    CHECK((e["ip"].is_string() || e["ip"].is_null()));
    REQUIRE(e["details"].is_object());
    REQUIRE(e["time"].is_number_integer());
    const std::int64_t time = e["time"];
    CHECK(time >= t0);
    CHECK(time <= unix_s());
    CHECK(time <= previous);  // newest first
    previous = time;
    if (e["event_type"] == "admin_api_access") {
      REQUIRE(e["details"].contains("command"));
      commands.push_back(e["details"]["command"].get<std::string>());
    } else if (e["event_type"] == "acl_violation") {
      acl_seen = true;
      CHECK(e["ip"] == "127.0.0.1");
      CHECK(contains(e["details"].dump(), "opticworks/dev-b/state"));
    }
  }
  CHECK(acl_seen);
  // Each command that opened the database, newest first.
  CHECK(commands ==
        std::vector<std::string>{"device show", "device list", "account add", "device add"});
  // Its arguments are there; the secret and the password are nowhere.
  CHECK(contains(r.out, "\"dev-a\""));
  CHECK(contains(r.out, "\"backend\""));
  CHECK_FALSE(contains(r.out, secret));
  CHECK_FALSE(contains(r.out, password));
  CommandResult text = ctl({"security", "log", "--db", db});
  CHECK(text.exit_code == 0);
  CHECK(contains(text.out, "acl_violation"));
  CHECK(contains(text.out, "device add"));
  CHECK_FALSE(contains(text.out, secret));
  CHECK_FALSE(contains(text.out, password));
  CHECK_FALSE(contains(db_bytes(db), secret));
  CHECK_FALSE(contains(db_bytes(db), password));

  // --type keeps one kind; --since cuts by time.
  for (const std::string type : {"acl_violation", "admin_api_access"}) {
    CAPTURE(type);
    json only = ctl_json(db, {"security", "log", "--type", type});
    REQUIRE(only.is_array());
    CHECK_FALSE(only.empty());
    for (const auto& e : only) CHECK(e.at("event_type") == type);
  }
  CHECK(ctl_json(db, {"security", "log", "--type", "rate_limit_exceeded"}) == json::array());
  CHECK(ctl_json(db, {"security", "log", "--since", "10m", "--type", "acl_violation"}).size() ==
        ctl_json(db, {"security", "log", "--type", "acl_violation"}).size());
  CHECK(ctl_json(db, {"security", "log", "--since", std::to_string(unix_s() + 60)}) ==
        json::array());
  expect_failure({"security", "log", "--since", "soon", "--db", db}, 2);
}

TEST_CASE("cli: usage errors exit 2, failures exit 1 with one line, and neither writes anything",
          "[cli]") {
  TempDir tmp;
  const std::string db = tmp / "rs1.db";
  REQUIRE(ctl({"init", "--db", db}).exit_code == 0);
  const std::string secret = add_device(db, "dev-a");
  REQUIRE(ctl({"account", "add", "svc", "--role", "service", "--db", db}).exit_code == 0);

  Fleet fleet(db);
  const std::string hash_before = fleet.store().devices().find_credentials("dev-a")->secret_hash;
  CHECK(hash_before == sha256_hex(secret));
  const json devices_before = ctl_json(db, {"device", "list"});
  const json accounts_before = ctl_json(db, {"account", "list"});
  const std::size_t events_before = fleet.events("admin_api_access").size();

  using Args = std::vector<std::string>;
  const Args usage_errors[] = {
      {},
      {"frobnicate"},
      {"device"},
      {"device", "frobnicate"},
      {"device", "list", "--frobnicate"},
      {"--frobnicate", "device", "list"},
      {"device", "show"},
      {"device", "add"},
      {"device", "revoke"},
      {"device", "show", "bad/id"},
      {"device", "show", "a+b"},
      {"device", "add", "bad/id"},
      {"device", "add", "a+b"},
      {"device", "add", "dev#1"},
      {"device", "add", std::string(65, 'x')},
      {"device", "delete", "a b"},
      {"device", "password", "dev-a"},
      {"device", "password", "dev-a", "--secret", "abc"},
      {"device", "password", "dev-a", "--secret", secret, "--at", "noon"},
      {"account", "add", "x"},
      {"account", "add", "x", "--role", "root"},
      {"account", "add", "bad/name", "--role", "service"},
      {"account", "delete"},
      {"telemetry", "query", "--since", "yesterday"},
      {"telemetry", "query", "--until", "later"},
      {"security", "log", "--since", "1y"},
      {"device", "list", "--db"},
  };
  for (Args args : usage_errors) {
    if (args.empty() || args.back() != "--db") args.insert(args.end(), {"--db", db});
    expect_failure(args, 2);
  }

  const Args failures[] = {
      {"device", "show", "nope"},
      {"device", "revoke", "nope"},
      {"device", "enable", "nope"},
      {"device", "delete", "nope"},
      {"device", "add", "dev-a"},
      {"device", "add", "svc"},
      {"account", "add", "svc", "--role", "admin"},
      {"account", "add", "dev-a", "--role", "service"},
      {"account", "delete", "nope"},
  };
  bool as_json = false;
  for (Args args : failures) {
    args.insert(args.end(), {"--db", db});
    if (as_json) args.push_back("--json");  // every other one: --json changes nothing here
    as_json = !as_json;
    expect_failure(args, 1);
  }

  // Nothing was written by any of them but, for each failure, its record in
  // the security log.
  CHECK(fleet.store().devices().find_credentials("dev-a")->secret_hash == hash_before);
  CHECK(ctl_json(db, {"device", "list"}) == devices_before);
  CHECK(ctl_json(db, {"account", "list"}) == accounts_before);
  // The failures and two list commands just now; no usage error.
  CHECK(fleet.events("admin_api_access").size() == events_before + std::size(failures) + 2);

  // Success is 0, including for --help.
  for (const Args& ok :
       {Args{"device", "list", "--db", db}, Args{"device", "show", "dev-a", "--db", db},
        Args{"account", "list", "--db", db}, Args{"telemetry", "query", "--db", db},
        Args{"security", "log", "--db", db}, Args{"--help"}, Args{"device", "--help"}}) {
    CommandResult r = ctl(ok);
    INFO(show(ok, r));
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK_FALSE(r.out.empty());
  }
}

namespace {

// A v5 PUBACK for an accepted message (SPEC §5): 0x00, or 0x10 when nobody
// subscribes.
bool accepted(int puback) { return puback == 0 || puback == 0x10; }

// The admin_api_access records since `from` (how many the log held before),
// oldest first, with their details parsed.
std::vector<json> admin_records(Fleet& fleet, std::size_t from = 0) {
  std::vector<SecurityEvent> events = fleet.events("admin_api_access");
  std::reverse(events.begin(), events.end());
  std::vector<json> out;
  for (std::size_t i = from; i < events.size(); ++i) {
    out.push_back(json::parse(events[i].details, nullptr, false));
  }
  return out;
}

// The failure line rs1ctl printed, without "rs1ctl: " and the line end.
std::string failure_message(const CommandResult& r) {
  std::string line = r.err;
  const std::string prefix = "rs1ctl: ";
  if (line.rfind(prefix, 0) == 0) line.erase(0, prefix.size());
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

}  // namespace

TEST_CASE("cli: failed admin commands are in the security log with their error, never a secret",
          "[cli][security]") {
  TempDir tmp;
  const std::string db = tmp / "rs1.db";
  REQUIRE(ctl({"init", "--db", db}).exit_code == 0);
  const std::string secret = add_device(db, "dev-a");
  const json svc = ctl_json(db, {"account", "add", "svc", "--role", "service"});
  const std::string password = svc.at("password");
  Fleet fleet(db);
  const std::size_t before = fleet.events("admin_api_access").size();
  REQUIRE(before == 3);  // init, device add, account add
  for (const json& ok : admin_records(fleet)) {
    INFO(ok.dump());
    CHECK(ok.at("result") == "ok");
    CHECK_FALSE(ok.contains("error"));
  }

  struct Failure {
    std::vector<std::string> args;
    std::string command;
    json args_logged;
    std::string error_has;
  };
  const std::vector<Failure> failures = {
      {{"device", "show", "nope"}, "device show", {{"id", "nope"}}, "device nope not found"},
      {{"device", "revoke", "nope"}, "device revoke", {{"id", "nope"}}, "not found"},
      {{"device", "delete", "nope"}, "device delete", {{"id", "nope"}}, "not found"},
      {{"device", "add", "dev-a", "--model", "X"},
       "device add",
       {{"id", "dev-a"}, {"model", "X"}},
       "already exists"},
      {{"device", "add", "svc"}, "device add", {{"id", "svc"}}, "account name"},
      {{"account", "add", "svc", "--role", "admin"},
       "account add",
       {{"name", "svc"}, {"role", "admin"}},
       "already exists"},
      {{"account", "add", "dev-a", "--role", "service"},
       "account add",
       {{"name", "dev-a"}, {"role", "service"}},
       "device id"},
      {{"account", "delete", "nope"}, "account delete", {{"name", "nope"}}, "not found"},
      {{"diag", "nope"}, "diag", {{"id", "nope"}}, "device nope not found"},
  };
  std::vector<std::string> messages;
  for (const Failure& f : failures) {
    std::vector<std::string> args = f.args;
    args.insert(args.end(), {"--db", db});
    CommandResult r = ctl(args);
    INFO(show(args, r));
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(one_line(r.err));
    CHECK(contains(r.err, f.error_has));
    messages.push_back(failure_message(r));
  }

  // One record per failure, in order, saying what failed and why.
  std::vector<json> records = admin_records(fleet, before);
  REQUIRE(records.size() == failures.size());
  for (std::size_t i = 0; i < failures.size(); ++i) {
    const json& d = records[i];
    INFO(d.dump());
    CHECK(d.at("command") == failures[i].command);
    CHECK(d.at("args") == failures[i].args_logged);
    CHECK(d.at("result") == "failed");
    CHECK(d.at("error") == messages[i]);
  }

  // A success says so; a failure after a success never carries the secret
  // the success printed, and no record carries a password.
  const std::string secret_b = add_device(db, "dev-b");
  expect_failure({"device", "add", "dev-b", "--db", db}, 1);
  records = admin_records(fleet, before + failures.size());
  REQUIRE(records.size() == 2);
  CHECK(records[0].at("command") == "device add");
  CHECK(records[0].at("result") == "ok");
  CHECK_FALSE(records[0].contains("error"));
  CHECK(records[1].at("result") == "failed");
  const std::string log = ctl({"security", "log", "--db", db, "--json"}).out;
  for (const std::string& hidden : {secret, secret_b, password}) {
    CHECK_FALSE(contains(log, hidden));
    CHECK_FALSE(contains(db_bytes(db), hidden));
  }

  // Usage errors and a missing database reach no database: no record.
  const std::size_t count = fleet.events("admin_api_access").size();
  expect_failure({"device", "show", "bad/id", "--db", db}, 2);
  expect_failure({"device", "show", "nope", "--db", tmp / "missing.db"}, 1);
  CHECK(fleet.events("admin_api_access").size() == count);
}

TEST_CASE("cli: device password --secret-file reads the secret from a file or standard input",
          "[cli]") {
  TempDir tmp;
  const std::string secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string expected =
      password_for_hour(sha256_hex(secret), "dev-a", hour_of(1700000000)) + "\n";
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(tmp / name, std::ios::binary) << bytes;
    return tmp / name;
  };
  auto password = [&](std::vector<std::string> source,
                      const std::optional<std::string>& stdin_text = std::nullopt) {
    std::vector<std::string> args = {"device", "password", "dev-a", "--at", "1700000000"};
    args.insert(args.end(), source.begin(), source.end());
    CommandResult r = ctl(args, {}, {}, stdin_text);
    INFO(show(args, r));
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    return r.out;
  };
  REQUIRE(password({"--secret", secret}) == expected);

  // From a file: with or without a line end, in either case.
  std::string upper = secret;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  CHECK(password({"--secret-file", write("lf", secret + "\n")}) == expected);
  CHECK(password({"--secret-file", write("bare", secret)}) == expected);
  CHECK(password({"--secret-file", write("crlf", secret + "\r\n")}) == expected);
  CHECK(password({"--secret-file", write("upper", upper + "\n")}) == expected);
  // "-" is standard input.
  CHECK(password({"--secret-file", "-"}, secret + "\n") == expected);
  CHECK(password({"--secret-file", "-"}, secret) == expected);
  {
    json pw = json::parse(password({"--secret-file", "-", "--json"}, secret + "\n"));
    CHECK(pw.at("password") == expected.substr(0, 64));
    CHECK(pw.at("hour") == 1700000000 / 3600);
  }

  // What cannot be read, or is no secret: exit 1, one line naming the file
  // and never what it holds.
  const std::string not_hex = "zz" + secret.substr(2);
  const std::string not_hex_file = write("not-hex", not_hex + "\n");
  const std::string big_file = write("big", std::string(100000, 'a'));
  const std::string two_lines = write("two-lines", secret + "\n" + secret + "\n");
  for (const std::string& file :
       {tmp / "missing", tmp.path(), not_hex_file, big_file, two_lines, write("empty", "")}) {
    std::vector<std::string> args = {"device", "password", "dev-a", "--secret-file", file};
    CommandResult r = ctl(args);
    INFO(show(args, r));
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(one_line(r.err));
    CHECK(contains(r.err, file));
    CHECK_FALSE(contains(r.err, secret));
    CHECK_FALSE(contains(r.err, not_hex));
  }
  for (const std::string& input : {std::string(), not_hex + "\n"}) {
    std::vector<std::string> args = {"device", "password", "dev-a", "--secret-file", "-"};
    CommandResult r = ctl(args, {}, {}, input);
    INFO(show(args, r));
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(one_line(r.err));
    CHECK(contains(r.err, "standard input"));
    CHECK_FALSE(contains(r.err, not_hex));
  }

  // Exactly one of --secret and --secret-file: a usage error otherwise.
  expect_failure({"device", "password", "dev-a", "--secret", secret, "--secret-file",
                  write("also", secret)},
                 2);
  expect_failure({"device", "password", "dev-a"}, 2);
  expect_failure({"device", "password", "dev-a", "--secret-file"}, 2);
}

TEST_CASE("cli: telemetry payloads and device state are printed exactly as the device sent them",
          "[cli][mqtt]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  Fleet fleet(db);
  const std::string secret = add_device(db, "dev-a");
  broker.sync_changes();
  auto c = connect_with(broker, "dev-a", cli_password("dev-a", secret), Protocol::v5);

  // Valid RFC 8259, beyond what a double holds. (The broker accepts a state
  // with 1e400 in it only as far as its firmware_version parse allows.)
  const std::string huge = R"({"a":1e400})";
  const std::string digits = R"({"n":123456789012345678901234567890,"s":"x"})";
  const std::string state = R"({"mode":"idle","n":-123456789012345678901234567890,"f":1E-2})";
  CHECK(accepted(c->publish("opticworks/dev-a/telemetry/env", huge, 1)));
  CHECK(accepted(c->publish("opticworks/dev-a/telemetry/env", digits, 1)));
  CHECK(accepted(c->publish("opticworks/dev-a/state", state, 1)));
  REQUIRE(wait_until([&] { return fleet.telemetry_count("dev-a") == 2; }, 3s));
  REQUIRE(wait_until(
      [&] {
        auto d = fleet.device("dev-a");
        return d && d->state == state;
      },
      3s));

  // The output is valid JSON (checked by the strict validator: a double
  // parser would refuse 1e400) holding each payload byte for byte.
  auto valid_json = [](const std::string& out) {
    return is_json_object("{\"document\":" + out + "}");
  };
  for (const bool as_json : {true, false}) {
    CAPTURE(as_json);
    std::vector<std::string> args = {"telemetry", "query", "--device", "dev-a", "--db", db};
    if (as_json) args.push_back("--json");
    CommandResult r = ctl(args);
    INFO(show(args, r));
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, huge));
    CHECK(contains(r.out, digits));
    if (as_json) {
      CHECK(valid_json(r.out));
      CHECK(contains(r.out, "\"payload\": " + huge));
      CHECK_FALSE(contains(r.out, "null"));
      CHECK(count_lines_with(r.out, "\"payload\"") == 2);
    }
  }
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"device", "show", "dev-a"}, {"device", "list"}}) {
    std::vector<std::string> args = words;
    args.insert(args.end(), {"--db", db, "--json"});
    CommandResult r = ctl(args);
    INFO(show(args, r));
    REQUIRE(r.exit_code == 0);
    CHECK(valid_json(r.out));
    CHECK(contains(r.out, "\"state\": " + state));
  }
  CommandResult text = ctl({"device", "show", "dev-a", "--db", db});
  CHECK(contains(text.out, state));
}

TEST_CASE("cli: diag stores a request for the device and prints its id", "[cli][diag]") {
  TempDir tmp;
  const std::string db = tmp / "rs1.db";
  REQUIRE(ctl({"init", "--db", db}).exit_code == 0);
  add_device(db, "dev-a");
  add_device(db, "dev-b");
  Fleet fleet(db);

  const std::int64_t t0 = unix_s();
  json printed = ctl_json(db, {"diag", "dev-a", "--what", "wifi,uptime"});
  const std::int64_t t1 = unix_s();
  REQUIRE(printed.is_object());
  CHECK(printed.size() == 1);
  REQUIRE(printed.at("request_id").is_string());
  const std::string id = printed["request_id"];
  CHECK(is_hex(id, 32, 32));
  std::optional<DiagRequest> stored = fleet.store().diag().get(id);
  REQUIRE(stored);
  CHECK(stored->device_id == "dev-a");
  CHECK(stored->what == std::vector<std::string>{"wifi", "uptime"});
  CHECK(stored->created_at >= t0);
  CHECK(stored->created_at <= t1);
  CHECK(stored->expires_at == stored->created_at + kDiagTtlS);
  CHECK_FALSE(stored->sent_at);

  // Text mode: the id alone; no --what asks for nothing in particular.
  CommandResult text = ctl({"diag", "dev-a", "--db", db});
  INFO(show({"diag", "dev-a"}, text));
  REQUIRE(text.exit_code == 0);
  CHECK(text.err.empty());
  REQUIRE(text.out.size() == 33);
  const std::string id2 = text.out.substr(0, 32);
  CHECK(is_hex(id2, 32, 32));
  CHECK(id2 != id);
  REQUIRE(fleet.store().diag().get(id2));
  CHECK(fleet.store().diag().get(id2)->what.empty());
  CHECK(fleet.store().diag().pending(unix_s()).size() == 2);

  // The security log has it, with what was asked.
  std::vector<json> records = admin_records(fleet);
  REQUIRE(records.size() >= 2);
  const json& asked = records[records.size() - 2];
  CHECK(asked.at("command") == "diag");
  CHECK(asked.at("args") == json({{"id", "dev-a"}, {"what", "wifi,uptime"}}));
  CHECK(asked.at("result") == "ok");

  // An unknown device: exit 1, one line, nothing stored.
  {
    std::vector<std::string> args = {"diag", "nope", "--db", db};
    CommandResult r = ctl(args);
    INFO(show(args, r));
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(one_line(r.err));
    CHECK(contains(r.err, "nope"));
  }
  // Usage errors.
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"diag"},
        {"diag", "bad/id"},
        {"diag", "dev-a", "--what", "a,,b"},
        {"diag", "dev-a", "--what", ",a"},
        {"diag", "dev-a", "--wait", "0"},
        {"diag", "dev-a", "--wait", "soon"},
        {"diag", "dev-a", "--wait"}}) {
    std::vector<std::string> args = bad;
    args.insert(args.end(), {"--db", db});
    expect_failure(args, 2);
  }
  CHECK(fleet.store().diag().pending(unix_s()).size() == 2);

  // At most kDiagHeldPerDevice waiting per device: the next one is refused,
  // another device's is not.
  for (std::size_t i = 2; i < kDiagHeldPerDevice; ++i) {
    CHECK(ctl({"diag", "dev-a", "--db", db}).exit_code == 0);
  }
  {
    std::vector<std::string> args = {"diag", "dev-a", "--what", "wifi", "--db", db, "--json"};
    CommandResult r = ctl(args);
    INFO(show(args, r));
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(one_line(r.err));
    CHECK(contains(r.err, std::to_string(kDiagHeldPerDevice)));
  }
  auto waiting_for = [&](const std::string& device) {
    std::size_t n = 0;
    for (const DiagRequest& r : fleet.store().diag().pending(unix_s())) {
      if (r.device_id == device) ++n;
    }
    return n;
  };
  CHECK(waiting_for("dev-a") == kDiagHeldPerDevice);
  CHECK(ctl({"diag", "dev-b", "--db", db}).exit_code == 0);
  CHECK(waiting_for("dev-b") == 1);
}

TEST_CASE("cli: diag --wait exits 1 when the device does not answer in time", "[cli][diag]") {
  TempDir tmp;
  const std::string db = tmp / "rs1.db";
  REQUIRE(ctl({"init", "--db", db}).exit_code == 0);
  add_device(db, "dev-a");
  Fleet fleet(db);
  for (const bool as_json : {false, true}) {
    CAPTURE(as_json);
    std::vector<std::string> args = {"diag", "dev-a", "--wait", "1", "--db", db};
    if (as_json) args.push_back("--json");
    const auto t0 = std::chrono::steady_clock::now();
    CommandResult r = ctl(args);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    INFO(show(args, r));
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "rs1ctl: no answer from dev-a within 1 s\n");
    CHECK(elapsed >= 1s);
    CHECK(elapsed < 5s);
  }
  // The requests stay for the device to pick up later.
  CHECK(fleet.store().diag().pending(unix_s()).size() == 2);
  std::vector<json> records = admin_records(fleet);
  REQUIRE_FALSE(records.empty());
  CHECK(records.back().at("command") == "diag");
  CHECK(records.back().at("result") == "failed");
  CHECK(records.back().at("error") == "no answer from dev-a within 1 s");
}

TEST_CASE("cli: diag --wait prints the device's answer on telemetry/diag", "[cli][diag][mqtt]") {
  BrokerRunner broker(kFastFlush);
  const std::string db = broker.db_path();
  Fleet fleet(db);
  const std::string secret = add_device(db, "dev-a");
  const std::string other_secret = add_device(db, "dev-b");
  broker.sync_changes();
  // Neither subscribes to diag/request, so the request stays pending in the
  // database, where this test (playing the device) finds its id.
  auto dev = connect_with(broker, "dev-a", cli_password("dev-a", secret), Protocol::v5);
  auto other = connect_with(broker, "dev-b", cli_password("dev-b", other_secret), Protocol::v5);

  const std::vector<std::string> args = {"diag", "dev-a", "--what", "wifi",
                                         "--wait", "15",   "--db",   db,
                                         "--json"};
  // No assertion on this thread until the command has ended (Catch2 is not
  // thread-safe), only plain calls.
  auto running = std::async(std::launch::async, [&] { return ctl(args); });
  std::optional<DiagRequest> request;
  const bool found = wait_until(
      [&] {
        for (const DiagRequest& r : fleet.store().diag().pending(unix_s())) {
          if (r.device_id == "dev-a") request = r;
        }
        return request.has_value();
      },
      10s, 50ms);
  const std::string id = request ? request->request_id : std::string("none");
  // What must not count: another request's answer, another device's answer
  // naming ours, ours on another metric, and a nested request_id.
  const std::string answer =
      R"({"request_id":")" + id + R"(","wifi":{"rssi":-61},"n":123456789012345678901234567890})";
  std::vector<int> acks;
  if (found) {
    acks.push_back(dev->publish("opticworks/dev-a/telemetry/diag",
                                R"({"request_id":"someone-else","wifi":{}})", 1));
    acks.push_back(other->publish("opticworks/dev-b/telemetry/diag",
                                  R"({"request_id":")" + id + R"("})", 1));
    acks.push_back(dev->publish("opticworks/dev-a/telemetry/env",
                                R"({"request_id":")" + id + R"("})", 1));
    acks.push_back(dev->publish("opticworks/dev-a/telemetry/diag",
                                R"({"inner":{"request_id":")" + id + R"("}})", 1));
    std::this_thread::sleep_for(500ms);  // the command sees these first
    acks.push_back(dev->publish("opticworks/dev-a/telemetry/diag", answer, 1));
  }
  CommandResult r = running.get();

  INFO(show(args, r));
  REQUIRE(found);
  CHECK(request->what == std::vector<std::string>{"wifi"});
  CHECK(acks.size() == 5);
  for (int ack : acks) CHECK(accepted(ack));
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  // The answer as the device sent it, byte for byte, in valid JSON.
  CHECK(is_json_object(r.out));
  CHECK(contains(r.out, "\"answer\": " + answer));
  json doc = json::parse(r.out, nullptr, false);
  REQUIRE(doc.is_object());
  CHECK(doc.size() == 2);
  CHECK(doc.at("request_id") == id);
  CHECK(doc.at("answer").at("request_id") == id);
  CHECK(doc.at("answer").at("wifi") == json({{"rssi", -61}}));
}
