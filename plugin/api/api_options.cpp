#include "api/api_options.hpp"

#include <stdexcept>

#include "core/identity.hpp"
#include "core/secret_file.hpp"

namespace rs1 {

std::vector<std::string> parse_origins(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string origin = text.substr(start, comma - start);
    while (!origin.empty() && origin.front() == ' ') origin.erase(origin.begin());
    while (!origin.empty() && origin.back() == ' ') origin.pop_back();
    start = comma + 1;
    if (origin.empty()) continue;
    // An origin is scheme://host[:port]: no path, no trailing slash, no
    // wildcard (a credentialed CORS answer may never be "*").
    std::size_t sep = origin.find("://");
    const std::string scheme = sep == std::string::npos ? "" : origin.substr(0, sep);
    const std::string rest = sep == std::string::npos ? "" : origin.substr(sep + 3);
    bool ok = (scheme == "http" || scheme == "https") && !rest.empty();
    for (char c : rest) {
      bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
      if (!allowed) ok = false;
    }
    if (!ok)
      throw std::invalid_argument("'" + origin + "' is not an origin like https://host[:port]");
    out.push_back(origin);
  }
  return out;
}

std::string load_api_key(const std::string& path) {
  const std::string what = "api_key_file " + path + ": ";
  create_secret_file_if_absent(path, what, random_hex(32) + "\n");
  std::string text = read_secret_file(path, what);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.size() < 64 || text.size() % 2 != 0) {
    throw std::runtime_error(what + "malformed: the key must be at least 64 hex digits (256 bits)");
  }
  std::string key;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) throw std::runtime_error(what + "malformed: the key is not hex");
    key += static_cast<char>(hi * 16 + lo);
  }
  return key;
}

void declare_options(OptionRegistry& r, ApiOptions& o) {
  r.text("api_key_file", o.key_file);
  r.integer("api_session_ttl_s", o.session_ttl_s, 60, 30 * 86400);
  r.integer("api_rate_limit_per_min", o.rate_limit_per_min, 0, 1000000);
  r.declare("api_cors_origins", [&o](const std::string& name, const std::string& value) {
    try {
      o.cors_origins = parse_origins(value);
    } catch (const std::invalid_argument& e) {
      option_fail(name, value, e.what());
    }
  });
}

}  // namespace rs1
