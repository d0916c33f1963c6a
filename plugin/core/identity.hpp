// Identity: device ids, the device password algorithm of SPEC §4, account
// password hashing, and the random secrets both are made from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rs1 {

// 1-64 characters of [A-Za-z0-9_-]. Account names follow the same rule, so a
// login name can never carry an MQTT wildcard or a topic separator.
bool is_valid_device_id(std::string_view id);
bool is_valid_account_name(std::string_view name);

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
std::string random_hex(std::size_t bytes);  // throws std::runtime_error if the RNG fails
bool constant_time_equal(std::string_view a, std::string_view b);

constexpr std::int64_t hour_of(std::int64_t unix_seconds) {
  return unix_seconds >= 0 ? unix_seconds / 3600 : (unix_seconds - 3599) / 3600;
}

// The secret the device keeps, and the hash the database keeps.
struct DeviceSecret {
  std::string secret;       // 64 lowercase hex characters, shown once
  std::string secret_hash;  // lowercase_hex(SHA-256(secret))
};
DeviceSecret new_device_secret();

// lowercase_hex(HMAC-SHA256(key = secret_hash as ASCII, msg = "<id>:<hour>")).
std::string password_for_hour(std::string_view secret_hash, std::string_view device_id,
                              std::int64_t hour);

// Accepts the password of the current hour and of the previous one, and of the
// next one when clock_skew_ahead. Every candidate is compared in constant time.
bool verify_device_password(std::string_view secret_hash, std::string_view device_id,
                            std::string_view password, std::int64_t now_s,
                            bool clock_skew_ahead);

struct AccountPassword {
  std::string salt_hex;
  std::string hash_hex;  // lowercase_hex(SHA-256(salt bytes || password))
};
std::string new_account_password();  // 160 random bits as 40 hex characters
AccountPassword hash_account_password(std::string_view password);  // fresh random salt
bool verify_account_password(std::string_view salt_hex, std::string_view hash_hex,
                             std::string_view password);

}  // namespace rs1
