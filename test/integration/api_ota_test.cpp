// The Device API's firmware and rollout endpoints (SPEC §10) against a real
// broker: a streamed upload of a few MiB, list, 409, 415, 422, an upload
// cut off midway leaving nothing behind; a rollout created over the API
// triggering a subscribed device on ota/trigger, its devices, pause,
// resume, cancel, and the service role's refusals.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "api_harness.hpp"
#include "core/identity.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string api_image_of(std::size_t size, char seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

httplib::Headers api_upload_headers(const std::string& token) {
  httplib::Headers h = bearer(token);
  h.emplace("Content-Type", "application/octet-stream");
  return h;
}

// POST /api/v1/firmware?version=V announcing `announced` bytes but sending
// only `sent` of them, then closing the connection.
void api_cut_off_upload(int port, const std::string& token, const std::string& version,
                        std::size_t announced, std::size_t sent) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string head =
      "POST /api/v1/firmware?version=" + version +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
      "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(announced) +
      "\r\n\r\n";
  std::string data = head + api_image_of(sent, 'c');
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  close(fd);
}

std::vector<std::string> api_firmware_files(const std::string& dir) {
  std::vector<std::string> names;
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

json api_ok(const httplib::Result& r, int status) {
  REQUIRE(r);
  INFO(r->status << " " << r->body);
  REQUIRE(r->status == status);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  return json::parse(r->body);
}

}  // namespace

