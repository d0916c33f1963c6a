#include "features/ota/signing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/identity.hpp"
#include "core/secret_file.hpp"
#include "core/text.hpp"

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
    std::string_view line = trim_blanks(text.substr(0, nl));
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
  create_secret_file_if_absent(path, "signing_key_file " + path + ": ", new_key_line());
  return read_key_file(path);
}

std::vector<SigningKey> read_key_file(const std::string& path) {
  const std::string what = "signing_key_file " + path + ": ";
  const std::string text = read_secret_file(path, what);
  try {
    return parse_key_file(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(what + "malformed: " + e.what());
  }
}

std::optional<KeyFileStamp> key_file_stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  KeyFileStamp s;
  s.dev = static_cast<std::uint64_t>(st.st_dev);
  s.ino = static_cast<std::uint64_t>(st.st_ino);
  s.size = static_cast<std::int64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  s.mode = static_cast<std::uint32_t>(st.st_mode);
  return s;
}

KeyFileWatch::KeyFileWatch(std::string path, std::vector<SigningKey> in_use,
                           std::optional<KeyFileStamp> read_at)
    : path_(std::move(path)), in_use_(std::move(in_use)), stamp_(read_at) {}

KeyFileWatch::Result KeyFileWatch::check() {
  Result r;
  std::optional<KeyFileStamp> now = key_file_stamp(path_);
  if (now == stamp_) return r;
  // Stamped before it is read: a write after this is seen next time.
  stamp_ = now;
  try {
    std::vector<SigningKey> keys = read_key_file(path_);
    if (keys == in_use_ && !refused_) return r;  // touched, not changed
    r.outcome = Result::Outcome::loaded;
    in_use_ = keys;
    r.keys = std::move(keys);
    refused_ = false;
  } catch (const std::exception& e) {
    r.outcome = Result::Outcome::refused;
    r.error = e.what();
    refused_ = true;
  }
  return r;
}

SigningKeySet::SigningKeySet(std::vector<SigningKey> keys)
    : keys_(std::make_shared<const std::vector<SigningKey>>(std::move(keys))) {}

std::shared_ptr<const std::vector<SigningKey>> SigningKeySet::get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

void SigningKeySet::set(std::vector<SigningKey> keys) {
  auto fresh = std::make_shared<const std::vector<SigningKey>>(std::move(keys));
  std::lock_guard<std::mutex> lock(mu_);
  keys_ = std::move(fresh);
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
