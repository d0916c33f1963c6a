#include "validators.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "core/identity.hpp"
#include "core/time_parse.hpp"
#include "core/topic_rules.hpp"

namespace rs1ctl {

CLI::Validator device_id_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (rs1::is_valid_device_id(value)) return {};
        return "'" + value + "' is not a valid device id (1-64 characters of A-Z a-z 0-9 _ -)";
      },
      "");
}

CLI::Validator account_name_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (rs1::is_valid_account_name(value)) return {};
        return "'" + value + "' is not a valid account name (1-64 characters of A-Z a-z 0-9 _ -)";
      },
      "");
}

CLI::Validator metric_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (rs1::is_valid_metric(value)) return {};
        return "'" + value + "' is not a valid metric (non-empty, no + or #)";
      },
      "");
}

CLI::Validator time_transform(std::int64_t now_s) {
  return CLI::Validator(
      [now_s](std::string& value) -> std::string {
        std::optional<std::int64_t> t = rs1::parse_time(value, now_s);
        if (!t) {
          return "'" + value +
                 "' is not a time (unix seconds, ISO-8601 such as 2024-05-01T12:00:00Z, or "
                 "15m/2h/7d)";
        }
        value = std::to_string(*t);
        return {};
      },
      "");
}

bool normalize_device_secret(std::string& value) {
  bool hex = value.size() == 64 && std::all_of(value.begin(), value.end(), [](unsigned char c) {
               return std::isxdigit(c) != 0;
             });
  if (!hex) return false;
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return true;
}

CLI::Validator device_secret_transform() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        // The value is a secret: never echo it back in the error.
        if (!normalize_device_secret(value)) return "the secret must be 64 hex characters";
        return {};
      },
      "");
}

CLI::Validator comma_list_check() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.empty()) return {};  // no items
        if (value.front() == ',' || value.back() == ',' || value.find(",,") != std::string::npos) {
          return "'" + value + "' has an empty item (give a,b,c)";
        }
        return {};
      },
      "");
}

}  // namespace rs1ctl
