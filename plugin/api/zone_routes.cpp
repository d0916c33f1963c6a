// GET/PUT /api/v1/devices/{id}/zones, …/zones/history, …/zones/rollback.
// The ETag is the device's desired version ("0" before its first config).
// A save names the version it was edited from in If-Match; the store checks
// and stores in one transaction, so of two editors with the same ETag one
// wins and the other gets 412. The config is checked by the same rules as
// `rs1ctl zone set` (features/zones/zone_config), every broken rule a JSON
// pointer in the 422's `errors`. The broker pushes a stored version on
// config/update from the change feed, as it does for rs1ctl's.
#include "api/zone_routes.hpp"

#include <optional>
#include <string>
#include <vector>

#include "api/api_requests.hpp"
#include "documents/zones.hpp"
#include "features/zones/zone_config.hpp"
#include "features/zones/zones.hpp"

namespace rs1 {
namespace {

constexpr char kZonesPath[] = R"(/api/v1/devices/([^/]+)/zones)";

std::string zone_etag_of(const ZoneSummary& s) {
  return "\"" + std::to_string(s.desired_version.value_or(0)) + "\"";
}

ZoneSummary zone_summary_or_404(ApiCall& call, const std::string& device_id) {
  std::optional<ZoneSummary> s = call.db.zones().summary(device_id);
  if (!s) throw ApiError(404, "device " + device_id + " not found");
  return *s;
}

void answer_zone_show(httplib::Response& res, const std::string& device_id, const ZoneSummary& s) {
  res.status = 200;
  res.set_header("ETag", zone_etag_of(s));
  res.set_content(doc::dump_json(doc::zone_summary_json(device_id, s), -1), "application/json");
}

void get_zones(ApiCall& call, httplib::Response& res) {
  const std::string device_id = call.req.matches[1];
  const ZoneSummary s = zone_summary_or_404(call, device_id);
  const std::string etag = zone_etag_of(s);
  if (call.req.has_header("If-None-Match") &&
      etag_listed(call.req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    res.set_header("ETag", etag);
    return;
  }
  answer_zone_show(res, device_id, s);
}

void put_zones(ApiCall& call, httplib::Response& res) {
  const std::string device_id = call.req.matches[1];
  ZoneSummary s = zone_summary_or_404(call, device_id);
  if (!call.req.has_header("If-Match")) {
    throw ApiError(428, "a zone config is saved with If-Match: the ETag it was edited from");
  }
  const std::string if_match = call.req.get_header_value("If-Match");
  const std::string current = zone_etag_of(s);
  if (!etag_listed(if_match, current)) {
    throw ApiError(412, "the zone config changed since it was read: its ETag is now " + current);
  }
  call.json_body();  // 415 / 400
  ZoneConfigCheck check = check_zone_config(call.req.body);
  if (check.malformed) throw ApiError(400, "the body is " + *check.malformed);
  if (!check.errors.empty()) {
    std::vector<ApiError::Field> fields;
    for (const FieldError& e : check.errors) fields.push_back({e.pointer, e.detail});
    throw ApiError(422, "invalid zone config", std::move(fields));
  }
  const std::string config = canonical_zone_config(check.config);
  std::string trimmed = if_match;
  trimmed.erase(0, trimmed.find_first_not_of(" \t"));
  trimmed.erase(trimmed.find_last_not_of(" \t") + 1);
  const bool any = trimmed == "*";  // whatever the current version
  if (any) {
    call.db.zones().add_version(device_id, config, call.now_s);
  } else if (!call.db.zones().add_version_if(device_id, s.desired_version.value_or(0), config,
                                             call.now_s)) {
    s = zone_summary_or_404(call, device_id);
    throw ApiError(412,
                   "the zone config changed since it was read: its ETag is now " + zone_etag_of(s));
  }
  answer_zone_show(res, device_id, zone_summary_or_404(call, device_id));
}

void get_zone_history(ApiCall& call, httplib::Response& res) {
  const std::string device_id = call.req.matches[1];
  auto versions = call.db.zones().history(device_id);
  if (!versions) throw ApiError(404, "device " + device_id + " not found");
  res.status = 200;
  res.set_content(doc::dump_json(doc::zone_history_json(*versions), -1), "application/json");
}

void post_zone_rollback(ApiCall& call, httplib::Response& res) {
  const std::string device_id = call.req.matches[1];
  zone_summary_or_404(call, device_id);
  const std::int64_t version = parse_zone_rollback_body(call.json_body());
  call.db.zones().roll_back(device_id, version, call.now_s);  // 409 when not kept
  answer_zone_show(res, device_id, zone_summary_or_404(call, device_id));
}

}  // namespace

void add_zone_routes(ApiApp& app) {
  const std::string zones = kZonesPath;
  app.get(zones, Need::service, get_zones);
  app.put(zones, Need::admin, put_zones);
  app.get(zones + "/history", Need::service, get_zone_history);
  app.post(zones + "/rollback", Need::admin, post_zone_rollback);
}

}  // namespace rs1