TEST_CASE("api ota: firmware upload, list, refusals, a cut-off upload, rollouts end to end",
          "[api]") {
  Api api({{"api_rate_limit_per_min", "0"}, {"ingest_flush_ms", "20"}});
  Account ops = api.fleet.add_account("ops", Role::admin);
  Account svc = api.fleet.add_account("svc", Role::service);
  Device dev = api.fleet.add_device("ota-dev");
  api.broker.sync_changes();
  const std::string admin = api.token(ops);
  const std::string service = api.token(svc);
  const std::string fw_dir = api.broker.dir() + "/firmware";

  CHECK(api_ok(api.call("GET", "/api/v1/firmware", bearer(service)), 200) == json::array());

  // Refusals before anything is read or stored.
  const std::string image = api_image_of(3 * 1024 * 1024 + 123, 'a');
  check_problem(
      api.call("POST", "/api/v1/firmware?version=2.0.0", api_upload_headers(service), image), 403);
  httplib::Headers text = bearer(admin);
  text.emplace("Content-Type", "text/plain");
  check_problem(api.call("POST", "/api/v1/firmware?version=2.0.0", text, "abc"), 415);
  check_problem(api.call("POST", "/api/v1/firmware", api_upload_headers(admin), "abc"), 422);
  check_problem(
      api.call("POST", "/api/v1/firmware?version=a%2Fb", api_upload_headers(admin), "abc"), 422);
  CHECK(api_firmware_files(fw_dir).empty());

  // A few MiB, streamed: 201 as `firmware add`, the file under its hash.
  json added = api_ok(
      api.call("POST", "/api/v1/firmware?version=2.0.0", api_upload_headers(admin), image), 201);
  CHECK(added["version"] == "2.0.0");
  CHECK(added["sha256"] == sha256_hex(image));
  CHECK(added["size"] == image.size());
  CHECK(api_firmware_files(fw_dir) == std::vector<std::string>{sha256_hex(image)});
  check_problem(
      api.call("POST", "/api/v1/firmware?version=2.0.0", api_upload_headers(admin), "other"), 409);

  // Cut off midway: no row, no file (not even a temporary one).
  api_cut_off_upload(api.http_port, admin, "3.0.0", 4 * 1024 * 1024, 1024 * 1024);
  // The server may not have opened its temporary file yet when the client
  // is gone: wait for its answer to the cut-off upload (400, in the trail).
  CHECK(wait_until(
      [&] {
        for (const auto& e : api_access_log(api)) {
          if (e["details"].value("path", "") == "/api/v1/firmware" &&
              e["details"].value("status", 0) == 400) {
            return true;
          }
        }
        return false;
      },
      5s, 50ms));
  json listed = api_ok(api.call("GET", "/api/v1/firmware", bearer(service)), 200);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0] == added);
  CHECK(api_firmware_files(fw_dir) == std::vector<std::string>{sha256_hex(image)});

  // A device on 1.0.0, subscribed to its triggers.
  auto device = connect_device(api.broker, dev);
  REQUIRE(device->publish("opticworks/" + dev.id + "/state",
                          json{{"firmware_version", "1.0.0"}}.dump(), 1) == 0);
  REQUIRE(device->subscribe("opticworks/" + dev.id + "/ota/trigger", 1) == 1);

  // Rollout orders refused, each with its pointer.
  check_problem(api.call("POST", "/api/v1/rollouts", bearer(service),
                         json{{"version", "2.0.0"}, {"all", true}}.dump()),
                403);
  struct Refused {
    json body;
    const char* pointer;
  };
  for (const Refused& r :
       {Refused{{{"version", "9.9.9"}, {"devices", json::array({dev.id})}}, "/version"},
        Refused{{{"version", "2.0.0"}}, "/devices"},
        Refused{{{"version", "2.0.0"}, {"devices", json::array({dev.id})}, {"all", true}},
                "/devices"},
        Refused{{{"version", "2.0.0"}, {"devices", json::array({"bad id!"})}}, "/devices"},
        Refused{{{"version", "2.0.0"}, {"devices", json::array({dev.id})}, {"stages", {50, 40}}},
                "/stages"},
        Refused{{{"version", "2.0.0"}, {"devices", json::array({dev.id})}, {"retries", 101}},
                "/retries"},
        Refused{{{"version", 2}, {"devices", json::array({dev.id})}}, "/version"}}) {
    CAPTURE(r.body.dump());
    auto res = api.call("POST", "/api/v1/rollouts", bearer(admin), r.body.dump());
    check_problem(res, 422);
    CHECK(json::parse(res->body)["errors"][0]["pointer"] == r.pointer);
  }
  CHECK(api_ok(api.call("GET", "/api/v1/rollouts", bearer(service)), 200) == json::array());

  // Created over the API: the device is triggered.
  json created = api_ok(api.call("POST", "/api/v1/rollouts", bearer(admin),
                                 json{{"version", "2.0.0"},
                                      {"devices", {dev.id, dev.id}},
                                      {"stages", json::array({100})},
                                      {"retries", 0},
                                      {"timeout_min", 30}}
                                     .dump()),
                        201);
  CHECK(created["state"] == "running");
  CHECK(created["version"] == "2.0.0");
  CHECK(created["stages"] == json::array({100}));
  CHECK(created["retries"] == 0);
  CHECK(created["timeout_min"] == 30);
  const std::int64_t id = created["rollout_id"];
  const std::string rollout = "/api/v1/rollouts/" + std::to_string(id);
  auto trigger = device->wait_for_message(5s);
  REQUIRE(trigger);
  CHECK(trigger->topic == "opticworks/" + dev.id + "/ota/trigger");
  json t = json::parse(trigger->payload);
  CHECK(t["rollout_id"] == id);
  CHECK(t["version"] == "2.0.0");
  CHECK(t["sha256"] == sha256_hex(image));
  // The signed URL serves the uploaded image.
  const std::string url = t["url"];
  auto download = api.client().Get(url.substr(url.find("/firmware/")).c_str());
  REQUIRE(download);
  CHECK(download->status == 200);
  CHECK(download->body == image);

  // A second rollout for the same device is a conflict.
  check_problem(api.call("POST", "/api/v1/rollouts", bearer(admin),
                         json{{"version", "2.0.0"}, {"devices", json::array({dev.id})}}.dump()),
                409);

  json devices;
  CHECK(wait_until(
      [&] {
        devices = api_ok(api.call("GET", rollout + "/devices", bearer(service)), 200);
        return devices.size() == 1 && devices[0]["status"] == "triggered";
      },
      3s, 50ms));
  INFO(devices.dump());
  REQUIRE(devices.size() == 1);
  CHECK(devices[0]["device_id"] == dev.id);
  CHECK(devices[0]["attempts"] == 1);
  CHECK(devices[0]["error"] == nullptr);
  CHECK(devices[0]["updated_at"].is_number_integer());
  json list = api_ok(api.call("GET", "/api/v1/rollouts", bearer(service)), 200);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["rollout_id"] == id);
  CHECK(api_ok(api.call("GET", rollout, bearer(service)), 200)["counts"]["triggered"] == 1);
  check_problem(api.call("GET", "/api/v1/rollouts/999", bearer(service)), 404);
  check_problem(api.call("GET", "/api/v1/rollouts/999/devices", bearer(service)), 404);

  // Pause, resume, cancel; transitions not allowed are 409; the service
  // role may not change a rollout.
  check_problem(api.call("POST", rollout + "/pause", bearer(service)), 403);
  CHECK(api_ok(api.call("POST", rollout + "/pause", bearer(admin)), 200)["state"] == "paused");
  check_problem(api.call("POST", rollout + "/pause", bearer(admin)), 409);
  CHECK(api_ok(api.call("POST", rollout + "/resume", bearer(admin)), 200)["state"] == "running");
  check_problem(api.call("POST", rollout + "/resume", bearer(admin)), 409);
  json cancelled = api_ok(api.call("POST", rollout + "/cancel", bearer(admin)), 200);
  CHECK(cancelled["state"] == "cancelled");
  CHECK(cancelled["reason"] == "cancelled by an operator");
  check_problem(api.call("POST", rollout + "/cancel", bearer(admin)), 409);
  check_problem(api.call("POST", "/api/v1/rollouts/999/cancel", bearer(admin)), 404);
  // The same state through rs1ctl.
  auto status = api_ctl(api.broker.db_path(), {"--json", "rollout", "status", std::to_string(id)});
  REQUIRE(status.exit_code == 0);
  CHECK(json::parse(status.out)["state"] == "cancelled");
}
