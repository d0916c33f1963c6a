// How an API caller is recognised (SPEC §10): the JWT verifier
// (api/jwt), base64url, and the token's way in (api/api_requests: the
// Authorization header or the rs1_session cookie). Input: a byte that
// chooses, then the text. Claims can only be reached past the MAC, so one
// mode signs the fuzzed claims with the key before verifying them.
#include <string>

#include "api/api_requests.hpp"
#include "api/jwt.hpp"
#include "core/identity.hpp"
#include "fuzz_support.hpp"

namespace {

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  rs1::fuzz::Input in(data, size);
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  const std::uint8_t choice = in.byte();
  // The clock: a real one, for tokens made around it.
  const std::int64_t now = 1700000000 + (choice >> 2) * 1000;
  rs1::TokenClaims claims;
  switch (choice % 4) {
    case 0: {  // a token as sent
      const std::string_view token = in.rest();
      const rs1::TokenVerdict v = rs1::verify_token(kKey, token, now, claims);
      if (v == rs1::TokenVerdict::ok) {  // only with our key's MAC over its first two parts
        const std::size_t dot = token.rfind('.');
        std::string mac;
        rs1::base64url_decode(token.substr(dot + 1), mac);
        check(rs1::hmac_sha256_hex(kKey, token.substr(0, dot)) == hex(mac),
              "a token verifies only with our MAC", whole, rs1::token_verdict_text(v), "refused");
      }
      break;
    }
    case 1: {  // claims under our header and MAC
      const std::string token = rs1::sign_claims(kKey, in.rest());
      const rs1::TokenVerdict v = rs1::verify_token(kKey, token, now, claims);
      if (v == rs1::TokenVerdict::ok) {
        check(claims.exp > now - rs1::kTokenLeewayS && rs1::is_valid_account_name(claims.sub) &&
                  !claims.jti.empty(),
              "a verified token's claims", whole, claims.sub, "valid claims");
        // The same claims signed by sign_token verify the same way.
        rs1::TokenClaims again;
        check(rs1::verify_token(kKey, rs1::sign_token(kKey, claims), now, again) ==
                      rs1::TokenVerdict::ok &&
                  again.sub == claims.sub && again.jti == claims.jti && again.exp == claims.exp,
              "sign_token round trip", whole, again.sub, claims.sub);
      }
      break;
    }
    case 2: {  // base64url both ways
      const std::string_view text = in.rest();
      std::string bytes;
      if (rs1::base64url_decode(text, bytes)) {
        check(rs1::base64url_encode(bytes) == text, "base64url has one text per byte string", whole,
              rs1::base64url_encode(bytes), std::string(text));
      }
      std::string back;
      check(rs1::base64url_decode(rs1::base64url_encode(text), back) && back == text,
            "base64url round trip", whole, back, std::string(text));
      break;
    }
    default: {  // the headers a token comes in
      const std::string authorization(in.line());
      const std::string cookie(in.rest());
      std::string why;
      const auto presented = rs1::presented_token(authorization, cookie, "rs1_session", why);
      check(presented.has_value() == why.empty(), "a token, or why not", whole,
            presented ? presented->token : "none", why);
      if (presented && presented->cookie) {
        check(authorization.empty(), "the cookie only without Authorization", whole, "cookie",
              "Authorization");
      }
      if (auto v = rs1::cookie_value(cookie, "rs1_session")) {
        check(cookie.find("rs1_session=" + *v) != std::string::npos, "a cookie's value", whole, *v,
              "a value in the header");
      }
      rs1::verify_token(kKey, presented ? presented->token : "", now, claims);
      break;
    }
  }
  return 0;
}
