#include "features/security_log/security_log.hpp"

#include <nlohmann/json.hpp>

namespace rs1 {

SecurityEvent repeated_login_failures(const std::string& address, const std::string& last_username,
                                      int limit, int banned_s, std::int64_t now_s) {
  nlohmann::json details = {{"failures", limit},
                            {"window_s", 60},
                            {"last_username", last_username},
                            {"banned_s", banned_s}};
  SecurityEvent e;
  e.event_type = "auth_failure_repeated";
  e.severity = banned_s > 0 ? "critical" : "warning";
  e.ip = address;
  e.details = details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  e.time = now_s;
  return e;
}

}  // namespace rs1
