// /api/v1/firmware and /api/v1/rollouts. An upload is streamed to disk as
// it arrives (features/ota add_firmware: temporary file, hash, fsync,
// rename, then the row), never held whole; a broken upload leaves nothing.
// A rollout is created and changed by the same rules as `rs1ctl rollout`
// (features/ota/rollout_order); the broker's engine takes it from the
// change feed and triggers devices on ota/trigger.
#include "api/ota_routes.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "api/api_requests.hpp"
#include "documents/ota.hpp"
#include "features/ota/firmware.hpp"
#include "features/ota/rollout.hpp"
#include "features/ota/rollout_order.hpp"

namespace rs1 {
namespace {

using nlohmann::json;

void answer_ota_json(httplib::Response& res, int status, const doc::Json& doc) {
  res.status = status;
  res.set_content(doc::dump_json(doc, -1), "application/json");
}

std::string lower_media_type(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  type.erase(std::remove_if(type.begin(), type.end(),
                            [](unsigned char c) { return std::isspace(c) != 0; }),
             type.end());
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type;
}

// --- firmware ---------------------------------------------------------------

void get_firmware(ApiCall& call, httplib::Response& res) {
  answer_ota_json(res, 200, doc::firmware_list_json(call.db.firmware().list()));
}

void post_firmware(ApiCall& call, httplib::Response& res, const httplib::ContentReader& reader) {
  // A refusal leaves the body unread: the connection cannot carry another request.
  res.set_header("Connection", "close");
  if (lower_media_type(call.req) != "application/octet-stream") {
    throw ApiError(415, "the image must be sent as application/octet-stream");
  }
  const std::optional<std::string> version = call.param("version");
  if (!version)
    throw ApiError(422, "the firmware version is missing: POST /api/v1/firmware?version=V");
  if (!is_valid_firmware_version(*version)) {
    throw ApiError(422, "invalid firmware version: 1-64 of [A-Za-z0-9._+-]");
  }
  if (call.req.get_header_value("Content-Length") == "0") {
    throw ApiError(422, "the image is empty");
  }
  FirmwareRecord record;
  try {
    record = add_firmware(
        call.db.firmware(), *version,
        [&](const ImageSink& sink, std::string& why) {
          const bool complete =
              reader([&](const char* data, std::size_t size) { return sink(data, size); });
          if (!complete) why = "the upload broke off before its end";
          return complete;
        },
        call.context.data_dir, call.now_s);
  } catch (const ImageSourceError& e) {
    throw ApiError(400, e.what());
  } catch (const StoreError&) {
    throw;  // 409 / 503
  } catch (const ImageStoreFull& e) {
    throw ApiError(507, std::string("no space left to store the image: ") + e.what());
  } catch (const std::runtime_error& e) {
    throw ApiError(500, std::string("the image could not be stored: ") + e.what());
  }
  answer_ota_json(res, 201, doc::firmware_json(record));
}

// --- rollouts ---------------------------------------------------------------

std::int64_t rollout_id_of(ApiCall& call) {
  const std::string text = call.req.matches[1];
  if (text.size() > 18) throw ApiError(404, "rollout " + text + " not found");
  return std::stoll(text);
}

Rollout rollout_or_404(ApiCall& call, std::int64_t id) {
  auto r = call.db.rollouts().get(id);
  if (!r) throw ApiError(404, "rollout " + std::to_string(id) + " not found");
  return *r;
}

void get_rollouts(ApiCall& call, httplib::Response& res) {
  doc::Json list = doc::Json::array();
  for (const Rollout& r : call.db.rollouts().list()) {
    list.push_back(doc::rollout_json(r, call.db.rollouts().counts(r.id)));
  }
  answer_ota_json(res, 200, list);
}

void answer_rollout_status(ApiCall& call, httplib::Response& res, int status, std::int64_t id) {
  const Rollout r = rollout_or_404(call, id);
  answer_ota_json(res, status, doc::rollout_status_json(r, count_statuses(r), false));
}

void get_rollout(ApiCall& call, httplib::Response& res) {
  answer_rollout_status(call, res, 200, rollout_id_of(call));
}

void get_rollout_devices(ApiCall& call, httplib::Response& res) {
  const Rollout r = rollout_or_404(call, rollout_id_of(call));
  answer_ota_json(res, 200, doc::rollout_devices_json(r.devices));
}

// check_policy names CLI options ("--max-failure-rate must …"): the member
// it is about, and the sentence with the member's name.
ApiError::Field policy_field(std::string detail) {
  std::string pointer;
  if (detail.rfind("--", 0) == 0) {
    std::size_t end = detail.find_first_of(": ", 2);
    std::string name = detail.substr(2, end == std::string::npos ? std::string::npos : end - 2);
    std::replace(name.begin(), name.end(), '-', '_');
    pointer = "/" + name;
    detail = name + detail.substr(end == std::string::npos ? detail.size() : end);
  }
  return {pointer, detail};
}

void post_rollout(ApiCall& call, httplib::Response& res) {
  const RolloutOrder order = parse_rollout_body(call.json_body());

  std::int64_t id = 0;
  try {
    id = create_rollout(call.db.rollouts(), call.db.firmware(), order, call.now_s);
  } catch (const RolloutOrderError& e) {
    using Part = RolloutOrderError::Part;
    switch (e.part) {
      case Part::version:
        throw ApiError(422, e.what(), {{"/version", e.what()}});
      case Part::devices:
        throw ApiError(422, e.what(), {{"/devices", e.what()}});
      default:
        throw ApiError(422, e.what(), {policy_field(e.what())});
    }
  }
  answer_rollout_status(call, res, 201, id);
}

void change_rollout(ApiCall& call, httplib::Response& res, RolloutState to) {
  const std::int64_t id = rollout_id_of(call);
  const RolloutChangeResult result = change_rollout_state(call.db.rollouts(), id, to, call.now_s);
  if (!result.found) throw ApiError(404, "rollout " + std::to_string(id) + " not found");
  if (result.refused) throw ApiError(409, *result.refused);
  answer_rollout_status(call, res, 200, id);
}

}  // namespace

void add_ota_routes(ApiApp& app) {
  app.get("/api/v1/firmware", Need::service, get_firmware);
  app.post_streamed("/api/v1/firmware", Need::admin, post_firmware);
  app.get("/api/v1/rollouts", Need::service, get_rollouts);
  app.post("/api/v1/rollouts", Need::admin, post_rollout);
  app.get(R"(/api/v1/rollouts/(\d+))", Need::service, get_rollout);
  app.get(R"(/api/v1/rollouts/(\d+)/devices)", Need::service, get_rollout_devices);
  app.post(R"(/api/v1/rollouts/(\d+)/pause)", Need::admin,
           [](ApiCall& c, httplib::Response& r) { change_rollout(c, r, RolloutState::paused); });
  app.post(R"(/api/v1/rollouts/(\d+)/resume)", Need::admin,
           [](ApiCall& c, httplib::Response& r) { change_rollout(c, r, RolloutState::running); });
  app.post(R"(/api/v1/rollouts/(\d+)/cancel)", Need::admin,
           [](ApiCall& c, httplib::Response& r) { change_rollout(c, r, RolloutState::cancelled); });
}

}  // namespace rs1
