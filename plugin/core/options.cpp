#include "core/options.hpp"

#include <cerrno>
#include <cstdlib>

namespace rs1 {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& value, const std::string& why) {
  option_fail(name, value, why);
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

}  // namespace

void option_fail(const std::string& name, const std::string& value, const std::string& why) {
  throw OptionError("plugin_opt_" + name + " '" + value + "': " + why);
}

void OptionRegistry::declare(const std::string& name, Setter setter) {
  if (!setters_.emplace(name, std::move(setter)).second) {
    throw std::logic_error("plugin option " + name + " declared twice");
  }
}

void OptionRegistry::integer(const std::string& name, int& target, std::int64_t min,
                             std::int64_t max) {
  declare(name, [&target, min, max](const std::string& n, const std::string& v) {
    target = static_cast<int>(parse_int(n, v, min, max));
  });
}

void OptionRegistry::integer(const std::string& name, std::size_t& target, std::int64_t min,
                             std::int64_t max) {
  declare(name, [&target, min, max](const std::string& n, const std::string& v) {
    target = static_cast<std::size_t>(parse_int(n, v, min, max));
  });
}

void OptionRegistry::boolean(const std::string& name, bool& target) {
  declare(name, [&target](const std::string& n, const std::string& v) { target = parse_bool(n, v); });
}

void OptionRegistry::text(const std::string& name, std::string& target) {
  declare(name, [&target](const std::string& n, const std::string& v) {
    if (v.empty()) fail(n, v, "must not be empty");
    target = v;
  });
}

void OptionRegistry::host_port(const std::string& name, std::optional<HostPort>& target) {
  declare(name, [&target](const std::string& n, const std::string& v) { target = parse_host_port(n, v); });
}

void OptionRegistry::url(const std::string& name, std::string& target) {
  declare(name, [&target](const std::string& n, const std::string& v) { target = parse_url(n, v); });
}

void OptionRegistry::parse(const std::vector<std::pair<std::string, std::string>>& raw) const {
  std::map<std::string, bool> seen;
  for (const auto& [name, value] : raw) {
    auto it = setters_.find(name);
    if (it == setters_.end()) throw OptionError("plugin_opt_" + name + ": unknown option");
    if (seen[name]) throw OptionError("plugin_opt_" + name + ": given more than once");
    seen[name] = true;
    it->second(name, value);
  }
}

}  // namespace rs1
