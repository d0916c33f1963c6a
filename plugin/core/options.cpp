#include "core/options.hpp"

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>

namespace rs1 {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& value, const std::string& why) {
  throw OptionError("plugin_opt_" + name + " '" + value + "': " + why);
}

std::int64_t parse_int(const std::string& name, const std::string& value, std::int64_t min,
                       std::int64_t max) {
  if (value.empty()) fail(name, value, "expected an integer");
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(value.c_str(), &end, 10);
  if (errno != 0 || end == value.c_str() || *end != '\0') fail(name, value, "expected an integer");
  if (v < min || v > max) {
    fail(name, value, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return v;
}

bool parse_bool(const std::string& name, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  fail(name, value, "expected true or false");
}

HostPort parse_host_port(const std::string& name, const std::string& value) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) fail(name, value, "expected HOST:PORT");
  HostPort hp;
  hp.host = value.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  try {
    hp.port = static_cast<int>(parse_int(name, value.substr(colon + 1), 1, 65535));
  } catch (const OptionError&) {
    // Quote the whole value, not just what follows the colon.
    fail(name, value, "expected HOST:PORT with PORT between 1 and 65535");
  }
  return hp;
}

std::string parse_url(const std::string& name, const std::string& value) {
  if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0) {
    fail(name, value, "expected an http:// or https:// URL");
  }
  std::string url = value;
  while (!url.empty() && url.back() == '/') url.pop_back();  // paths are appended with '/'
  if (url.find_first_of(" \t\r\n") != std::string::npos) fail(name, value, "URL has white space");
  // "http://" alone would sign URLs like "http:/firmware/…" that no device can fetch.
  const auto host = url.find("://");
  if (host == std::string::npos || host + 3 >= url.size() || url[host + 3] == '/') {
    fail(name, value, "URL has no host");
  }
  return url;
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Options parse_options(const std::vector<std::pair<std::string, std::string>>& raw) {
  Options o;
  constexpr std::int64_t kMaxInt = 2147483647;
  using Setter = std::function<void(const std::string&, const std::string&)>;
  const std::map<std::string, Setter> setters = {
      {"db_path", [&](auto& n, auto& v) { if (v.empty()) fail(n, v, "must not be empty"); o.db_path = v; }},
      {"data_dir", [&](auto& n, auto& v) { if (v.empty()) fail(n, v, "must not be empty"); o.data_dir = v; }},
      {"signing_key_file", [&](auto& n, auto& v) { if (v.empty()) fail(n, v, "must not be empty"); o.signing_key_file = v; }},
      {"ota_base_url", [&](auto& n, auto& v) { o.ota_base_url = parse_url(n, v); }},
      {"http_listen", [&](auto& n, auto& v) { o.http_listen = parse_host_port(n, v); }},
      {"url_ttl_s", [&](auto& n, auto& v) { o.url_ttl_s = static_cast<int>(parse_int(n, v, 1, 7 * 86400)); }},
      {"clock_skew_ahead", [&](auto& n, auto& v) { o.clock_skew_ahead = parse_bool(n, v); }},
      {"rate_limit_per_min", [&](auto& n, auto& v) { o.rate_limit_per_min = static_cast<int>(parse_int(n, v, 0, kMaxInt)); }},
      {"max_payload_bytes", [&](auto& n, auto& v) { o.max_payload_bytes = static_cast<std::size_t>(parse_int(n, v, 2, 256 * 1024 * 1024)); }},
      {"auth_fail_limit", [&](auto& n, auto& v) { o.auth_fail_limit = static_cast<int>(parse_int(n, v, 1, kMaxInt)); }},
      {"auth_ban_s", [&](auto& n, auto& v) { o.auth_ban_s = static_cast<int>(parse_int(n, v, 0, 30 * 86400)); }},
      {"ingest_flush_ms", [&](auto& n, auto& v) { o.ingest_flush_ms = static_cast<int>(parse_int(n, v, 1, 60000)); }},
      {"ingest_queue_max", [&](auto& n, auto& v) { o.ingest_queue_max = static_cast<std::size_t>(parse_int(n, v, 1, 100000000)); }},
      {"ingest_queue_max_bytes", [&](auto& n, auto& v) { o.ingest_queue_max_bytes = static_cast<std::size_t>(parse_int(n, v, std::int64_t{1} << 20, std::int64_t{64} << 30)); }},
      {"hot_days", [&](auto& n, auto& v) { o.hot_days = static_cast<int>(parse_int(n, v, 1, 36500)); }},
      {"archive_retention_days", [&](auto& n, auto& v) { o.archive_retention_days = static_cast<int>(parse_int(n, v, 1, 36500)); }},
      {"backup_retention_days", [&](auto& n, auto& v) { o.backup_retention_days = static_cast<int>(parse_int(n, v, 1, 36500)); }},
      {"backup_hour_utc", [&](auto& n, auto& v) { o.backup_hour_utc = static_cast<int>(parse_int(n, v, 0, 23)); }},
  };
  std::map<std::string, bool> seen;
  for (const auto& [name, value] : raw) {
    auto it = setters.find(name);
    if (it == setters.end()) {
      throw OptionError("plugin_opt_" + name + ": unknown option");
    }
    if (seen[name]) throw OptionError("plugin_opt_" + name + ": given more than once");
    seen[name] = true;
    it->second(name, value);
  }
  if (o.db_path.empty()) throw OptionError("plugin_opt_db_path is required");
  if (o.data_dir.empty()) o.data_dir = parent_dir(o.db_path);
  if (o.signing_key_file.empty()) o.signing_key_file = o.data_dir + "/signing.key";
  return o;
}

}  // namespace rs1
