// SPEC §10 session tokens: HS256 against an independent implementation
// (Python's hmac and base64 modules), and every way a token must be refused;
// the api_cors_origins and api_key_file rules.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "api/api_options.hpp"
#include "api/jwt.hpp"
#include "unit_support.hpp"

using namespace rs1;

namespace {

std::string bytes_0_to_31() {
  std::string k;
  for (int i = 0; i < 32; ++i) k += static_cast<char>(i);
  return k;
}

const std::int64_t kTokenIat = 1700000000;
const char kTokenClaims[] =
    R"({"aud":"rs1-api","exp":1700003600,"iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})";

}  // namespace

TEST_CASE("api token: HS256 matches an independent implementation and verifies", "[api]") {
  const std::string token = sign_claims(bytes_0_to_31(), kTokenClaims);
  CHECK(
      token ==
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJhdWQiOiJyczEtYXBpIiwiZXhwIjoxNzAwMDAzNjAwLCJpYXQiOjE3MDAwMDAwMDAsImlzcyI6InJzMSIsImp0aSI6"
      "ImoxIiwicm9sZSI6ImFkbWluIiwic3ViIjoib3BzIn0.PZ3jKQlju_5H--tGbOWCcXWVdiNHOudGl8OnnJypUOE");
  TokenClaims c;
  REQUIRE(verify_token(bytes_0_to_31(), token, kTokenIat + 10, c) == TokenVerdict::ok);
  CHECK(c.sub == "ops");
  CHECK(c.role == Role::admin);
  CHECK(c.jti == "j1");
  CHECK(c.exp == kTokenIat + 3600);
  // sign_token makes what verify_token takes.
  TokenClaims made{"svc", Role::service, kTokenIat, kTokenIat + 60, "abc"};
  TokenClaims back;
  REQUIRE(verify_token("key", sign_token("key", made), kTokenIat, back) == TokenVerdict::ok);
  CHECK(back.sub == "svc");
  CHECK(back.role == Role::service);
}

TEST_CASE("api token: expiry and not-before with a 30 s leeway", "[api]") {
  const std::string token = sign_claims("k", kTokenClaims);
  TokenClaims c;
  auto [now, verdict] = GENERATE(table<std::int64_t, TokenVerdict>({
      {kTokenIat - 31, TokenVerdict::not_yet},
      {kTokenIat - 30, TokenVerdict::ok},
      {kTokenIat + 3600 + 29, TokenVerdict::ok},
      {kTokenIat + 3600 + 30, TokenVerdict::expired},
  }));
  CAPTURE(now);
  CHECK(verify_token("k", token, now, c) == verdict);
}

TEST_CASE("api token: an exp at the end of int64 is far off, not an overflow", "[api]") {
  // Found by fuzz.session: exp + leeway overflowed (UBSan: signed integer
  // overflow) for the largest exp a signed token can carry.
  const std::string token = sign_claims(
      "k",
      R"({"aud":"rs1-api","exp":9223372036854775807,"iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})");
  TokenClaims c;
  CHECK(verify_token("k", token, kTokenIat, c) == TokenVerdict::ok);
  CHECK(c.exp == INT64_MAX);
  const std::string past = sign_claims(
      "k",
      R"({"aud":"rs1-api","exp":-9223372036854775808,"iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})");
  CHECK(verify_token("k", past, kTokenIat, c) == TokenVerdict::expired);
}

