// docs/openapi.yaml against the running server: every documented operation
// is called (successes and the common errors), each answer is recorded, and
// test/api/check_openapi.py validates them all against the document
// (statuses, content types, JSON Schema of every body) and fails for an
// operation that never succeeded or a path the document lacks.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api_harness.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Sends requests and writes one JSON line per answer.
class Recorder {
 public:
  Recorder(const Api& api, std::string file) : api_(api), file_(std::move(file)) {}

  httplib::Result send(const std::string& method, const std::string& path, const std::string& token,
                       const std::string& body = {}, httplib::Headers headers = {},
                       const std::string& content_type = "application/json") {
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    if (!body.empty()) headers.emplace("Content-Type", content_type);
    httplib::Result r = api_.call(method, path, headers, body);
    REQUIRE(r);
    std::ofstream out(file_, std::ios::app);
    out << json{{"method", method},
                {"path", path},
                {"status", r->status},
                {"content_type", r->get_header_value("Content-Type")},
                {"body", method == "HEAD" ? "" : r->body}}
               .dump()
        << "\n";
    return r;
  }
  const std::string& file() const { return file_; }

 private:
  const Api& api_;
  std::string file_;
};

CommandResult check_records(const std::string& records) {
  return run_command(
      {"/usr/bin/python3", std::string(RS1_SOURCE_DIR) + "/test/api/check_openapi.py",
       std::string(RS1_SOURCE_DIR) + "/docs/openapi.yaml", records},
      {}, {}, 60s);
}

}  // namespace

