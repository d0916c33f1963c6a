// Helpers for the Device API's integration tests: a broker with the HTTP
// listener on a free port, signing in, requests with any method and
// headers, problem+json checks, and rs1ctl on the broker's database.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"

namespace rs1::it {

CommandResult api_ctl(const std::string& db, std::vector<std::string> args);

// The API key as bytes, read from the file the broker created.
std::string api_key(const BrokerRunner& broker);

struct Api {
  int http_port = free_port();
  BrokerRunner broker;
  Fleet fleet;
  explicit Api(std::vector<std::pair<std::string, std::string>> more = {},
               std::optional<std::string> fault_control = std::nullopt);
  BrokerConfig config(const std::vector<std::pair<std::string, std::string>>& more,
                      std::optional<std::string> fault_control = std::nullopt) const;
  httplib::Client client() const;
  httplib::Result sign_in(const std::string& user, const std::string& password) const;
  std::string token(const Account& a) const;  // REQUIREs a 200
  // Sends `body` as application/json unless `headers` names a Content-Type.
  httplib::Result call(const std::string& method, const std::string& path,
                       const httplib::Headers& headers, const std::string& body = {}) const;
};

httplib::Headers bearer(const std::string& token);

// CHECKs a problem+json answer of this status (REQUIREs an answer).
void check_problem(const httplib::Result& r, int status);

// The admin_api_access entries (newest first), once at least one is there.
nlohmann::json api_access_log(const Api& api);

}  // namespace rs1::it
