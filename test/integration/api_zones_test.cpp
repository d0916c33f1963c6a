// The Device API's zone endpoints (SPEC §10) against a real broker: ETags
// and conditional requests (304, 428, 412, two editors racing), 422 with
// JSON pointers, a saved config reaching a subscribed device on
// config/update, history and rollback.
#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "api_harness.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

httplib::Headers api_zone_headers(const std::string& token, const std::string& if_match) {
  httplib::Headers h = bearer(token);
  if (!if_match.empty()) h.emplace("If-Match", if_match);
  return h;
}

// The next config/update of `id` the device receives.
json api_next_update(MqttClient& c, const std::string& id) {
  auto m = c.wait_for_message(3s);
  REQUIRE(m);
  CHECK(m->topic == "opticworks/" + id + "/config/update");
  return json::parse(m->payload);
}

void api_zone_ack(MqttClient& c, const std::string& id, std::int64_t version) {
  REQUIRE(c.publish("opticworks/" + id + "/config/status",
                    json{{"version", version}, {"status", "applied"}}.dump(), 1) == 0);
}

}  // namespace

TEST_CASE("api zones: ETags, 304, 428, 412, racing editors, 422 pointers, push and rollback",
          "[api]") {
  Api api({{"api_rate_limit_per_min", "0"}, {"ingest_flush_ms", "50"}});
  Account ops = api.fleet.add_account("ops", Role::admin);
  Account svc = api.fleet.add_account("svc", Role::service);
  Device dev = api.fleet.add_device("zone-dev");
  api.broker.sync_changes();
  const std::string admin = api.token(ops);
  const std::string service = api.token(svc);
  const std::string path = "/api/v1/devices/" + dev.id + "/zones";
  auto device = connect_device(api.broker, dev);
  REQUIRE(device->subscribe("opticworks/" + dev.id + "/config/update", 1) == 1);

  // Unknown devices.
  check_problem(api.call("GET", "/api/v1/devices/nobody/zones", bearer(service)), 404);
  check_problem(api.call("GET", "/api/v1/devices/nobody/zones/history", bearer(service)), 404);
  check_problem(api.call("PUT", "/api/v1/devices/nobody/zones", api_zone_headers(admin, "\"0\""),
                         zone_config(1, 5)),
                404);
  check_problem(
      api.call("POST", "/api/v1/devices/nobody/zones/rollback", bearer(admin), R"({"version":1})"),
      404);

  // No config yet: ETag "0"; If-None-Match as one tag, a list, and *.
  auto none = api.call("GET", path, bearer(service));
  REQUIRE(none);
  REQUIRE(none->status == 200);
  CHECK(none->get_header_value("ETag") == "\"0\"");
  json shown = json::parse(none->body);
  CHECK(shown["device_id"] == dev.id);
  CHECK(shown["desired_version"] == nullptr);
  CHECK(shown["config"] == nullptr);
  for (const char* tags : {"\"0\"", "\"5\", \"0\"", "*", "W/\"0\""}) {
    CAPTURE(tags);
    httplib::Headers h = bearer(service);
    h.emplace("If-None-Match", tags);
    auto r = api.call("GET", path, h);
    REQUIRE(r);
    CHECK(r->status == 304);
    CHECK(r->get_header_value("ETag") == "\"0\"");
    CHECK(r->body.empty());
  }
  {
    httplib::Headers h = bearer(service);
    h.emplace("If-None-Match", "\"1\", \"2\"");
    auto r = api.call("GET", path, h);
    REQUIRE(r);
    CHECK(r->status == 200);
  }

  // Refusals: the role, no If-Match, a stale one, a body that is not JSON,
  // and an invalid config with every error as a pointer; nothing stored.
  const json v1 = json::parse(zone_config(2, 5));
  check_problem(api.call("PUT", path, api_zone_headers(service, "\"0\""), v1.dump()), 403);
  check_problem(api.call("PUT", path, api_zone_headers(admin, ""), v1.dump()), 428);
  check_problem(api.call("PUT", path, api_zone_headers(admin, "\"3\""), v1.dump()), 412);
  check_problem(api.call("PUT", path, api_zone_headers(admin, "\"0\""), "{\"zones\":"), 400);
  json bad = json::parse(zone_config(3, 5));
  bad["zones"][2]["points"] = {{0, 100}, {100, 100}, {100, 300}, {7000, 300}};
  bad["sensitivity"] = 11;
  auto invalid = api.call("PUT", path, api_zone_headers(admin, "\"0\""), bad.dump());
  check_problem(invalid, 422);
  json errors = json::parse(invalid->body)["errors"];
  INFO(errors.dump());
  REQUIRE(errors.is_array());
  bool x_error = false, sensitivity_error = false;
  for (const json& e : errors) {
    if (e["pointer"] == "/zones/2/points/3/0") {
      x_error = true;
      CHECK_THAT(e["detail"].get<std::string>(), Catch::Contains("-6000..6000"));
    }
    sensitivity_error = sensitivity_error || e["pointer"] == "/sensitivity";
  }
  CHECK(x_error);
  CHECK(sensitivity_error);
  CHECK(json::parse(api.call("GET", path, bearer(service))->body)["desired_version"] == nullptr);
  CHECK_FALSE(device->wait_for_message(300ms));

  // Saved with the ETag it was read with: the device is sent it.
  auto saved = api.call("PUT", path, api_zone_headers(admin, "\"0\""), v1.dump());
  REQUIRE(saved);
  INFO(saved->body);
  REQUIRE(saved->status == 200);
  CHECK(saved->get_header_value("ETag") == "\"1\"");
  shown = json::parse(saved->body);
  CHECK(shown["desired_version"] == 1);
  CHECK(shown["status"] == "pending");
  CHECK(shown["config"] == v1);
  json update = api_next_update(*device, dev.id);
  CHECK(update["version"] == 1);
  CHECK(update["config"] == v1);
  api_zone_ack(*device, dev.id, 1);

  // Two editors with the same If-Match at once: exactly one wins.
  const json mine = json::parse(zone_config(1, 2)), theirs = json::parse(zone_config(3, 9));
  std::atomic<int> ready{0};
  int status_mine = 0, status_theirs = 0;
  auto editor = [&](const json& config, int& status) {
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    auto r = api.call("PUT", path, api_zone_headers(admin, "\"1\""), config.dump());
    status = r ? r->status : -1;
  };
  std::thread a([&] { editor(mine, status_mine); });
  std::thread b([&] { editor(theirs, status_theirs); });
  a.join();
  b.join();
  CAPTURE(status_mine, status_theirs);
  CHECK(((status_mine == 200 && status_theirs == 412) ||
         (status_mine == 412 && status_theirs == 200)));
  auto after = api.call("GET", path, bearer(service));
  REQUIRE(after);
  CHECK(after->get_header_value("ETag") == "\"2\"");
  const json winner = status_mine == 200 ? mine : theirs;
  CHECK(json::parse(after->body)["config"] == winner);
  update = api_next_update(*device, dev.id);
  CHECK(update["version"] == 2);
  CHECK(update["config"] == winner);
  api_zone_ack(*device, dev.id, 2);
  // The stale editor's retry with the old ETag stays refused.
  check_problem(api.call("PUT", path, api_zone_headers(admin, "\"1\""), mine.dump()), 412);

  // History, newest first; rollback re-publishes version 1 as version 3.
  auto history = api.call("GET", path + "/history", bearer(service));
  REQUIRE(history);
  REQUIRE(history->status == 200);
  json versions = json::parse(history->body);
  REQUIRE(versions.size() == 2);
  CHECK(versions[0]["version"] == 2);
  CHECK(versions[1]["version"] == 1);
  CHECK(versions[1]["status"] == "applied");
  check_problem(api.call("POST", path + "/rollback", bearer(service), R"({"version":1})"), 403);
  auto wrong = api.call("POST", path + "/rollback", bearer(admin), R"({"version":"one"})");
  check_problem(wrong, 422);
  CHECK(json::parse(wrong->body)["errors"][0]["pointer"] == "/version");
  check_problem(api.call("POST", path + "/rollback", bearer(admin), R"({"version":9})"), 409);
  auto rolled = api.call("POST", path + "/rollback", bearer(admin), R"({"version":1})");
  REQUIRE(rolled);
  INFO(rolled->body);
  REQUIRE(rolled->status == 200);
  CHECK(rolled->get_header_value("ETag") == "\"3\"");
  CHECK(json::parse(rolled->body)["config"] == v1);
  update = api_next_update(*device, dev.id);
  CHECK(update["version"] == 3);
  CHECK(update["config"] == v1);
  auto history3 = api.call("GET", path + "/history", bearer(service));
  REQUIRE(history3);
  CHECK(json::parse(history3->body)[0]["rollback_of"] == 1);
}
