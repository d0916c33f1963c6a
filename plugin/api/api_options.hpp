// The Device API's plugin options (SPEC §3): the session key file, token
// lifetime, per-address rate limit and the browser origins allowed to call.
#pragma once

#include <string>
#include <vector>

#include "core/options.hpp"

namespace rs1 {

struct ApiOptions {
  std::string key_file;  // api_key_file; derived: <data_dir>/api.key
  int session_ttl_s = 86400;
  int rate_limit_per_min = 100;  // 0: no limit
  std::vector<std::string> cors_origins;
};
void declare_options(OptionRegistry& registry, ApiOptions& options);

// "https://app.optic.works, http://localhost:5173" as origins; throws
// std::invalid_argument for one that is not scheme://host[:port].
std::vector<std::string> parse_origins(const std::string& text);

// The key in api_key_file as bytes: the file is created 0600 with 256
// random bits (64 hex digits) when absent; it must be hex, at least 64
// digits, and closed to group and world. Throws std::runtime_error naming
// the file (never its contents).
std::string load_api_key(const std::string& path);

}  // namespace rs1
