// The Device API's request parsers (api/api_requests), called directly as
// the handlers call them: a JSON body for each route that takes one, the
// device listing's page token, integer parameters and entity-tag lists.
// Only ApiError may come out, with the status the handlers answer and
// pointers into the body. Input: a byte that chooses (for a body, a second
// one chooses the route), then the text.
#include <string>

#include "api/api_requests.hpp"
#include "core/identity.hpp"
#include "fuzz_support.hpp"

namespace {

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";

void body(std::uint8_t which, const std::string& text) {
  const nlohmann::json json = rs1::parse_json_body("application/json", text);
  switch (which % 5) {
    case 0:
      rs1::parse_login_body(json);
      break;
    case 1: {
      const rs1::NewDeviceRequest d = rs1::parse_new_device_body(json);
      rs1::fuzz::check(
          !d.device_id.empty() && d.device_id.size() <= 64 &&
              (!d.model || (!d.model->empty() && d.model->size() <= rs1::kDeviceModelMaxBytes)),
          "a new device", text, d.device_id, "a valid id and model");
      break;
    }
    case 2:
      rs1::parse_diag_body(json);
      break;
    case 3: {
      const rs1::RolloutOrder order = rs1::parse_rollout_body(json);
      rs1::check_policy(order.policy);
      break;
    }
    default:
      rs1::fuzz::check(rs1::parse_zone_rollback_body(json) >= 1, "a rollback version", text, "< 1",
                       ">= 1");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  rs1::fuzz::Input in(data, size);
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  const std::uint8_t choice = in.byte();
  try {
    switch (choice % 5) {
      case 0:
      case 1:
        body(in.byte(), std::string(in.rest()));
        break;
      case 2: {  // page tokens: ours come back as the id they were made of
        const std::string token(in.rest());
        if (auto id = rs1::device_page_after(kKey, token)) {
          check(rs1::device_page_token(kKey, *id) == token, "a page token is one we made", whole,
                *id, token);
        }
        if (rs1::is_valid_device_id(token)) {
          check(rs1::device_page_after(kKey, rs1::device_page_token(kKey, token)) == token,
                "page token round trip", whole, "refused", token);
        }
        break;
      }
      case 3: {
        const std::string text(in.rest());
        const std::int64_t v = rs1::parse_int_param("limit", text, 1, 1000, 100);
        check(v >= 1 && v <= 1000, "an integer parameter within its range", whole,
              std::to_string(v), "1..1000");
        break;
      }
      default: {
        const std::string etag(in.line());
        rs1::etag_listed(std::string(in.rest()), etag);
        rs1::parse_json_body(etag, "{}");
        break;
      }
    }
  } catch (const rs1::ApiError& e) {
    check(e.status == 400 || e.status == 415 || e.status == 422, "an ApiError's status", whole,
          std::to_string(e.status), "400, 415 or 422");
    for (const auto& f : e.errors) {
      check(f.pointer.empty() || f.pointer[0] == '/', "an error's pointer", whole, f.pointer,
            "\"\" or /…");
    }
  }
  return 0;
}
