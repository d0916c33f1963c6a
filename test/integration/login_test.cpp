// SPEC §4 logins against the real broker: device passwords by the hour,
// what is refused and with which CONNACK code, accounts, and the repeated
// failure event and ban of SPEC §3/§9.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;

namespace {

constexpr int kNotAuthorized311 = 5;
constexpr int kNotAuthorizedV5 = 0x87;

int login(const BrokerRunner& broker, const std::string& client_id, const std::string& username,
          const std::string& password, Protocol protocol = Protocol::v311,
          const char* bind_address = nullptr) {
  MqttClient c(client_id, protocol);
  c.credentials(username, password);
  return c.connect(broker.port(), 30, 5s, bind_address);
}

int login(const BrokerRunner& broker, const Device& d, const std::string& password,
          Protocol protocol = Protocol::v311) {
  return login(broker, d.id, d.id, password, protocol);
}

}  // namespace

TEST_CASE("login: a device's password for the current hour is accepted", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  CHECK(login(broker, dev, dev.password(), Protocol::v311) == 0);
  CHECK(login(broker, dev, dev.password(), Protocol::v5) == 0);
}

TEST_CASE("login: the previous hour's password is accepted", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  CHECK(login(broker, dev, dev.password(-1), Protocol::v311) == 0);
  CHECK(login(broker, dev, dev.password(-1), Protocol::v5) == 0);
}

TEST_CASE("login: a password two hours old is refused", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  CHECK(login(broker, dev, dev.password(-2), Protocol::v311) == kNotAuthorized311);
  CHECK(login(broker, dev, dev.password(-2), Protocol::v5) == kNotAuthorizedV5);
}

TEST_CASE("login: the next hour's password is refused by default", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  CHECK(login(broker, dev, dev.password(+1)) == kNotAuthorized311);
  CHECK(login(broker, dev, dev.password(+1), Protocol::v5) == kNotAuthorizedV5);
}

