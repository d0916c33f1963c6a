#include "core/identity.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <array>
#include <memory>
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

namespace {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

// OpenSSL 3's one-shot HMAC() looks the algorithm up in the provider tables
// on every call, which costs as much as the MAC itself: each thread keeps one
// context set to SHA-256 and only gives it a new key per call.
MacCtx new_hmac_sha256() {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) throw std::runtime_error("HMAC is not available");
  MacCtx ctx(EVP_MAC_CTX_new(mac));
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_CTX_set_params(ctx.get(), params) != 1) {
    throw std::runtime_error("cannot set up HMAC-SHA256");
  }
  return ctx;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  thread_local MacCtx ctx = new_hmac_sha256();
  std::array<unsigned char, 32> mac{};
  std::size_t mac_len = 0;
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac.data(), &mac_len, mac.size()) != 1 || mac_len != 32) {
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
  // Each comparison is constant-time. Which hour matched is no secret (the
  // clock is public), so the likeliest hour goes first and a login usually
  // costs one HMAC.
  if (constant_time_equal(password_for_hour(secret_hash, device_id, hour), password)) return true;
  if (constant_time_equal(password_for_hour(secret_hash, device_id, hour - 1), password)) return true;
  return clock_skew_ahead &&
         constant_time_equal(password_for_hour(secret_hash, device_id, hour + 1), password);
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
