// Signed firmware URLs (SPEC §7) and the signing key file (SPEC §3): one
// `KEYID:HEX` a line, the first key signs, every key verifies, so keys can
// be rolled over without breaking URLs already handed out. Pure except
// ensure_key_file, which creates or checks the file at broker start.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rs1 {

struct SigningKey {
  std::string kid;    // 1-32 characters of [A-Za-z0-9_-]
  std::string bytes;  // the key, decoded from HEX (at least 16 bytes)
};

// Parses the key file's text. Blank lines and lines starting with '#' are
// skipped. Throws std::runtime_error naming the first bad line (or "no
// key"), never echoing key material.
std::vector<SigningKey> parse_key_file(std::string_view text);

// A fresh `KEYID:HEX` line: a random key id and 256 random bits.
std::string new_key_line();

// At broker start: creates `path` (0600, one fresh key) when it is absent;
// refuses (std::runtime_error, one line) a file with group or world access,
// an unreadable or malformed one. Returns the keys.
std::vector<SigningKey> ensure_key_file(const std::string& path);

// lowercase_hex(HMAC-SHA256(key, "<sha256>\n<device>\n<expires>")).
std::string url_signature(const SigningKey& key, std::string_view sha256,
                          std::string_view device_id, std::int64_t expires);

// <base>/firmware/<sha256>?device=<id>&expires=<unix>&kid=<keyid>&sig=<hex>
std::string signed_firmware_url(std::string_view base_url, const SigningKey& key,
                                std::string_view sha256, std::string_view device_id,
                                std::int64_t expires);

enum class UrlVerdict { ok, malformed, unknown_key, bad_signature, expired };
const char* url_verdict_name(UrlVerdict verdict);

// Checks a request's query parameters, as given (the expiry as its text, so
// "0900" is not the "900" that was signed). The signature is compared in
// constant time and checked before the expiry, so the answer says nothing
// about an unsigned URL's expiry.
UrlVerdict verify_firmware_url(const std::vector<SigningKey>& keys, std::string_view sha256,
                               std::string_view device_id, std::string_view expires,
                               std::string_view kid, std::string_view sig, std::int64_t now_s);

}  // namespace rs1
