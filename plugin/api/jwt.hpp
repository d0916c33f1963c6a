// Device API session tokens (SPEC §10, RFC 7519, RFC 8725): JWT signed
// HS256 with the api_key_file key, made by hand over OpenSSL's HMAC rather
// than with a JWT library, so that exactly one algorithm exists to be
// accepted: the header must be {"alg":"HS256","typ":"JWT"} (never "none",
// never a key-type switch), the MAC is compared in constant time before the
// claims are read, and iss, aud, exp, nbf, iat, sub, role and jti are all
// checked. Time is a parameter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/topic_rules.hpp"

namespace rs1 {

struct TokenClaims {
  std::string sub;  // the account's username
  Role role = Role::service;
  std::int64_t iat = 0;
  std::int64_t exp = 0;
  std::string jti;
};

inline constexpr char kTokenIssuer[] = "rs1";
inline constexpr char kTokenAudience[] = "rs1-api";
// Clocks of the machines that make and check a token may differ this much.
inline constexpr std::int64_t kTokenLeewayS = 30;

std::string sign_token(std::string_view key, const TokenClaims& claims);
// Any claims set (JSON object text) under our header: sign_token's core,
// and how tests make tokens the verifier must refuse.
std::string sign_claims(std::string_view key, std::string_view claims_json);

enum class TokenVerdict { ok, malformed, bad_header, bad_signature, bad_claims, expired, not_yet };
const char* token_verdict_text(TokenVerdict v);

// Checks everything but revocation (the caller looks the jti up).
TokenVerdict verify_token(std::string_view key, std::string_view token, std::int64_t now_s,
                          TokenClaims& claims);

// RFC 4648 §5 without padding.
std::string base64url_encode(std::string_view bytes);
// False for any character outside the alphabet, padding, or a bad length.
bool base64url_decode(std::string_view text, std::string& bytes);

}  // namespace rs1
