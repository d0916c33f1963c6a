#include "api/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "core/identity.hpp"

namespace rs1 {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kMaxTokenBytes = 4096;

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string mac(std::string_view key, std::string_view message) {
  unsigned char out[32];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len) ||
      len != sizeof out) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

const std::string& header_part() {
  static const std::string h = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  return h;
}

bool integer_claim(const nlohmann::json& claims, const char* name, std::int64_t& out) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number_integer()) return false;
  out = it->get<std::int64_t>();
  return true;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = at(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& bytes) {
  bytes.clear();
  if (text.size() % 4 == 1) return false;
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = decode_char(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero: one text per byte string, nothing smuggled.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string sign_token(std::string_view key, const TokenClaims& c) {
  nlohmann::json claims = {
      {"iss", kTokenIssuer}, {"aud", kTokenAudience}, {"sub", c.sub}, {"role", role_name(c.role)},
      {"iat", c.iat},        {"exp", c.exp},          {"jti", c.jti}};
  return sign_claims(key, claims.dump());
}

std::string sign_claims(std::string_view key, std::string_view claims_json) {
  std::string signing_input = header_part() + "." + base64url_encode(claims_json);
  return signing_input + "." + base64url_encode(mac(key, signing_input));
}

const char* token_verdict_text(TokenVerdict v) {
  switch (v) {
    case TokenVerdict::ok:
      return "ok";
    case TokenVerdict::malformed:
      return "the token is not a JWT";
    case TokenVerdict::bad_header:
      return "the token's header is not {\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    case TokenVerdict::bad_signature:
      return "the token's signature does not verify";
    case TokenVerdict::bad_claims:
      return "the token's claims are not this API's";
    case TokenVerdict::expired:
      return "the token has expired";
    case TokenVerdict::not_yet:
      return "the token is not valid yet";
  }
  return "bad token";
}

TokenVerdict verify_token(std::string_view key, std::string_view token, std::int64_t now_s,
                          TokenClaims& out) {
  if (token.empty() || token.size() > kMaxTokenBytes) return TokenVerdict::malformed;
  const std::size_t d1 = token.find('.');
  const std::size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos ||
      d1 == 0 || d2 == d1 + 1 || d2 + 1 == token.size()) {
    return TokenVerdict::malformed;
  }
  std::string header_text, claims_text, signature;
  if (!base64url_decode(token.substr(0, d1), header_text) ||
      !base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), claims_text) ||
      !base64url_decode(token.substr(d2 + 1), signature)) {
    return TokenVerdict::malformed;
  }
  // The header before anything else: only HS256, and nothing that asks
  // for extensions (crit) or names a key (kid, jku, jwk) to be trusted.
  nlohmann::json header = nlohmann::json::parse(header_text, nullptr, false);
  if (!header.is_object() || header.size() != 2 || header.value("alg", "") != "HS256" ||
      header.value("typ", "") != "JWT") {
    return TokenVerdict::bad_header;
  }
  const std::string expected = mac(key, token.substr(0, d2));
  if (signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return TokenVerdict::bad_signature;
  }
  nlohmann::json claims = nlohmann::json::parse(claims_text, nullptr, false);
  if (!claims.is_object()) return TokenVerdict::bad_claims;
  auto text = [&](const char* name) -> std::string {
    auto it = claims.find(name);
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  bool audience = false;
  if (auto aud = claims.find("aud"); aud != claims.end()) {
    if (aud->is_string()) audience = *aud == kTokenAudience;
    if (aud->is_array()) {
      for (const auto& a : *aud) audience = audience || (a.is_string() && a == kTokenAudience);
    }
  }
  TokenClaims c;
  c.sub = text("sub");
  c.jti = text("jti");
  const std::string role = text("role");
  if (text("iss") != kTokenIssuer || !audience || !is_valid_account_name(c.sub) || c.jti.empty() ||
      c.jti.size() > 64 || (role != "admin" && role != "service") ||
      !integer_claim(claims, "iat", c.iat) || !integer_claim(claims, "exp", c.exp)) {
    return TokenVerdict::bad_claims;
  }
  c.role = role == "admin" ? Role::admin : Role::service;
  // now_s is a clock's, far from the int64 edges; exp may be anywhere.
  if (now_s - kTokenLeewayS >= c.exp) return TokenVerdict::expired;
  std::int64_t nbf = c.iat;
  if (claims.contains("nbf") && !integer_claim(claims, "nbf", nbf)) return TokenVerdict::bad_claims;
  if (c.iat > now_s + kTokenLeewayS || nbf > now_s + kTokenLeewayS) return TokenVerdict::not_yet;
  out = std::move(c);
  return TokenVerdict::ok;
}

}  // namespace rs1
