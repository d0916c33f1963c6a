#include "core/identity.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>
#include <vector>

namespace rs1 {
namespace {

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string to_hex(const unsigned char* data, std::size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (std::size_t i = 0; i < len; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0x0f];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(std::string_view hex, std::vector<unsigned char>& out) {
  if (hex.size() % 2 != 0) return false;
  out.resize(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

std::string sha256_hex_of(const unsigned char* data, std::size_t len) {
  std::array<unsigned char, 32> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(data, len, digest.data(), &digest_len, EVP_sha256(), nullptr) != 1 ||
      digest_len != digest.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return to_hex(digest.data(), digest.size());
}

}  // namespace

bool is_valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

bool is_valid_account_name(std::string_view name) { return is_valid_device_id(name); }

std::string sha256_hex(std::string_view data) {
  return sha256_hex_of(reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
           &mac_len) == nullptr ||
      mac_len != 32) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return to_hex(mac.data(), mac_len);
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    throw std::runtime_error("the random number generator failed");
  }
  return to_hex(buf.data(), buf.size());
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

DeviceSecret new_device_secret() {
  DeviceSecret s;
  s.secret = random_hex(32);
  s.secret_hash = sha256_hex(s.secret);
  return s;
}

std::string password_for_hour(std::string_view secret_hash, std::string_view device_id,
                              std::int64_t hour) {
  std::string message;
  message.reserve(device_id.size() + 24);
  message.append(device_id).append(":").append(std::to_string(hour));
  return hmac_sha256_hex(secret_hash, message);
}

bool verify_device_password(std::string_view secret_hash, std::string_view device_id,
                            std::string_view password, std::int64_t now_s,
                            bool clock_skew_ahead) {
  const std::int64_t hour = hour_of(now_s);
  // Compute every candidate and combine without short-circuit, so the time
  // taken does not say which hour matched.
  bool ok = false;
  ok |= constant_time_equal(password_for_hour(secret_hash, device_id, hour), password);
  ok |= constant_time_equal(password_for_hour(secret_hash, device_id, hour - 1), password);
  if (clock_skew_ahead) {
    ok |= constant_time_equal(password_for_hour(secret_hash, device_id, hour + 1), password);
  }
  return ok;
}

std::string new_account_password() { return random_hex(20); }

static std::string salted_hash(const std::vector<unsigned char>& salt, std::string_view password) {
  std::vector<unsigned char> buf(salt);
  buf.insert(buf.end(), password.begin(), password.end());
  return sha256_hex_of(buf.data(), buf.size());
}

AccountPassword hash_account_password(std::string_view password) {
  AccountPassword p;
  p.salt_hex = random_hex(16);
  std::vector<unsigned char> salt;
  from_hex(p.salt_hex, salt);
  p.hash_hex = salted_hash(salt, password);
  return p;
}

bool verify_account_password(std::string_view salt_hex, std::string_view hash_hex,
                             std::string_view password) {
  std::vector<unsigned char> salt;
  if (!from_hex(salt_hex, salt)) return false;
  return constant_time_equal(salted_hash(salt, password), hash_hex);
}

}  // namespace rs1
