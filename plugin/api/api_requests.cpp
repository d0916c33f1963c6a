#include "api/api_requests.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "api/jwt.hpp"
#include "core/identity.hpp"
#include "features/diag/diag.hpp"

namespace rs1 {
namespace {

using nlohmann::json;

constexpr char kDevicePageTokenVersion[] = "1:";
constexpr std::size_t kDevicePageTokenMacHex = 16;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string device_page_mac(std::string_view key, const std::string& id) {
  return hmac_sha256_hex(key, "device-page:" + id).substr(0, kDevicePageTokenMacHex);
}

// An integer member within lo..hi into `out`, or an error for it.
void rollout_int_member(const json& body, const char* name, int lo, int hi, int& out,
                        std::vector<ApiError::Field>& errors) {
  auto it = body.find(name);
  if (it == body.end()) return;
  if (!it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi) {
    errors.push_back({std::string("/") + name, std::string(name) + " must be an integer within " +
                                                   std::to_string(lo) + ".." + std::to_string(hi)});
    return;
  }
  out = it->get<int>();
}

}  // namespace

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view pair = header.substr(pos, end - pos);
    pos = end + 1;
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && eq == name.size() && pair.compare(0, eq, name) == 0) {
      return std::string(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::optional<PresentedToken> presented_token(const std::string& authorization,
                                              const std::string& cookie_header,
                                              std::string_view cookie_name, std::string& why) {
  if (!authorization.empty()) {
    if (lower(authorization.substr(0, 7)) != "bearer ") {
      why = "Authorization must be Bearer <token>";
      return std::nullopt;
    }
    return PresentedToken{authorization.substr(7), false};
  }
  if (auto c = cookie_value(cookie_header, cookie_name)) return PresentedToken{*c, true};
  why = "sign in: POST /api/v1/session, then send Authorization: Bearer <token>";
  return std::nullopt;
}

json parse_json_body(const std::string& content_type, const std::string& body) {
  const std::string type = lower(content_type);
  const std::string media = type.substr(0, type.find(';'));
  if (media != "application/json") {
    throw ApiError(415, "the body must be application/json");
  }
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) throw ApiError(400, "the body is not well-formed JSON");
  return parsed;
}

LoginRequest parse_login_body(const json& body) {
  if (!body.is_object()) throw ApiError(422, "the body must be {\"username\",\"password\"}");
  std::vector<ApiError::Field> errors;
  for (const char* field : {"username", "password"}) {
    auto it = body.find(field);
    if (it == body.end() || !it->is_string())
      errors.push_back({std::string("/") + field, std::string(field) + " must be a string"});
  }
  if (!errors.empty()) throw ApiError(422, "the sign-in is incomplete", errors);
  return LoginRequest{body["username"], body["password"]};
}

NewDeviceRequest parse_new_device_body(const json& body) {
  if (!body.is_object())
    throw ApiError(422, "the body must be a JSON object", {{"", "must be an object"}});
  std::vector<ApiError::Field> errors;
  NewDeviceRequest out;
  auto found = body.find("device_id");
  if (found == body.end()) {
    errors.push_back({"/device_id", "is required"});
  } else if (!found->is_string() || !is_valid_device_id(found->get<std::string>())) {
    errors.push_back({"/device_id", "must be 1-64 characters of A-Z a-z 0-9 _ -"});
  } else {
    out.device_id = found->get<std::string>();
  }
  auto m = body.find("model");
  if (m != body.end() && !m->is_null()) {
    if (!m->is_string() || m->get<std::string>().empty() ||
        m->get<std::string>().size() > kDeviceModelMaxBytes) {
      errors.push_back(
          {"/model", "must be a string of 1-" + std::to_string(kDeviceModelMaxBytes) + " bytes"});
    } else {
      out.model = m->get<std::string>();
    }
  }
  if (!errors.empty()) throw ApiError(422, "the device is not valid", std::move(errors));
  return out;
}

std::vector<std::string> parse_diag_body(const json& body) {
  if (!body.is_object())
    throw ApiError(422, "the body must be a JSON object", {{"", "must be an object"}});
  std::vector<std::string> what;
  std::vector<ApiError::Field> errors;
  auto w = body.find("what");
  if (w != body.end()) {
    if (!w->is_array()) {
      errors.push_back({"/what", "must be an array of strings"});
    } else {
      for (std::size_t i = 0; i < w->size(); ++i) {
        const json& item = (*w)[i];
        const std::string pointer = "/what/" + std::to_string(i);
        if (!item.is_string()) {
          errors.push_back({pointer, "must be a string"});
          continue;
        }
        if (auto why = diag_item_problem(item.get<std::string>())) {
          errors.push_back({pointer, *why});
          continue;
        }
        what.push_back(item.get<std::string>());
      }
    }
  }
  if (!errors.empty())
    throw ApiError(422, "the diagnostics request is not valid", std::move(errors));
  return what;
}

RolloutOrder parse_rollout_body(const json& body) {
  if (!body.is_object()) throw ApiError(422, "the body must be a JSON object");
  std::vector<ApiError::Field> errors;
  RolloutOrder order;
  auto version = body.find("version");
  if (version == body.end() || !version->is_string()) {
    errors.push_back({"/version", "version must be a string"});
  } else {
    order.version = version->get<std::string>();
  }
  auto all = body.find("all");
  if (all != body.end()) {
    if (!all->is_boolean())
      errors.push_back({"/all", "all must be true or false"});
    else
      order.all = all->get<bool>();
  }
  auto devices = body.find("devices");
  if (devices != body.end()) {
    if (!devices->is_array()) {
      errors.push_back({"/devices", "devices must be an array of device ids"});
    } else {
      for (std::size_t i = 0; i < devices->size(); ++i) {
        const json& d = (*devices)[i];
        if (!d.is_string()) {
          errors.push_back({"/devices/" + std::to_string(i), "a device id must be a string"});
        } else {
          order.devices.push_back(d.get<std::string>());
        }
      }
    }
    if (order.all) errors.push_back({"/devices", "give devices or all, not both"});
  } else if (!order.all && (all == body.end() || all->is_boolean())) {
    errors.push_back({"/devices", "give devices, or all: true"});
  }
  auto stages = body.find("stages");
  if (stages != body.end()) {
    bool ok = stages->is_array();
    std::vector<int> list;
    if (ok) {
      for (const json& s : *stages) {
        if (!s.is_number_integer() || s.get<std::int64_t>() < 0 || s.get<std::int64_t>() > 1000) {
          ok = false;
          break;
        }
        list.push_back(s.get<int>());
      }
    }
    if (!ok)
      errors.push_back({"/stages", "stages must be an array of percentages, e.g. [10,50,100]"});
    else
      order.policy.stages = list;
  }
  auto rate = body.find("max_failure_rate");
  if (rate != body.end()) {
    if (!rate->is_number() || rate->get<double>() < 0 || rate->get<double>() > 1)
      errors.push_back({"/max_failure_rate", "max_failure_rate must be a number within 0..1"});
    else
      order.policy.max_failure_rate = rate->get<double>();
  }
  rollout_int_member(body, "min_finished", 1, 100000000, order.policy.min_finished, errors);
  rollout_int_member(body, "max_per_minute", 1, 100000000, order.policy.max_per_minute, errors);
  rollout_int_member(body, "timeout_min", 1, 10080, order.policy.timeout_min, errors);
  rollout_int_member(body, "retries", 0, 100, order.policy.retries, errors);
  if (!errors.empty()) throw ApiError(422, "invalid rollout", std::move(errors));
  return order;
}

std::int64_t parse_zone_rollback_body(const json& body) {
  if (!body.is_object()) throw ApiError(422, "the body must be {\"version\":N}");
  auto it = body.find("version");
  if (it == body.end() || !it->is_number_integer() || it->get<std::int64_t>() < 1) {
    throw ApiError(422, "the body must be {\"version\":N}",
                   {{"/version", "version must be an integer of at least 1"}});
  }
  return it->get<std::int64_t>();
}

std::int64_t parse_int_param(const std::string& name, const std::optional<std::string>& text,
                             std::int64_t lo, std::int64_t hi, std::int64_t fallback) {
  if (!text) return fallback;
  const std::string why =
      name + " must be an integer " + std::to_string(lo) + ".." + std::to_string(hi);
  if (text->empty() || text->size() > 19) throw ApiError(422, why);
  for (char c : *text) {
    if (c < '0' || c > '9') throw ApiError(422, why);
  }
  errno = 0;
  long long v = std::strtoll(text->c_str(), nullptr, 10);
  if (errno != 0 || v < lo || v > hi) throw ApiError(422, why);
  return v;
}

std::string device_page_token(std::string_view key, const std::string& last_id) {
  return base64url_encode(kDevicePageTokenVersion + last_id) + "." + device_page_mac(key, last_id);
}

std::optional<std::string> device_page_after(std::string_view key, const std::string& token) {
  const std::size_t dot = token.find('.');
  if (dot == std::string::npos || token.size() > 256) return std::nullopt;
  std::string decoded;
  if (!base64url_decode(std::string_view(token).substr(0, dot), decoded)) return std::nullopt;
  const std::string version = kDevicePageTokenVersion;
  if (decoded.compare(0, version.size(), version) != 0) return std::nullopt;
  std::string id = decoded.substr(version.size());
  if (!is_valid_device_id(id)) return std::nullopt;
  if (!constant_time_equal(token.substr(dot + 1), device_page_mac(key, id))) return std::nullopt;
  return id;
}

bool etag_listed(const std::string& header, const std::string& etag) {
  std::size_t i = 0;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t' || header[i] == ',')) ++i;
    if (i >= header.size()) break;
    if (header[i] == '*') return true;
    if (header.compare(i, 2, "W/") == 0) i += 2;
    if (i < header.size() && header[i] == '"') {
      const std::size_t end = header.find('"', i + 1);
      if (end == std::string::npos) return false;
      if (header.compare(i, end + 1 - i, etag) == 0) return true;
      i = end + 1;
    } else {
      const std::size_t end = header.find(',', i);
      i = end == std::string::npos ? header.size() : end;
    }
  }
  return false;
}

}  // namespace rs1
