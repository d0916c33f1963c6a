// SPEC §11 as an operator of the packaged broker meets it: what Mosquitto 2.0
// does to the plugin when it reloads its configuration on SIGHUP (the unit's
// ExecReload), and rs1ctl run as root on a database directory owned by the
// broker's user.
#include <grp.h>
#include <httplib.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

int http_status(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path.c_str());
  return res ? res->status : 0;
}

std::string diag_topic(const std::string& id) { return "opticworks/" + id + "/diag/request"; }

}  // namespace

TEST_CASE("deploy: SIGHUP reloads mosquitto's configuration and leaves the plugin serving",
          "[deploy][sighup]") {
  const int http_port = free_port();
  BrokerConfig config =
      opts({{"ingest_flush_ms", "50"}, {"http_listen", "127.0.0.1:" + std::to_string(http_port)}});
  BrokerRunner broker(config);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Account svc = fleet.add_account("backend", Role::service);
  broker.sync_changes();
  auto device = connect_device(broker, dev, Protocol::v5);
  REQUIRE(device->subscribe(diag_topic(dev.id), 1) == 1);
  auto service = connect_account(broker, svc);
  REQUIRE(service->subscribe("opticworks/+/telemetry/#", 1) == 1);
  REQUIRE(http_status(http_port, "/healthz") == 200);

  for (int reload = 1; reload <= 2; ++reload) {
    CAPTURE(reload);
    REQUIRE(::kill(broker.pid(), SIGHUP) == 0);
    REQUIRE(wait_until(
        [&] {
          return count_lines_with(broker.log(), "Reloading config.") ==
                 static_cast<std::size_t>(reload);
        },
        5s));
  }
  std::this_thread::sleep_for(300ms);
  REQUIRE(broker.running());
  // Mosquitto 2.0 neither cleans the plugin up nor starts it again on a
  // reload: one start, no shutdown; its threads, the HTTP listener and the
  // writer go on.
  CHECK(count_lines_with(broker.log(), "rs1: serving") == 1);
  CHECK(http_status(http_port, "/healthz") == 200);

  // Mosquitto asked again for every connected client's login: the plugin
  // kept both sessions, with what they had subscribed to.
  CHECK(device->connected());
  CHECK(service->connected());
  CHECK(fleet.online(dev.id));
  CommandResult diag =
      run_command({RS1CTL_PATH, "--db", broker.db_path(), "--json", "diag", dev.id});
  REQUIRE(diag.exit_code == 0);
  auto request = device->wait_for_message(3s);
  REQUIRE(request);
  CHECK(request->topic == diag_topic(dev.id));
  CHECK(json::parse(request->payload)["request_id"] == json::parse(diag.out)["request_id"]);

  // Ingest: the device's telemetry is stored and routed to the service.
  REQUIRE(device->publish("opticworks/dev-a/telemetry/env", R"({"temp":21.5})", 1) == 0);
  auto routed = service->wait_for_message(3s);
  REQUIRE(routed);
  CHECK(routed->topic == "opticworks/dev-a/telemetry/env");
  CHECK(wait_until([&] { return fleet.telemetry_count(dev.id) == 1; }, 3s));

  // New logins and the change feed: a device provisioned after the reload
  // logs in, and a revocation still disconnects.
  Device late = fleet.add_device("dev-late");
  broker.sync_changes();
  auto late_client = connect_device(broker, late);
  CHECK(late_client->connected());
  fleet.revoke(dev.id);
  CHECK(device->wait_disconnected(3s));
  CHECK(late_client->connected());
  CHECK(broker.stop().exited);
}

