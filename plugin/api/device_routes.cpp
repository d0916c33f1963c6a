#include "api/device_routes.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/api_app.hpp"
#include "api/api_requests.hpp"
#include "core/identity.hpp"
#include "core/time_parse.hpp"
#include "core/topic_rules.hpp"
#include "documents/devices.hpp"
#include "documents/diag.hpp"
#include "documents/json.hpp"
#include "documents/security_log.hpp"
#include "documents/telemetry.hpp"
#include "features/devices/provisioning.hpp"
#include "features/diag/diag.hpp"
#include "features/ops/ops.hpp"
#include "features/ota/rollout.hpp"
#include "store/ops_jobs.hpp"

namespace rs1 {
namespace {

using doc::Json;

constexpr std::int64_t kDevicePageDefault = 100;
constexpr std::int64_t kDevicePageMax = 1000;
// As rs1ctl telemetry query: --limit 1-1000000, default 1000.
constexpr std::int64_t kDeviceTelemetryLimitDefault = 1000;
constexpr std::int64_t kDeviceTelemetryLimitMax = 1000000;
// As rs1ctl security log: 1000 events at most.
constexpr std::int64_t kDeviceSecurityLogLimitMax = 1000;
const char* const kDeviceIdGroup = "/api/v1/devices/([^/]+)";

void send_device_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(doc::dump_json(body, -1), "application/json");
}

// The device id of the path; an id that is not a valid one names no device.
std::string device_id_of(const ApiCall& call) {
  std::string id = call.req.matches[1];
  if (!is_valid_device_id(id)) throw ApiError(404, "no device " + id);
  return id;
}

DeviceRecord existing_device(ApiCall& call, const std::string& id) {
  std::optional<DeviceRecord> d = call.db.devices().get(id);
  if (!d) throw ApiError(404, "no device " + id);
  return *d;
}

// An integer query parameter within lo..hi, or `fallback` when absent.
std::int64_t device_int_param(const ApiCall& call, const std::string& name, std::int64_t lo,
                              std::int64_t hi, std::int64_t fallback) {
  return parse_int_param(name, call.param(name), lo, hi, fallback);
}

std::optional<std::int64_t> device_time_param(const ApiCall& call, const std::string& name) {
  std::optional<std::string> text = call.param(name);
  if (!text) return std::nullopt;
  std::optional<std::int64_t> t = parse_time(*text, call.now_s);
  if (!t) {
    throw ApiError(422, name +
                            " is not a time (unix seconds, ISO-8601 such as "
                            "2024-05-01T12:00:00Z, or 15m/2h/7d)");
  }
  return t;
}

std::optional<std::string> device_metric_param(const ApiCall& call) {
  std::optional<std::string> metric = call.param("metric");
  if (metric && !is_valid_metric(*metric)) {
    throw ApiError(422, "metric is not a valid metric (non-empty, no + or #)");
  }
  return metric;
}

// The last device id of the previous page, or 400.
std::string page_after_or_400(const ApiCall& call, const std::string& token) {
  std::optional<std::string> id = device_page_after(call.context.key, token);
  if (!id) throw ApiError(400, "page_token is not a token of this listing");
  return *id;
}

// GET /api/v1/fleet. The device counts are FleetCounts' (see there: revoked
// counts every revoked device; online, offline = seen before and not online,
// and never_seen = never seen and not online are of active devices only, so
// the four add up to total); firmware counts devices per reported version;
// rollouts counts running and paused ones.
void fleet_overview(ApiCall& call, httplib::Response& res) {
  const FleetCounts c = call.db.devices().fleet_counts();
  Json firmware = Json::object();
  for (const auto& [version, count] : c.firmware) firmware[version] = count;
  std::int64_t running = 0, paused = 0;
  for (const Rollout& r : call.db.rollouts().list()) {
    if (r.state == RolloutState::running) ++running;
    if (r.state == RolloutState::paused) ++paused;
  }
  Json body = {{"devices",
                {{"total", c.total},
                 {"online", c.online},
                 {"offline", c.offline},
                 {"never_seen", c.never_seen},
                 {"revoked", c.revoked}}},
               {"firmware", std::move(firmware)},
               {"rollouts", {{"running", running}, {"paused", paused}}}};
  send_device_json(res, 200, body);
}

void list_devices_page(ApiCall& call, httplib::Response& res) {
  DevicePageQuery q;
  if (auto status = call.param("status")) {
    if (*status != "active" && *status != "revoked") {
      throw ApiError(422, "status must be active or revoked");
    }
    q.status = *status;
  }
  if (auto online = call.param("online")) {
    if (*online != "true" && *online != "false")
      throw ApiError(422, "online must be true or false");
    q.online = *online == "true";
  }
  if (auto text = call.param("q")) {
    if (text->size() > 64) throw ApiError(422, "q must be at most 64 characters");
    if (!text->empty()) q.id_contains = *text;
  }
  const std::int64_t page_size =
      device_int_param(call, "page_size", 1, kDevicePageMax, kDevicePageDefault);
  if (auto token = call.param("page_token")) q.after_id = page_after_or_400(call, *token);
  q.limit = page_size + 1;  // one more tells whether a next page exists
  std::vector<DeviceRecord> devices = call.db.devices().page(q);
  Json next = nullptr;
  if (static_cast<std::int64_t>(devices.size()) > page_size) {
    devices.resize(static_cast<std::size_t>(page_size));
    next = device_page_token(call.context.key, devices.back().device_id);
  }
  send_device_json(res, 200,
                   Json{{"devices", doc::device_list_json(devices)}, {"next_page_token", next}});
}

void add_device_over_api(ApiCall& call, httplib::Response& res) {
  const NewDeviceRequest request = parse_new_device_body(call.json_body());
  const std::string& id = request.device_id;
  const std::optional<std::string>& model = request.model;
  DeviceSecret secret;
  try {
    secret = provision_device(call.db.devices(), id, model, call.now_s);
  } catch (const DeviceIdTaken& e) {
    throw ApiError(409, e.what());
  }
  res.set_header("Location", "/api/v1/devices/" + id);
  send_device_json(res, 201, doc::device_added_json(id, secret.secret));
}

void show_device_over_api(ApiCall& call, httplib::Response& res) {
  send_device_json(res, 200, doc::device_json(existing_device(call, device_id_of(call))));
}

void set_device_status_over_api(ApiCall& call, httplib::Response& res, const char* status) {
  const std::string id = device_id_of(call);
  if (!call.db.devices().set_status(id, status)) throw ApiError(404, "no device " + id);
  send_device_json(res, 200, doc::device_json(existing_device(call, id)));
}

void delete_device_over_api(ApiCall& call, httplib::Response& res) {
  const std::string id = device_id_of(call);
  if (!call.db.devices().remove(id)) throw ApiError(404, "no device " + id);
  res.status = 204;
}

void device_telemetry(ApiCall& call, httplib::Response& res) {
  const std::string id = device_id_of(call);
  TelemetryQuery q;
  q.device_id = id;
  q.metric = device_metric_param(call);
  // As rs1ctl: both ends inclusive, to the second.
  if (auto since = device_time_param(call, "since")) q.since_ms = *since * 1000;
  if (auto until = device_time_param(call, "until")) q.until_ms = *until * 1000 + 999;
  q.limit =
      device_int_param(call, "limit", 1, kDeviceTelemetryLimitMax, kDeviceTelemetryLimitDefault);
  existing_device(call, id);
  send_device_json(
      res, 200,
      doc::telemetry_rows_json(query_telemetry_with_archive(call.db, call.context.data_dir, q)));
}

void device_hourly(ApiCall& call, httplib::Response& res) {
  const std::string id = device_id_of(call);
  HourlyQuery q;
  q.device_id = id;
  q.metric = device_metric_param(call);
  // As rs1ctl: hours from the one `since` falls in, up to those starting at `until`.
  if (auto since = device_time_param(call, "since")) q.since_s = hour_floor(*since * 1000) / 1000;
  q.until_s = device_time_param(call, "until");
  existing_device(call, id);
  send_device_json(res, 200, doc::hourly_rows_json(call.db.ops().hourly(q)));
}

void security_log_over_api(ApiCall& call, httplib::Response& res) {
  SecurityLogQuery q;
  q.since = device_time_param(call, "since");
  if (auto type = call.param("type")) {
    if (type->empty() || type->size() > 64) throw ApiError(422, "type must be 1-64 characters");
    q.event_type = *type;
  }
  q.limit =
      device_int_param(call, "limit", 1, kDeviceSecurityLogLimitMax, kDeviceSecurityLogLimitMax);
  send_device_json(res, 200, doc::security_log_json(call.db.security_log().query(q)));
}

void diag_over_api(ApiCall& call, httplib::Response& res) {
  const std::string id = device_id_of(call);
  std::vector<std::string> what = parse_diag_body(call.json_body());
  existing_device(call, id);
  DiagRequest request = new_diag_request(id, std::move(what), call.now_s);
  call.db.diag().add(request);  // too many waiting: StoreError(conflict), a 409
  send_device_json(res, 202, doc::diag_request_json(request));
}

}  // namespace

void add_device_routes(ApiApp& app) {
  const std::string one = kDeviceIdGroup;
  app.get("/api/v1/fleet", Need::service, fleet_overview);
  app.get("/api/v1/devices", Need::service, list_devices_page);
  app.post("/api/v1/devices", Need::admin, add_device_over_api);
  app.get(one, Need::service, show_device_over_api);
  app.del(one, Need::admin, delete_device_over_api);
  app.post(one + "/revoke", Need::admin, [](ApiCall& call, httplib::Response& res) {
    set_device_status_over_api(call, res, "revoked");
  });
  app.post(one + "/enable", Need::admin, [](ApiCall& call, httplib::Response& res) {
    set_device_status_over_api(call, res, "active");
  });
  app.get(one + "/telemetry", Need::service, device_telemetry);
  app.get(one + "/telemetry/hourly", Need::service, device_hourly);
  app.post(one + "/diag", Need::service, diag_over_api);
  app.get("/api/v1/security-log", Need::admin, security_log_over_api);
}

}  // namespace rs1