TEST_CASE("api token: every malformed, foreign or tampered token is refused", "[api]") {
  const std::string key = "the key";
  const std::string good = sign_claims(key, kTokenClaims);
  const std::string head = good.substr(0, good.find('.'));
  const std::string claims = good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  const std::string sig = good.substr(good.rfind('.') + 1);
  auto claims_with = [&](const std::string& text) { return sign_claims(key, text); };
  auto [token, verdict] = GENERATE_COPY(table<std::string, TokenVerdict>({
      {"", TokenVerdict::malformed},
      {"abc", TokenVerdict::malformed},
      {head + "." + claims, TokenVerdict::malformed},
      {head + "." + claims + ".", TokenVerdict::malformed},
      {good + ".", TokenVerdict::malformed},
      {head + "=." + claims + "." + sig, TokenVerdict::malformed},  // padding
      {head + "." + claims + "." + sig + "+", TokenVerdict::malformed},
      {std::string(5000, 'a') + ".b.c", TokenVerdict::malformed},
      {base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + claims + "." + sig,
       TokenVerdict::bad_header},
      {base64url_encode(R"({"alg":"HS512","typ":"JWT"})") + "." + claims + "." + sig,
       TokenVerdict::bad_header},
      {base64url_encode(R"({"alg":"RS256","typ":"JWT"})") + "." + claims + "." + sig,
       TokenVerdict::bad_header},
      {base64url_encode(R"({"alg":"HS256"})") + "." + claims + "." + sig, TokenVerdict::bad_header},
      {base64url_encode(R"({"alg":"HS256","typ":"JWT","kid":"x"})") + "." + claims + "." + sig,
       TokenVerdict::bad_header},
      {base64url_encode(R"({"alg":"HS256","typ":"JWT","crit":["b64"]})") + "." + claims + "." + sig,
       TokenVerdict::bad_header},
      {head + "." + claims + "." + sig.substr(0, sig.size() - 2) + "AA",
       TokenVerdict::bad_signature},
      {head + "." + base64url_encode(R"({"sub":"admin"})") + "." + sig,
       TokenVerdict::bad_signature},
      {sign_claims("another key", kTokenClaims), TokenVerdict::bad_signature},
      {claims_with("[1]"), TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":"rs1-api","exp":1700003600,"iat":1700000000,"iss":"other","jti":"j1","role":"admin","sub":"ops"})"),
       TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":"web","exp":1700003600,"iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})"),
       TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":["web","rs1-api"],"exp":1700003600,"iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})"),
       TokenVerdict::ok},
      {claims_with(
           R"({"aud":"rs1-api","exp":"1700003600","iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})"),
       TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":"rs1-api","iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})"),
       TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":"rs1-api","exp":1700003600,"iat":1700000000,"iss":"rs1","jti":"j1","role":"device","sub":"ops"})"),
       TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":"rs1-api","exp":1700003600,"iat":1700000000,"iss":"rs1","jti":"j1","role":"admin","sub":"a/b"})"),
       TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":"rs1-api","exp":1700003600,"iat":1700000000,"iss":"rs1","role":"admin","sub":"ops"})"),
       TokenVerdict::bad_claims},
      {claims_with(
           R"({"aud":"rs1-api","exp":1700003600,"iat":1700000000,"nbf":1700000100,"iss":"rs1","jti":"j1","role":"admin","sub":"ops"})"),
       TokenVerdict::not_yet},
  }));
  CAPTURE(token);
  TokenClaims c;
  CHECK(verify_token(key, token, kTokenIat + 1, c) == verdict);
}

TEST_CASE("api token: base64url round trips and refuses what is not canonical", "[api]") {
  for (std::size_t n = 0; n < 70; ++n) {
    std::string bytes;
    for (std::size_t i = 0; i < n; ++i) bytes += static_cast<char>((i * 37 + n) & 0xff);
    std::string back;
    REQUIRE(base64url_decode(base64url_encode(bytes), back));
    CHECK(back == bytes);
  }
  std::string out;
  CHECK_FALSE(base64url_decode("A", out));   // a length no encoding has
  CHECK_FALSE(base64url_decode("QR", out));  // leftover bits set
  CHECK(base64url_decode("QQ", out));
  CHECK(out == "A");
  CHECK_FALSE(base64url_decode("QQ==", out));  // padding
  CHECK_FALSE(base64url_decode("a+b/", out));  // the other alphabet
}

TEST_CASE("api options: api_cors_origins are origins, never wildcards or paths", "[api]") {
  CHECK(parse_origins("https://app.optic.works") ==
        std::vector<std::string>{"https://app.optic.works"});
  CHECK(parse_origins(" https://a.example , http://localhost:5173,") ==
        std::vector<std::string>{"https://a.example", "http://localhost:5173"});
  for (const char* bad : {"*", "app.optic.works", "https://a.example/", "https://a.example/app",
                          "ftp://a.example", "https://", "https://a b"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_origins(bad), std::invalid_argument);
  }
}

TEST_CASE("api options: api_key_file is created 0600, and refused when open or malformed",
          "[api]") {
  rs1_test::TempDir dir;
  const std::string path = dir.file("api.key");
  const std::string key = load_api_key(path);
  CHECK(key.size() == 32);
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(load_api_key(path) == key);  // read again, not replaced

  auto write = [&](const std::string& text, mode_t mode) {
    std::remove(path.c_str());
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
  };
  write(std::string(64, 'a') + "\n", 0640);
  CHECK_THROWS_WITH(load_api_key(path), Catch::Contains("group or world may access it"));
  write(std::string(62, 'a') + "\n", 0600);
  CHECK_THROWS_WITH(load_api_key(path), Catch::Contains("at least 64 hex digits"));
  write(std::string(63, 'a') + "g\n", 0600);
  CHECK_THROWS_WITH(load_api_key(path), Catch::Contains("not hex"));
  write(std::string(64, 'A'), 0600);
  CHECK(load_api_key(path) == std::string(32, static_cast<char>(0xaa)));
}
