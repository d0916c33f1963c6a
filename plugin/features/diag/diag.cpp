#include "features/diag/diag.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "core/identity.hpp"

namespace rs1 {

DiagRequest new_diag_request(const std::string& device_id, std::vector<std::string> what,
                             std::int64_t now_s) {
  constexpr std::size_t kRequestIdBytes = 16;  // 32 hex characters
  DiagRequest request;
  request.request_id = random_hex(kRequestIdBytes);
  request.device_id = device_id;
  request.what = std::move(what);
  request.created_at = now_s;
  request.expires_at = now_s + kDiagTtlS;
  return request;
}

std::optional<std::string> diag_item_problem(const std::string& item) {
  if (item.empty()) return std::string("must not be empty");
  return std::nullopt;
}

std::string diag_request_payload(const DiagRequest& request) {
  return nlohmann::json{{"request_id", request.request_id}, {"what", request.what}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace rs1
