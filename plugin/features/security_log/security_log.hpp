// The security log (SPEC §9): events, the query rs1ctl runs, and the narrow
// store interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store_error.hpp"

namespace rs1 {

struct SecurityEvent {
  std::string event_type;  // auth_failure_repeated | acl_violation | rate_limit_exceeded | admin_api_access
  std::string severity;    // info | warning | critical
  std::string ip;
  std::string details;  // JSON object text
  std::int64_t time = 0;
};

struct SecurityLogQuery {
  std::optional<std::int64_t> since;
  std::optional<std::string> event_type;
  std::int64_t limit = 1000;
};

// auth_failure_repeated: `limit` failed logins from `address` within 60 s
// (MQTT and Device API logins alike); `banned_s` 0 when no ban applies.
SecurityEvent repeated_login_failures(const std::string& address, const std::string& last_username,
                                      int limit, int banned_s, std::int64_t now_s);

class SecurityLogStore {
 public:
  virtual ~SecurityLogStore() = default;
  // Newest first.
  virtual std::vector<SecurityEvent> query(const SecurityLogQuery& q) = 0;
  virtual void append(const SecurityEvent& event) = 0;
};

}  // namespace rs1
