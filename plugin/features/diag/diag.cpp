#include "features/diag/diag.hpp"

#include <nlohmann/json.hpp>

namespace rs1 {

std::string diag_request_payload(const DiagRequest& request) {
  return nlohmann::json{{"request_id", request.request_id}, {"what", request.what}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace rs1
