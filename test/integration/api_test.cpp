// The Device API's stage (SPEC §10): sessions, tokens, CSRF, roles, the
// rate limit, CORS, body limits and the admin_api_access trail, against a
// real broker over real HTTP.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "api/jwt.hpp"
#include "api_harness.hpp"
#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using namespace std::chrono_literals;
using nlohmann::json;

TEST_CASE("api: sign in and out, bad tokens of every kind, cookies with CSRF, and the audit trail",
          "[api]") {
  Api api({{"auth_fail_limit", "3"}, {"api_rate_limit_per_min", "0"}});
  Account ops = api.fleet.add_account("ops", Role::admin);
  Account svc = api.fleet.add_account("svc", Role::service);

  // Signing in: wrong, not JSON, malformed, incomplete, then right.
  check_problem(api.sign_in("ops", "wrong"), 401);
  check_problem(api.client().Post("/api/v1/session", "username=ops", "text/plain"), 415);
  check_problem(api.client().Post("/api/v1/session", "{\"username\":", "application/json"), 400);
  auto incomplete =
      api.client().Post("/api/v1/session", R"({"username":"ops"})", "application/json");
  check_problem(incomplete, 422);
  CHECK(json::parse(incomplete->body)["errors"][0]["pointer"] == "/password");

  auto good = api.sign_in(ops.username, ops.password);
  REQUIRE(good);
  REQUIRE(good->status == 200);
  json session = json::parse(good->body);
  CHECK(session["role"] == "admin");
  const std::int64_t now = std::time(nullptr);
  CHECK(session["expires_at"].get<std::int64_t>() >= now + 86400 - 5);
  const std::string cookie = good->get_header_value("Set-Cookie");
  CHECK_THAT(cookie, Catch::StartsWith("rs1_session=" + session["token"].get<std::string>() + ";"));
  CHECK_THAT(cookie, Catch::Contains("HttpOnly") && Catch::Contains("SameSite=Strict") &&
                         Catch::Contains("Path=/"));
  CHECK_THAT(cookie, !Catch::Contains("Secure"));
  const std::string token = session["token"];

  // No token, and tokens that must never pass.
  auto none = api.call("GET", "/api/v1/anything", {});
  check_problem(none, 401);
  CHECK(none->get_header_value("WWW-Authenticate") == "Bearer realm=\"rs1\"");
  const std::string key = api_key(api.broker);
  TokenClaims claims{"ops", Role::admin, now, now + 600, "not-a-session"};
  std::string tampered = token;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  const std::string body =
      token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1);
  const std::string alg_none = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + body + ".";
  const std::string alg_hs512 = base64url_encode(R"({"alg":"HS512","typ":"JWT"})") + "." + body +
                                "." + token.substr(token.rfind('.') + 1);
  TokenClaims expired = claims;
  expired.iat = now - 7200;
  expired.exp = now - 3600;
  const std::string jti = [&] {
    TokenClaims c;
    REQUIRE(verify_token(key, token, now, c) == TokenVerdict::ok);
    return c.jti;
  }();
  auto claims_with = [&](const std::string& name, json value) {
    json c = {{"iss", "rs1"}, {"aud", "rs1-api"}, {"sub", "ops"}, {"role", "admin"},
              {"iat", now},   {"exp", now + 600}, {"jti", jti}};
    if (value.is_null())
      c.erase(name);
    else
      c[name] = value;
    return sign_claims(key, c.dump());
  };
  for (const std::string& bad :
       {tampered, alg_none, alg_hs512, sign_token(key, expired),
        sign_token(key, claims),  // a valid signature, but no such session
        sign_token(std::string(32, 'k'), TokenClaims{"ops", Role::admin, now, now + 600, jti}),
        claims_with("aud", "someone-else"), claims_with("iss", "elsewhere"),
        claims_with("exp", nullptr), claims_with("exp", "tomorrow"), claims_with("nbf", now + 3600),
        claims_with("sub", "svc"), claims_with("role", "device"), std::string("not.a.jwt"),
        std::string("a.b"), token + ".x"}) {
    CAPTURE(bad);
    check_problem(api.call("DELETE", "/api/v1/session", bearer(bad)), 401);
  }
  // The real token still works: it reaches routing (404 for no resource).
  check_problem(api.call("GET", "/api/v1/nothing-here", bearer(token)), 404);

  // The cookie: a change needs X-RS1-CSRF: 1; with it the session ends.
  const httplib::Headers by_cookie = {{"Cookie", "theme=dark; rs1_session=" + token}};
  // "Am I signed in?" answers the session by cookie or bearer, 204 without.
  for (const auto& headers : {by_cookie, bearer(token)}) {
    auto who = api.call("GET", "/api/v1/session", headers);
    REQUIRE(who);
    CHECK(who->status == 200);
    json w = json::parse(who->body);
    CHECK(w["username"] == "ops");
    CHECK(w["role"] == "admin");
    CHECK(w["expires_at"].is_number_integer());
  }
  for (const httplib::Headers& none :
       {httplib::Headers{}, bearer("not.a.jwt"), httplib::Headers{{"Cookie", "rs1_session=x"}}}) {
    auto who = api.call("GET", "/api/v1/session", none);
    REQUIRE(who);
    CHECK(who->status == 204);
    CHECK(who->body.empty());
  }
  check_problem(api.call("DELETE", "/api/v1/session", by_cookie), 403);
  httplib::Headers with_csrf = by_cookie;
  with_csrf.emplace("X-RS1-CSRF", "1");
  auto out = api.call("DELETE", "/api/v1/session", with_csrf);
  REQUIRE(out);
  CHECK(out->status == 204);
  CHECK_THAT(out->get_header_value("Set-Cookie"), Catch::Contains("Max-Age=0"));
  // Signed out: the token is refused from now on, by bearer and by cookie.
  check_problem(api.call("GET", "/api/v1/nothing-here", bearer(token)), 401);
  check_problem(api.call("GET", "/api/v1/nothing-here", by_cookie), 401);
  auto gone = api.call("GET", "/api/v1/session", by_cookie);
  REQUIRE(gone);
  CHECK(gone->status == 204);

  // Deleting an account ends all of its sessions.
  const std::string svc_token = api.token(svc);
  check_problem(api.call("GET", "/api/v1/nothing-here", bearer(svc_token)), 404);
  REQUIRE(api_ctl(api.broker.db_path(), {"account", "delete", "svc"}).exit_code == 0);
  check_problem(api.call("GET", "/api/v1/nothing-here", bearer(svc_token)), 401);

  // Failed logins count like MQTT ones: the third raises auth_failure_repeated.
  for (int i = 0; i < 2; ++i) check_problem(api.sign_in("ops", "wrong again"), 401);
  REQUIRE(wait_until(
      [&] {
        auto r = api_ctl(api.broker.db_path(),
                         {"--json", "security", "log", "--type", "auth_failure_repeated"});
        json e = json::parse(r.out, nullptr, false);
        return e.is_array() && e.size() == 1;
      },
      3s));

  // Every changing request is in the trail with its status; never a secret.
  json trail = api_access_log(api);
  REQUIRE(wait_until(
      [&] {
        trail = api_access_log(api);
        std::size_t from_api = 0;
        for (const auto& e : trail) from_api += e["details"].contains("method");
        return from_api >= 24;
      },
      3s));
  std::map<std::pair<std::string, int>, int> seen;
  for (const auto& e : trail) {
    INFO(e.dump());
    const json d = e["details"];
    if (!d.contains("method")) continue;  // rs1ctl's own entries
    seen[{d["method"].get<std::string>() + " " + d["path"].get<std::string>(), d["status"]}]++;
    const std::string text = e.dump();
    CHECK_THAT(text, !Catch::Contains(ops.password) && !Catch::Contains(token) &&
                         !Catch::Contains("wrong again"));
  }
  CHECK(seen[{"POST /api/v1/session", 200}] == 2);
  CHECK(seen[{"POST /api/v1/session", 401}] == 3);
  CHECK(seen[{"DELETE /api/v1/session", 204}] == 1);
  CHECK(seen[{"DELETE /api/v1/session", 403}] == 1);
  CHECK(seen[{"DELETE /api/v1/session", 401}] >= 16);
}

