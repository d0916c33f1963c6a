// The Device API's devices, fleet, telemetry, security log and diagnostics
// (SPEC §10) against a real broker over real HTTP, with real MQTT devices:
// provisioning, revocation, telemetry and diag requests reach them.
#include <httplib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/jwt.hpp"
#include "api_harness.hpp"
#include "core/identity.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json devices_body(const httplib::Result& r, int status = 200) {
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == status);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  return json::parse(r->body);
}

// A problem+json whose detail names `word`.
void check_devices_problem(const httplib::Result& r, int status, const std::string& word) {
  check_problem(r, status);
  REQUIRE(r);
  CHECK_THAT(json::parse(r->body)["detail"].get<std::string>(), Catch::Contains(word));
}

std::vector<std::string> pointers_of(const httplib::Result& r) {
  std::vector<std::string> out;
  REQUIRE(r);
  const json body = json::parse(r->body);
  for (const json& e : body["errors"]) out.push_back(e["pointer"]);
  return out;
}

void check_device_shape(const json& d) {
  for (const char* key : {"device_id", "model", "status", "online", "last_seen", "state",
                          "firmware_version", "created_at"}) {
    CAPTURE(key);
    CHECK(d.contains(key));
  }
}

}  // namespace

TEST_CASE(
    "api devices: provisioning, show, telemetry, diag, revoke, delete, fleet and the "
    "security log, with their errors and roles",
    "[api]") {
  Api api(std::vector<std::pair<std::string, std::string>>{{"api_rate_limit_per_min", "0"}});
  Account ops = api.fleet.add_account("ops", Role::admin);
  Account svc = api.fleet.add_account("svc", Role::service);
  Device quiet = api.fleet.add_device("quiet");  // never seen
  api.fleet.add_device("gone");
  api.fleet.revoke("gone");
  const auto admin = bearer(api.token(ops));
  const auto service = bearer(api.token(svc));

  // Provisioning: the service role may not; bad bodies name their fields.
  check_problem(api.call("POST", "/api/v1/devices", service, R"({"device_id":"api-dev"})"), 403);
  auto bad = api.call("POST", "/api/v1/devices", admin, R"({"device_id":"no spaces","model":5})");
  check_problem(bad, 422);
  CHECK(pointers_of(bad) == std::vector<std::string>{"/device_id", "/model"});
  auto missing = api.call("POST", "/api/v1/devices", admin, R"({"model":"RS-1"})");
  check_problem(missing, 422);
  CHECK(pointers_of(missing) == std::vector<std::string>{"/device_id"});
  check_problem(api.call("POST", "/api/v1/devices", admin, R"([1])"), 422);
  check_problem(api.call("POST", "/api/v1/devices", admin, R"({"device_id":)"), 400);

  auto created =
      api.call("POST", "/api/v1/devices", admin, R"({"device_id":"api-dev","model":"RS-1"})");
  json added = devices_body(created, 201);
  CHECK(created->get_header_value("Location") == "/api/v1/devices/api-dev");
  CHECK(added["device_id"] == "api-dev");
  const std::string secret = added["secret"];
  CHECK(secret.size() == 64);
  check_devices_problem(api.call("POST", "/api/v1/devices", admin, R"({"device_id":"api-dev"})"),
                        409, "exists");
  check_devices_problem(api.call("POST", "/api/v1/devices", admin, R"({"device_id":"svc"})"), 409,
                        "account");
  REQUIRE(api.fleet.device("api-dev"));
  CHECK(api.fleet.device("api-dev")->model == std::optional<std::string>("RS-1"));

  // The new device logs in with its secret.
  Device dev{"api-dev", secret, sha256_hex(secret)};
  auto client = connect_device(api.broker, dev);
  REQUIRE(client);
  REQUIRE(wait_until([&] { return api.fleet.online("api-dev"); }, 5s));

  // Show, and ids that name no device.
  json shown = devices_body(api.call("GET", "/api/v1/devices/api-dev", service));
  check_device_shape(shown);
  CHECK(shown["model"] == "RS-1");
  CHECK(shown["status"] == "active");
  CHECK(shown["online"] == true);
  check_problem(api.call("GET", "/api/v1/devices/nobody", service), 404);
  check_problem(api.call("GET", "/api/v1/devices/bad%20id", service), 404);
  check_problem(api.call("GET", "/api/v1/devices/" + std::string(65, 'a'), service), 404);
  check_problem(api.call("POST", "/api/v1/devices/nobody/revoke", admin), 404);

  // Telemetry over MQTT, read over the API.
  REQUIRE(client->publish("opticworks/api-dev/telemetry/env", R"({"t":21.5,"h":40})", 1) == 0);
  json rows;
  REQUIRE(wait_until(
      [&] {
        rows = devices_body(
            api.call("GET", "/api/v1/devices/api-dev/telemetry?metric=env&since=1h", service));
        return rows.size() == 1;
      },
      5s));
  CHECK(rows[0]["device_id"] == "api-dev");
  CHECK(rows[0]["metric"] == "env");
  CHECK(rows[0]["payload"] == json::parse(R"({"t":21.5,"h":40})"));
  CHECK(rows[0]["received_at_ms"].is_number_integer());
  CHECK(devices_body(api.call("GET", "/api/v1/devices/api-dev/telemetry?metric=other", service))
            .empty());
  CHECK(devices_body(api.call("GET", "/api/v1/devices/api-dev/telemetry?until=2020-01-01", service))
            .empty());
  check_devices_problem(
      api.call("GET", "/api/v1/devices/api-dev/telemetry?since=yesterday", service), 422, "since");
  check_devices_problem(api.call("GET", "/api/v1/devices/api-dev/telemetry?until=x", service), 422,
                        "until");
  check_devices_problem(api.call("GET", "/api/v1/devices/api-dev/telemetry?limit=0", service), 422,
                        "limit");
  check_devices_problem(api.call("GET", "/api/v1/devices/api-dev/telemetry?limit=1000001", service),
                        422, "limit");
  check_devices_problem(api.call("GET", "/api/v1/devices/api-dev/telemetry?metric=a%2Bb", service),
                        422, "metric");
  check_problem(api.call("GET", "/api/v1/devices/nobody/telemetry", service), 404);
  CHECK(devices_body(api.call("GET", "/api/v1/devices/api-dev/telemetry/hourly?since=2h", service))
            .is_array());
  check_devices_problem(
      api.call("GET", "/api/v1/devices/api-dev/telemetry/hourly?until=soon", service), 422,
      "until");
  check_problem(api.call("GET", "/api/v1/devices/nobody/telemetry/hourly", service), 404);

  // A diag request over the API reaches the subscribed device.
  REQUIRE(client->subscribe("opticworks/api-dev/diag/request") == 1);
  json diag = devices_body(
      api.call("POST", "/api/v1/devices/api-dev/diag", service, R"({"what":["wifi","uptime"]})"),
      202);
  const std::string request_id = diag["request_id"];
  CHECK(request_id.size() == 32);
  auto message = client->wait_for_message(3s);
  REQUIRE(message);
  CHECK(message->topic == "opticworks/api-dev/diag/request");
  json request = json::parse(message->payload);
  CHECK(request["request_id"] == request_id);
  CHECK(request["what"] == json::parse(R"(["wifi","uptime"])"));
  auto bad_what =
      api.call("POST", "/api/v1/devices/api-dev/diag", service, R"({"what":["a","",3]})");
  check_problem(bad_what, 422);
  CHECK(pointers_of(bad_what) == std::vector<std::string>{"/what/1", "/what/2"});
  auto not_list = api.call("POST", "/api/v1/devices/api-dev/diag", service, R"({"what":"a"})");
  check_problem(not_list, 422);
  CHECK(pointers_of(not_list) == std::vector<std::string>{"/what"});
  check_problem(api.call("POST", "/api/v1/devices/nobody/diag", service, R"({"what":[]})"), 404);

  // The fleet: api-dev online, quiet never seen, gone revoked.
  json fleet = devices_body(api.call("GET", "/api/v1/fleet", service));
  CHECK(fleet["devices"] ==
        json::parse(R"({"total":3,"online":1,"offline":0,"never_seen":1,"revoked":1})"));
  CHECK(fleet["firmware"].is_object());
  CHECK(fleet["rollouts"] == json::parse(R"({"running":0,"paused":0})"));

  // Listing with filters, and bad parameters named.
  auto ids_of = [&](const std::string& query) {
    std::vector<std::string> ids;
    json page = devices_body(api.call("GET", "/api/v1/devices" + query, service));
    CHECK(page["next_page_token"].is_null());
    for (const json& d : page["devices"]) ids.push_back(d["device_id"]);
    return ids;
  };
  CHECK(ids_of("") == std::vector<std::string>{"api-dev", "gone", "quiet"});
  CHECK(ids_of("?status=revoked") == std::vector<std::string>{"gone"});
  CHECK(ids_of("?online=true") == std::vector<std::string>{"api-dev"});
  CHECK(ids_of("?online=false&status=active") == std::vector<std::string>{"quiet"});
  CHECK(ids_of("?q=ui") == std::vector<std::string>{"quiet"});
  CHECK(ids_of("?q=%25").empty());  // a literal %, in no id
  CHECK(ids_of("?q=_").empty());    // a literal _, in no id
  check_devices_problem(api.call("GET", "/api/v1/devices?status=lost", service), 422, "status");
  check_devices_problem(api.call("GET", "/api/v1/devices?online=yes", service), 422, "online");
  check_devices_problem(api.call("GET", "/api/v1/devices?page_size=0", service), 422, "page_size");
  check_devices_problem(api.call("GET", "/api/v1/devices?page_size=1001", service), 422,
                        "page_size");
  check_devices_problem(api.call("GET", "/api/v1/devices?page_size=ten", service), 422,
                        "page_size");
  for (const std::string& token :
       {std::string("garbage"), base64url_encode("1:api-dev") + ".0123456789abcdef",
        base64url_encode("1:') OR 1=1 --") + ".00", std::string(".")}) {
    CAPTURE(token);
    check_devices_problem(api.call("GET", "/api/v1/devices?page_token=" + token, service), 400,
                          "page_token");
  }

  // Revocation over the API: the device is kicked and refused within 2 s.
  check_problem(api.call("POST", "/api/v1/devices/api-dev/revoke", service), 403);
  json revoked = devices_body(api.call("POST", "/api/v1/devices/api-dev/revoke", admin));
  CHECK(revoked["status"] == "revoked");
  CHECK(client->wait_disconnected(2s));
  {
    MqttClient again("api-dev");
    again.credentials("api-dev", dev.password());
    CHECK(again.connect(api.broker.port()) != 0);
  }
  json enabled = devices_body(api.call("POST", "/api/v1/devices/api-dev/enable", admin));
  CHECK(enabled["status"] == "active");
  CHECK(connect_device(api.broker, dev) != nullptr);

  // The security log: admin only, filtered, the API's changes in it.
  check_problem(api.call("GET", "/api/v1/security-log", service), 403);
  // The trail goes through the ingest writer: wait for the revoke's entry.
  bool saw_revoke = false;
  json log;
  REQUIRE(wait_until(
      [&] {
        log = devices_body(
            api.call("GET", "/api/v1/security-log?type=admin_api_access&since=1h", admin));
        for (const json& e : log) {
          if (e["details"].value("path", "") == "/api/v1/devices/api-dev/revoke") saw_revoke = true;
        }
        return saw_revoke;
      },
      3s));
  for (const json& e : log) CHECK(e["event_type"] == "admin_api_access");
  CHECK(saw_revoke);
  CHECK(devices_body(api.call("GET", "/api/v1/security-log?limit=1", admin)).size() == 1);
  check_devices_problem(api.call("GET", "/api/v1/security-log?since=then", admin), 422, "since");
  check_devices_problem(api.call("GET", "/api/v1/security-log?limit=0", admin), 422, "limit");

  // Deleting: admin only; then gone, also for the broker.
  check_problem(api.call("DELETE", "/api/v1/devices/quiet", service), 403);
  auto deleted = api.call("DELETE", "/api/v1/devices/quiet", admin);
  REQUIRE(deleted);
  CHECK(deleted->status == 204);
  CHECK(deleted->body.empty());
  CHECK_FALSE(api.fleet.device("quiet"));
  check_problem(api.call("GET", "/api/v1/devices/quiet", service), 404);
  check_problem(api.call("DELETE", "/api/v1/devices/quiet", admin), 404);
  REQUIRE(wait_until(
      [&] {
        MqttClient late("quiet");
        late.credentials("quiet", quiet.password());
        return late.connect(api.broker.port(), 30, 1s) != 0;
      },
      3s));
}

