#include "features/ota/signing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/identity.hpp"

namespace rs1 {
namespace {

bool is_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > 32) return false;
  for (char c : kid) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool is_decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::vector<SigningKey> parse_key_file(std::string_view text) {
  std::vector<SigningKey> keys;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_no);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) throw std::runtime_error(where + " is not KEYID:HEX");
    std::string_view kid = line.substr(0, colon);
    std::string_view hex = line.substr(colon + 1);
    if (!is_kid(kid)) throw std::runtime_error(where + ": key id must be 1-32 of [A-Za-z0-9_-]");
    if (hex.size() % 2 != 0 || hex.size() < 32) {
      throw std::runtime_error(where + ": key must be an even number of hex digits, at least 32");
    }
    SigningKey key;
    key.kid = std::string(kid);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
      if (hi < 0 || lo < 0) throw std::runtime_error(where + ": key is not hex");
      key.bytes.push_back(static_cast<char>(hi * 16 + lo));
    }
    for (const auto& k : keys) {
      if (k.kid == key.kid) throw std::runtime_error(where + ": key id " + key.kid + " repeats");
    }
    keys.push_back(std::move(key));
  }
  if (keys.empty()) throw std::runtime_error("no key in it");
  return keys;
}

std::string new_key_line() { return "k" + random_hex(4) + ":" + random_hex(32) + "\n"; }

std::vector<SigningKey> ensure_key_file(const std::string& path) {
  const std::string what = "signing_key_file " + path + ": ";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    // O_EXCL: two brokers starting at once never overwrite each other's key.
    int out = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0 && errno != EEXIST) {
      throw std::runtime_error(what + "cannot create: " + std::strerror(errno));
    }
    if (out >= 0) {
      const std::string line = new_key_line();
      bool ok = write(out, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                fsync(out) == 0;
      int err = errno;
      close(out);
      if (!ok) {
        unlink(path.c_str());
        throw std::runtime_error(what + "cannot write: " + std::strerror(err));
      }
    }
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) throw std::runtime_error(what + "cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw std::runtime_error(what + "not a regular file");
  }
  if (st.st_mode & 077) {
    close(fd);
    throw std::runtime_error(what + "group or world may access it (chmod 600 it)");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw std::runtime_error(what + "cannot read: " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 1 << 20) {
      close(fd);
      throw std::runtime_error(what + "larger than 1 MiB");
    }
  }
  close(fd);
  try {
    return parse_key_file(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(what + "malformed: " + e.what());
  }
}

std::string url_signature(const SigningKey& key, std::string_view sha256,
                          std::string_view device_id, std::int64_t expires) {
  std::string message;
  message.append(sha256).append("\n").append(device_id).append("\n").append(
      std::to_string(expires));
  return hmac_sha256_hex(key.bytes, message);
}

std::string signed_firmware_url(std::string_view base_url, const SigningKey& key,
                                std::string_view sha256, std::string_view device_id,
                                std::int64_t expires) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  std::string url(base_url);
  // Device ids and key ids are [A-Za-z0-9_-]: nothing to escape.
  url.append("/firmware/").append(sha256).append("?device=").append(device_id);
  url.append("&expires=").append(std::to_string(expires)).append("&kid=").append(key.kid);
  url.append("&sig=").append(url_signature(key, sha256, device_id, expires));
  return url;
}

const char* url_verdict_name(UrlVerdict v) {
  switch (v) {
    case UrlVerdict::ok:
      return "ok";
    case UrlVerdict::malformed:
      return "malformed";
    case UrlVerdict::unknown_key:
      return "unknown key";
    case UrlVerdict::bad_signature:
      return "bad signature";
    case UrlVerdict::expired:
      return "expired";
  }
  return "?";
}

UrlVerdict verify_firmware_url(const std::vector<SigningKey>& keys, std::string_view sha256,
                               std::string_view device_id, std::string_view expires,
                               std::string_view kid, std::string_view sig, std::int64_t now_s) {
  if (!is_decimal(expires) || (expires.size() > 1 && expires.front() == '0') ||
      !is_valid_device_id(device_id) || sig.size() != 64) {
    return UrlVerdict::malformed;
  }
  const SigningKey* key = nullptr;
  for (const auto& k : keys) {
    if (k.kid == kid) key = &k;
  }
  if (!key) return UrlVerdict::unknown_key;
  const std::int64_t exp = std::stoll(std::string(expires));
  if (!constant_time_equal(url_signature(*key, sha256, device_id, exp), sig)) {
    return UrlVerdict::bad_signature;
  }
  if (exp <= now_s) return UrlVerdict::expired;
  return UrlVerdict::ok;
}

}  // namespace rs1