TEST_CASE("api: the rate limit and its headers, CORS for allowed origins only, body limits",
          "[api]") {
  Api api({{"api_rate_limit_per_min", "12"},
           {"api_cors_origins", "https://app.example, http://localhost:5173"}});
  Account ops = api.fleet.add_account("ops", Role::admin);

  // CORS: an allowed origin is echoed with credentials; any other gets nothing.
  auto allowed = api.call("GET", "/api/v1/x", {{"Origin", "https://app.example"}});
  REQUIRE(allowed);
  CHECK(allowed->status == 401);
  CHECK(allowed->get_header_value("Access-Control-Allow-Origin") == "https://app.example");
  CHECK(allowed->get_header_value("Access-Control-Allow-Credentials") == "true");
  CHECK(allowed->get_header_value("Vary") == "Origin");
  CHECK_THAT(allowed->get_header_value("Access-Control-Expose-Headers"),
             Catch::Contains("ETag") && Catch::Contains("RateLimit-Policy") &&
                 Catch::Contains("Retry-After"));
  auto other = api.call("GET", "/api/v1/x", {{"Origin", "https://evil.example"}});
  REQUIRE(other);
  CHECK_FALSE(other->has_header("Access-Control-Allow-Origin"));
  CHECK_FALSE(other->has_header("Access-Control-Allow-Credentials"));
  // Preflight: answered before authentication, for allowed origins only.
  auto preflight =
      api.call("OPTIONS", "/api/v1/devices/d1/zones",
               {{"Origin", "http://localhost:5173"}, {"Access-Control-Request-Method", "PUT"}});
  REQUIRE(preflight);
  CHECK(preflight->status == 204);
  CHECK(preflight->get_header_value("Access-Control-Allow-Origin") == "http://localhost:5173");
  CHECK_THAT(preflight->get_header_value("Access-Control-Allow-Methods"), Catch::Contains("PUT"));
  CHECK_THAT(preflight->get_header_value("Access-Control-Allow-Headers"),
             Catch::Contains("If-Match") && Catch::Contains("X-RS1-CSRF"));
  auto refused = api.call("OPTIONS", "/api/v1/devices", {{"Origin", "https://evil.example"}});
  check_problem(refused, 403);
  CHECK_FALSE(refused->has_header("Access-Control-Allow-Origin"));

  // Bodies: more than 64 KiB of JSON, or one without a length, are refused
  // before they are read.
  std::string big(70 * 1024, ' ');
  check_problem(api.client().Post("/api/v1/session", big, "application/json"), 413);
  auto chunked = api.client().Post(
      "/api/v1/session",
      [](size_t, httplib::DataSink& sink) {
        sink.write("{}", 2);
        sink.done();
        return true;
      },
      "application/json");
  check_problem(chunked, 411);

  // Six requests so far; the limit is 12 a minute. Each answer says where
  // the window stands, and the 13th is refused with Retry-After.
  int last_remaining = 100;
  for (int i = 7; i <= 12; ++i) {
    auto r = api.call("GET", "/api/v1/x", {});
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(r->get_header_value("RateLimit-Policy") == "\"ip\";q=12;w=60");
    const std::string rl = r->get_header_value("RateLimit");
    CAPTURE(rl);
    REQUIRE_THAT(rl, Catch::StartsWith("\"ip\";r="));
    const int remaining = std::stoi(rl.substr(rl.find("r=") + 2));
    CHECK(remaining == 12 - i);
    CHECK(remaining < last_remaining);
    last_remaining = remaining;
  }
  for (int i = 0; i < 3; ++i) {
    auto r = api.sign_in(ops.username, ops.password);  // even a good sign-in
    check_problem(r, 429);
    const int retry = std::stoi(r->get_header_value("Retry-After"));
    CHECK(retry >= 1);
    CHECK(retry <= 60);
  }
  // Logged once per window, however many are refused.
  REQUIRE(wait_until(
      [&] {
        auto r = api_ctl(api.broker.db_path(),
                         {"--json", "security", "log", "--type", "rate_limit_exceeded"});
        json e = json::parse(r.out, nullptr, false);
        return e.is_array() && e.size() == 1;
      },
      3s));
  // Other endpoints of the listener are not the API's to limit.
  auto metrics = api.client().Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
}