TEST_CASE(
    "deploy: rs1ctl run as root in a directory owned by mosquitto creates only mosquitto's files",
    "[deploy][root]") {
  const passwd* mosquitto = ::getpwnam("mosquitto");
  if (::geteuid() != 0 || mosquitto == nullptr) {
    WARN("not root, or no user mosquitto: nothing to check");
    return;
  }
  const uid_t uid = mosquitto->pw_uid;
  const gid_t gid = mosquitto->pw_gid;
  char tmpl[] = "/tmp/rs1-deploy-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string top = tmpl;
  REQUIRE(::chmod(top.c_str(), 0755) == 0);  // like /var/lib: mosquitto may pass
  // As the package creates /var/lib/rs1.
  const std::string data = top + "/rs1";
  fs::create_directory(data);
  REQUIRE(::chown(data.c_str(), uid, gid) == 0);
  REQUIRE(::chmod(data.c_str(), 0750) == 0);
  const std::string db = data + "/rs1.db";
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {RS1CTL_PATH, "--db", db});
    return run_command(args);
  };

  CommandResult init = ctl({"init"});
  CAPTURE(init.err);
  REQUIRE(init.exit_code == 0);
  CommandResult added = ctl({"--json", "device", "add", "sensor-001"});
  REQUIRE(added.exit_code == 0);
  CHECK(json::parse(added.out)["device_id"] == "sensor-001");
  CommandResult backup = ctl({"--json", "backup", "now"});
  REQUIRE(backup.exit_code == 0);
  const std::string backup_file = json::parse(backup.out)["file"];
  // SQLite removes -wal and -shm when the last connection closes: look at
  // them while one rs1ctl waits (diag --wait holds the database open) and
  // another writes.
  std::thread waiting([&] { ctl({"diag", "sensor-001", "--wait", "3"}); });
  CHECK(wait_until([&] { return fs::exists(db + "-wal") && fs::exists(db + "-shm"); }, 2s));
  CHECK(ctl({"device", "add", "sensor-002"}).exit_code == 0);
  for (const std::string& f : {db + "-wal", db + "-shm"}) {
    struct stat st {};
    CAPTURE(f);
    REQUIRE(::stat(f.c_str(), &st) == 0);
    CHECK(st.st_uid == uid);
    CHECK(st.st_gid == gid);
  }
  waiting.join();
  CHECK(ctl({"device", "list"}).exit_code == 0);
  // A restore next to it, and init of a database in a directory not there yet.
  CHECK(ctl({"backup", "restore", backup_file, "--to", data + "/restored.db"}).exit_code == 0);
  CHECK(run_command({RS1CTL_PATH, "--db", data + "/new/rs1.db", "init"}).exit_code == 0);

  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(data)) {
    struct stat st {};
    REQUIRE(::lstat(entry.path().c_str(), &st) == 0);
    files.push_back(entry.path().filename().string());
    CAPTURE(entry.path().string());
    CHECK(st.st_uid == uid);
    CHECK(st.st_gid == gid);
  }
  CAPTURE(files);
  for (const char* expected : {"rs1.db", "backups", "restored.db", "new"}) {
    CHECK(std::find(files.begin(), files.end(), expected) != files.end());
  }
  CHECK(std::count_if(files.begin(), files.end(), [](const std::string& f) {
          return f.size() > 7 && f.rfind(".sqlite") == f.size() - 7;
        }) == 1);

  // A directory whose owner has no user entry: refused, nothing created.
  const std::string orphan = top + "/orphan";
  fs::create_directory(orphan);
  REQUIRE(::chown(orphan.c_str(), 54321, 54321) == 0);
  CommandResult refused = run_command({RS1CTL_PATH, "--db", orphan + "/rs1.db", "init"});
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.err, "rs1ctl: running as root on " + orphan +
                                  ", which belongs to uid 54321 with no user entry"));
  CHECK(fs::is_empty(orphan));
  // root's own directory: root's files, as before.
  CHECK(run_command({RS1CTL_PATH, "--db", top + "/root.db", "init"}).exit_code == 0);
  struct stat st {};
  REQUIRE(::stat((top + "/root.db").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  if (!current_test_failed()) fs::remove_all(top);
}
