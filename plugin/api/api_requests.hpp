// What the Device API reads from a request before it touches a store: the
// token a caller presents (Authorization or the session cookie), the JSON
// bodies of the routes that take one, page tokens, integer parameters and
// entity-tag lists. Pure functions over the request's text, so each is
// tested and fuzzed on its own; a refusal is an ApiError with the status
// and the fields at fault, as the handlers answer it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api_error.hpp"
#include "features/ota/rollout_order.hpp"

namespace rs1 {

// --- who calls ---------------------------------------------------------------

// The value of cookie `name` in a Cookie header, if any.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

// The token of a request: "Authorization: Bearer <token>" when there is an
// Authorization header, else the value of cookie `cookie_name`. Nothing,
// with `why` set, when neither is usable.
struct PresentedToken {
  std::string token;
  bool cookie = false;  // it came from the cookie (CSRF header required)
};
std::optional<PresentedToken> presented_token(const std::string& authorization,
                                              const std::string& cookie_header,
                                              std::string_view cookie_name, std::string& why);

// --- bodies ------------------------------------------------------------------

// A JSON body: 415 unless `content_type` is application/json (any case,
// parameters allowed), 400 when the body is not well-formed JSON.
nlohmann::json parse_json_body(const std::string& content_type, const std::string& body);

// POST /api/v1/session: {"username","password"}, both strings (422).
struct LoginRequest {
  std::string username;
  std::string password;
};
LoginRequest parse_login_body(const nlohmann::json& body);

// POST /api/v1/devices: {"device_id", "model"?} (422 naming each field).
struct NewDeviceRequest {
  std::string device_id;
  std::optional<std::string> model;
};
constexpr std::size_t kDeviceModelMaxBytes = 128;
NewDeviceRequest parse_new_device_body(const nlohmann::json& body);

// POST /api/v1/devices/{id}/diag: {"what"?: [item…]} (422 naming each item).
std::vector<std::string> parse_diag_body(const nlohmann::json& body);

// POST /api/v1/rollouts: the order, before create_rollout's own checks (422).
RolloutOrder parse_rollout_body(const nlohmann::json& body);

// POST …/zones/rollback: {"version": N >= 1} (422).
std::int64_t parse_zone_rollback_body(const nlohmann::json& body);

// --- query and headers -------------------------------------------------------

// An integer query parameter `name` within lo..hi, or `fallback` when
// absent; 422 otherwise.
std::int64_t parse_int_param(const std::string& name, const std::optional<std::string>& text,
                             std::int64_t lo, std::int64_t hi, std::int64_t fallback);

// The device listing's page token: base64url("1:<last device id>") "." 16
// hex of an HMAC with the API key, so a hand-made or foreign token is
// refused before any query.
std::string device_page_token(std::string_view key, const std::string& last_id);
// The last device id of the previous page; nothing for a token that is not
// one of ours.
std::optional<std::string> device_page_after(std::string_view key, const std::string& token);

// Whether an If-Match / If-None-Match value names `etag`: "*", or a
// comma-separated list of entity tags (weak ones compare by their value).
bool etag_listed(const std::string& header, const std::string& etag);

}  // namespace rs1