TEST_CASE("api: every operation of docs/openapi.yaml answers as the document says",
          "[api][openapi]") {
  Api api({{"api_rate_limit_per_min", "0"}, {"ingest_flush_ms", "50"}});
  Account ops = api.fleet.add_account("ops", Role::admin);
  Account svc = api.fleet.add_account("svc", Role::service);
  Device dev = api.fleet.add_device("dev-a");
  api.broker.sync_changes();
  Recorder rec(api, api.broker.dir() + "/answers.jsonl");

  // Sign in (and the errors of signing in).
  auto signed_in = rec.send("POST", "/api/v1/session", "",
                            json{{"username", ops.username}, {"password", ops.password}}.dump());
  REQUIRE(signed_in->status == 200);
  const std::string token = json::parse(signed_in->body)["token"];
  rec.send("POST", "/api/v1/session", "", R"({"username":"ops","password":"no"})");
  rec.send("POST", "/api/v1/session", "", R"({"username":"ops"})");
  const std::string service = api.token(svc);
  rec.send("GET", "/api/v1/session", service);
  rec.send("GET", "/api/v1/session", "");

  // A device that talks: state and telemetry.
  auto mqtt = connect_device(api.broker, dev);
  REQUIRE(mqtt->publish("opticworks/dev-a/state", R"({"fw":"1.0.0","presence":true})", 1) == 0);
  REQUIRE(mqtt->publish("opticworks/dev-a/telemetry/radar", R"({"targets":2,"snr":17.5})", 1) == 0);
  REQUIRE(writer_barrier(*mqtt, api.fleet, "dev-a"));

  rec.send("GET", "/api/v1/fleet", token);
  rec.send("GET", "/api/v1/devices?page_size=1", token);
  rec.send("GET", "/api/v1/devices?page_size=0", token);
  rec.send("POST", "/api/v1/devices", token, R"({"device_id":"dev-b","model":"RS-1"})");
  rec.send("POST", "/api/v1/devices", token, R"({"device_id":"dev-b"})");
  rec.send("POST", "/api/v1/devices", token, R"({"device_id":"no/slash"})");
  rec.send("POST", "/api/v1/devices", service, R"({"device_id":"dev-c"})");
  rec.send("GET", "/api/v1/devices/dev-a", token);
  rec.send("GET", "/api/v1/devices/nobody", token);
  rec.send("POST", "/api/v1/devices/dev-b/revoke", token);
  rec.send("POST", "/api/v1/devices/dev-b/enable", token);
  rec.send("POST", "/api/v1/devices/nobody/revoke", token);
  rec.send("GET", "/api/v1/devices/dev-a/telemetry?metric=radar", token);
  rec.send("GET", "/api/v1/devices/dev-a/telemetry?since=yesterday-ish", token);
  rec.send("GET", "/api/v1/devices/dev-a/telemetry/hourly", token);
  rec.send("POST", "/api/v1/devices/dev-a/diag", service, R"({"what":["wifi"]})");

  // Zones.
  const std::string zones =
      R"({"zones":[{"id":1,"name":"Sofa","type":"detect","points":[[-500,500],[500,500],[0,1500]]}],"sensitivity":5})";
  auto shown = rec.send("GET", "/api/v1/devices/dev-a/zones", token);
  const std::string etag = shown->get_header_value("ETag");
  rec.send("PUT", "/api/v1/devices/dev-a/zones", token, zones);  // 428
  rec.send("PUT", "/api/v1/devices/dev-a/zones", token, zones, {{"If-Match", "\"41\""}});
  rec.send("PUT", "/api/v1/devices/dev-a/zones", token,
           R"({"zones":[{"id":1,"name":"X","type":"detect","points":[[0,0],[7000,0],[0,10]]}]})",
           {{"If-Match", etag}});
  auto saved = rec.send("PUT", "/api/v1/devices/dev-a/zones", token, zones, {{"If-Match", etag}});
  CHECK(saved->status == 200);
  rec.send("GET", "/api/v1/devices/dev-a/zones", token, {},
           {{"If-None-Match", saved->get_header_value("ETag")}});
  rec.send("GET", "/api/v1/devices/dev-a/zones/history", token);
  rec.send("POST", "/api/v1/devices/dev-a/zones/rollback", token, R"({"version":1})");
  rec.send("POST", "/api/v1/devices/dev-a/zones/rollback", token, R"({"version":99})");

  // Firmware and rollouts.
  const std::string image(100000, '\x5a');
  rec.send("POST", "/api/v1/firmware?version=2.0.0", token, image, {}, "application/octet-stream");
  rec.send("POST", "/api/v1/firmware?version=2.0.0", token, image, {}, "application/octet-stream");
  rec.send("POST", "/api/v1/firmware?version=2.0.1", token, "{}", {}, "application/json");
  rec.send("GET", "/api/v1/firmware", service);
  auto created = rec.send("POST", "/api/v1/rollouts", token,
                          R"({"version":"2.0.0","devices":["dev-a","dev-b"],"stages":[50,100]})");
  REQUIRE(created->status == 201);
  const std::string rid = std::to_string(json::parse(created->body)["rollout_id"].get<int>());
  rec.send("POST", "/api/v1/rollouts", token, R"({"version":"9.9.9","all":true})");
  rec.send("GET", "/api/v1/rollouts", service);
  rec.send("GET", "/api/v1/rollouts/" + rid, service);
  rec.send("GET", "/api/v1/rollouts/999", service);
  rec.send("GET", "/api/v1/rollouts/" + rid + "/devices", service);
  rec.send("POST", "/api/v1/rollouts/" + rid + "/pause", token);
  rec.send("POST", "/api/v1/rollouts/" + rid + "/resume", token);
  rec.send("POST", "/api/v1/rollouts/" + rid + "/cancel", token);
  rec.send("POST", "/api/v1/rollouts/" + rid + "/resume", token);  // 409: cancelled

  rec.send("GET", "/api/v1/security-log?limit=5", token);
  rec.send("GET", "/api/v1/security-log", service);  // 403
  rec.send("DELETE", "/api/v1/devices/dev-b", token);
  rec.send("DELETE", "/api/v1/devices/dev-b", token);

  // The event stream answers with its media type (read only its head).
  {
    httplib::Client c = api.client();
    std::string head_type;
    int status = 0;
    c.Get(
        "/api/v1/events", {{"Authorization", "Bearer " + token}},
        [&](const httplib::Response& r) {
          status = r.status;
          head_type = r.get_header_value("Content-Type");
          return false;  // stop before the body
        },
        [](const char*, size_t) { return false; });
    std::ofstream(rec.file(), std::ios::app) << json{{"method", "GET"},
                                                     {"path", "/api/v1/events"},
                                                     {"status", status},
                                                     {"content_type", head_type},
                                                     {"body", ""}}
                                                    .dump()
                                             << "\n";
  }
  rec.send("DELETE", "/api/v1/session", token);

  CommandResult checked = check_records(rec.file());
  INFO(checked.out << checked.err);
  CHECK(checked.exit_code == 0);

  // The check can fail: a device without its status, and a path the
  // document does not have.
  const std::string bad = api.broker.dir() + "/bad.jsonl";
  std::ofstream(bad) << json{{"method", "GET"},
                             {"path", "/api/v1/devices/x"},
                             {"status", 200},
                             {"content_type", "application/json"},
                             {"body", R"({"device_id":"x"})"}}
                            .dump()
                     << "\n"
                     << json{{"method", "GET"},
                             {"path", "/api/v1/nothing"},
                             {"status", 200},
                             {"content_type", "application/json"},
                             {"body", "{}"}}
                            .dump()
                     << "\n";
  CommandResult refused = check_records(bad);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.out,
             Catch::Contains("GET /api/v1/devices/{id} 200: /: 'status' is a required property") &&
                 Catch::Contains("GET /api/v1/nothing: not in the document"));
}
