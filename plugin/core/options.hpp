// The plugin options of SPEC §3: parsing, defaults and validation. Every
// option is checked at start, including those later features use, so a typo
// stops the broker with one clear line instead of surfacing days later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rs1 {

struct HostPort {
  std::string host;
  int port = 0;
};

struct Options {
  std::string db_path;
  std::string data_dir;
  std::string signing_key_file;
  std::string ota_base_url = "http://127.0.0.1:8080";
  std::optional<HostPort> http_listen;
  int url_ttl_s = 900;
  bool clock_skew_ahead = false;
  int rate_limit_per_min = 600;
  std::size_t max_payload_bytes = 65536;
  int auth_fail_limit = 5;
  int auth_ban_s = 0;
  int ingest_flush_ms = 100;
  std::size_t ingest_queue_max = 200000;
  std::size_t ingest_queue_max_bytes = std::size_t{256} << 20;  // payload and state text waiting
  int hot_days = 30;
  int archive_retention_days = 365;
  int backup_retention_days = 30;
  int backup_hour_utc = 3;
};

// The message names the option and what is wrong with its value.
class OptionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options in the order mosquitto.conf gave them (plugin_opt_NAME VALUE, the
// "plugin_opt_" prefix already removed). Throws OptionError.
Options parse_options(const std::vector<std::pair<std::string, std::string>>& raw);

}  // namespace rs1