TEST_CASE("api: HTTPS with http_certfile and http_keyfile, Secure cookies, and the checks at start",
          "[api][tls]") {
  BrokerRunner later(BrokerConfig{}, BrokerRunner::Start::later);
  const std::string dir = later.dir();
  const std::string cert = dir + "/http.crt", key = dir + "/http.key";
  auto made = run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                           "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                           key, "-out", cert},
                          {}, {}, 30s);
  INFO(made.err);
  REQUIRE(made.exit_code == 0);

  Api api({{"http_certfile", cert}, {"http_keyfile", key}});
  Account ops = api.fleet.add_account("ops", Role::admin);
  httplib::SSLClient tls("127.0.0.1", api.http_port);
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(true);
  tls.set_connection_timeout(2, 0);
  tls.set_read_timeout(5, 0);
  auto health = tls.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto signed_in = tls.Post("/api/v1/session",
                            json{{"username", ops.username}, {"password", ops.password}}.dump(),
                            "application/json");
  REQUIRE(signed_in);
  CHECK(signed_in->status == 200);
  CHECK_THAT(signed_in->get_header_value("Set-Cookie"), Catch::Contains("; Secure"));
  // Only HTTPS: a plain request gets no HTTP answer.
  auto plain = api.client().Get("/healthz");
  CHECK_FALSE(plain);

  // One without the other, or a key that is not the certificate's: one line at start.
  BrokerRunner half(opts({{"http_listen", "127.0.0.1:" + std::to_string(free_port())},
                          {"http_certfile", cert}}),
                    BrokerRunner::Start::later);
  expect_startup_failure(half, {"http_keyfile", "HTTPS needs both"});
  BrokerRunner wrong(opts({{"http_listen", "127.0.0.1:" + std::to_string(free_port())},
                           {"http_certfile", cert},
                           {"http_keyfile", cert}}),
                     BrokerRunner::Start::later);
  expect_startup_failure(wrong, {"http_keyfile " + cert});
}