TEST_CASE("api devices: keyset pages across 250 devices while devices are added", "[api]") {
  Api api(std::vector<std::pair<std::string, std::string>>{{"api_rate_limit_per_min", "0"}});
  Account svc = api.fleet.add_account("svc", Role::service);
  const auto service = bearer(api.token(svc));
  std::vector<NewDevice> batch;
  std::set<std::string> existing;
  for (int i = 0; i < 250; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "pg-%03d", i * 2);  // even numbers: room in between
    batch.push_back(NewDevice{id, std::nullopt, sha256_hex(id)});
    existing.insert(id);
  }
  api.fleet.store().devices().add(batch, 1700000000);

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  for (;;) {
    std::string path = "/api/v1/devices?page_size=100";
    if (!token.empty()) path += "&page_token=" + token;
    json page = devices_body(api.call("GET", path, service));
    ++pages;
    for (const json& d : page["devices"]) seen.push_back(d["device_id"]);
    if (pages == 1) {
      CHECK(page["devices"].size() == 100);
      check_device_shape(page["devices"][0]);
      // Added between pages: one before the cursor, one after it.
      api.fleet.add_device("pg-001");
      api.fleet.add_device("pg-301");
    }
    if (page["next_page_token"].is_null()) break;
    token = page["next_page_token"];
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);
  std::set<std::string> unique(seen.begin(), seen.end());
  CHECK(unique.size() == seen.size());  // no duplicate
  for (const std::string& id : existing) {
    CAPTURE(id);
    CHECK(unique.count(id) == 1);  // none skipped
  }
  CHECK(unique.count("pg-301") == 1);  // after the cursor: seen
  CHECK(unique.count("pg-001") == 0);  // before it: not
  CHECK(std::is_sorted(seen.begin(), seen.end()));

  json fleet = devices_body(api.call("GET", "/api/v1/fleet", service));
  CHECK(fleet["devices"]["total"] == 252);
  CHECK(fleet["devices"]["never_seen"] == 252);
}