TEST_CASE("login: the next hour's password is accepted with clock_skew_ahead", "[login]") {
  BrokerRunner broker(opts({{"clock_skew_ahead", "true"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  CHECK(login(broker, dev, dev.password(+1)) == 0);
  CHECK(login(broker, dev, dev.password(0)) == 0);
  CHECK(login(broker, dev, dev.password(-1)) == 0);
  // Only one hour ahead, and still not two behind.
  CHECK(login(broker, dev, dev.password(+2)) == kNotAuthorized311);
  CHECK(login(broker, dev, dev.password(-2)) == kNotAuthorized311);
}

TEST_CASE("login: a wrong password is refused as not authorized", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Device other = fleet.add_device("dev-b");
  broker.sync_changes();
  const std::string others_password =
      password_for_hour(other.secret_hash, dev.id, hour_of(unix_s()));
  const std::string cases[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      others_password,           // right algorithm, another device's key
      dev.secret,                // the secret itself is not the password
      dev.password().substr(1),  // one character short
      "",
  };
  for (const auto& wrong : cases) {
    CAPTURE(wrong);
    CHECK(login(broker, dev, wrong, Protocol::v311) == kNotAuthorized311);
    CHECK(login(broker, dev, wrong, Protocol::v5) == kNotAuthorizedV5);
  }
}

TEST_CASE("login: a client id that differs from the username is refused", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  fleet.add_device("dev-b");
  broker.sync_changes();
  for (const std::string client_id : {"dev-b", "dev-a-2", "DEV-A", "dev-"}) {
    CAPTURE(client_id);
    CHECK(login(broker, client_id, dev.id, dev.password()) == kNotAuthorized311);
    CHECK(login(broker, client_id, dev.id, dev.password(), Protocol::v5) == kNotAuthorizedV5);
  }
  // A v5 client without a client id gets one assigned by the broker: not
  // its device id either.
  CHECK(login(broker, "", dev.id, dev.password(), Protocol::v5) == kNotAuthorizedV5);
}

TEST_CASE("login: an unknown device is refused", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device ghost{"dev-ghost", "", sha256_hex("not provisioned")};
  CHECK(login(broker, ghost, ghost.password()) == kNotAuthorized311);
  CHECK(login(broker, ghost, ghost.password(), Protocol::v5) == kNotAuthorizedV5);
}

TEST_CASE("login: a revoked device is refused", "[login]") {
  BrokerRunner broker({}, BrokerRunner::Start::later);
  Device dev;
  {
    Fleet fleet(broker.db_path());
    dev = fleet.add_device("dev-a");
    fleet.revoke(dev.id);
  }
  broker.start();
  CHECK(login(broker, dev, dev.password()) == kNotAuthorized311);
  CHECK(login(broker, dev, dev.password(), Protocol::v5) == kNotAuthorizedV5);
}

TEST_CASE("login: a device revoked while the broker runs is refused within 2 s", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();
  CHECK(login(broker, dev, dev.password()) == 0);
  fleet.revoke(dev.id);
  CHECK(wait_until([&] { return login(broker, dev, dev.password()) == kNotAuthorized311; }, 2s,
                   100ms));
  fleet.enable(dev.id);
  CHECK(wait_until([&] { return login(broker, dev, dev.password()) == 0; }, 2s, 100ms));
}

TEST_CASE("login: device ids outside [A-Za-z0-9_-] or longer than 64 are refused", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  // Provisioned behind rs1ctl's back, with a valid secret: only the id rule
  // can refuse them, so a wildcard or separator never reaches a topic.
  const std::string ids[] = {"dev+a", "dev#a", "dev/a", "+", "#", std::string(65, 'a')};
  std::vector<Device> devices;
  for (const auto& id : ids) devices.push_back(fleet.add_device(id));
  Device longest = fleet.add_device(std::string(64, 'b'));
  // The broker has them all: a refusal is the id rule's, not an unknown id.
  broker.sync_changes();
  for (const auto& d : devices) {
    CAPTURE(d.id);
    CHECK(login(broker, d, d.password()) == kNotAuthorized311);
    CHECK(login(broker, d, d.password(), Protocol::v5) == kNotAuthorizedV5);
  }
  // The longest valid id works.
  CHECK(login(broker, longest, longest.password()) == 0);
}

TEST_CASE("login: service and admin accounts log in and a wrong account password is refused",
          "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Account svc = fleet.add_account("backend", Role::service);
  Account adm = fleet.add_account("operator", Role::admin);
  broker.sync_changes();
  CHECK(login(broker, "backend-1", svc.username, svc.password) == 0);
  CHECK(login(broker, "backend-2", svc.username, svc.password, Protocol::v5) == 0);
  CHECK(login(broker, "operator-1", adm.username, adm.password) == 0);
  CHECK(login(broker, "operator-2", adm.username, adm.password, Protocol::v5) == 0);

  CHECK(login(broker, "backend-3", svc.username, adm.password) == kNotAuthorized311);
  CHECK(login(broker, "backend-4", svc.username, adm.password, Protocol::v5) == kNotAuthorizedV5);
  CHECK(login(broker, "operator-3", adm.username, "") == kNotAuthorized311);
  CHECK(login(broker, "operator-4", adm.username, svc.password, Protocol::v5) == kNotAuthorizedV5);
  CHECK(login(broker, "nobody-1", "nobody", svc.password) == kNotAuthorized311);

  // An account name is never a device id, and the other way round.
  Device dev = fleet.add_device("dev-a");
  CHECK_THROWS(fleet.add_account(dev.id, Role::admin));
  CHECK_THROWS(fleet.add_device(svc.username));
  broker.sync_changes();
  CHECK(login(broker, dev, dev.password()) == 0);
}

TEST_CASE("login: a connection without a username is refused", "[login]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  fleet.add_device("dev-a");
  broker.sync_changes();
  {
    MqttClient anon("dev-a", Protocol::v311);
    CHECK(anon.connect(broker.port()) == kNotAuthorized311);
  }
  {
    MqttClient anon("dev-a", Protocol::v5);
    int rc = anon.connect(broker.port());
    CAPTURE(rc);
    CHECK(rc == kNotAuthorizedV5);
  }
}

TEST_CASE("auth failures: repeated failed logins raise one auth_failure_repeated event",
          "[login][security]") {
  BrokerRunner broker(opts({{"auth_fail_limit", "3"}, {"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  broker.sync_changes();  // refused for the password, not as an unknown device
  for (int i = 0; i < 5; ++i) {
    CHECK(login(broker, dev, dev.password(-5)) == kNotAuthorized311);
  }
  REQUIRE(wait_until([&] { return !fleet.events("auth_failure_repeated").empty(); }, 3s));

  // With auth_ban_s 0 (the default) the right password still works.
  auto client = connect_device(broker, dev);
  REQUIRE(writer_barrier(*client, fleet, dev.id));
  auto events = fleet.events("auth_failure_repeated");
  REQUIRE(events.size() == 1);  // five failures, one event
  CHECK(events[0].ip == "127.0.0.1");
  CHECK(!events[0].severity.empty());
  CHECK(events[0].time >= unix_s() - 60);
  CHECK(nlohmann::json::parse(events[0].details).is_object());
}

TEST_CASE("auth failures: with auth_ban_s an address past the limit is refused",
          "[login][security]") {
  BrokerRunner broker(opts({{"auth_fail_limit", "3"}, {"auth_ban_s", "60"}}));
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  Device other = fleet.add_device("dev-b");
  broker.sync_changes();  // refused for the password, then for the ban
  for (int i = 0; i < 3; ++i) {
    CHECK(login(broker, dev, "wrong") == kNotAuthorized311);
  }
  // Right password, same address: refused for the ban.
  CHECK(login(broker, dev, dev.password()) == kNotAuthorized311);
  CHECK(login(broker, other, other.password(), Protocol::v5) == kNotAuthorizedV5);
  // Another address is not banned.
  CHECK(login(broker, other.id, other.id, other.password(), Protocol::v311, "127.0.0.2") == 0);
  REQUIRE(wait_until([&] { return !fleet.events("auth_failure_repeated").empty(); }, 3s));
  CHECK(fleet.events("auth_failure_repeated").at(0).ip == "127.0.0.1");
}
