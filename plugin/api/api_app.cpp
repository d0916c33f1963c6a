#include "api/api_app.hpp"

#include <algorithm>

#include "api/api_requests.hpp"
#include "api/jwt.hpp"
#include "core/identity.hpp"
#include "core/store_error.hpp"
#include "http/http_listener.hpp"
#include "http/problem.hpp"
#include "http/routes.hpp"

namespace rs1 {
namespace {

constexpr char kApiPrefix[] = "/api/v1";

// The stage runs on the same listener thread as the handler that follows
// it, with the same Request: what it found waits here for that handler.
struct StageResult {
  const httplib::Request* req = nullptr;
  Caller caller;
};
thread_local StageResult t_stage;

bool is_api_path(const std::string& path) {
  const std::size_t n = sizeof kApiPrefix - 1;
  return path.compare(0, n, kApiPrefix) == 0 && (path.size() == n || path[n] == '/');
}

bool changes_something(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void write_problem_with_errors(httplib::Response& res, int status, const std::string& detail,
                               const std::vector<ApiError::Field>& errors) {
  if (errors.empty()) return write_problem(res, status, detail);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : errors) list.push_back({{"pointer", e.pointer}, {"detail", e.detail}});
  nlohmann::json body = {{"type", "about:blank"},
                         {"title", status_title(status)},
                         {"status", status},
                         {"detail", detail},
                         {"errors", list}};
  res.status = status;
  res.set_content(dump(body), kProblemJson);
}

nlohmann::json ApiCall::json_body() const {
  return parse_json_body(req.get_header_value("Content-Type"), req.body);
}

std::optional<std::string> ApiCall::param(const std::string& name) const {
  if (!req.has_param(name.c_str())) return std::nullopt;
  return req.get_param_value(name.c_str());
}

ApiApp::ApiApp(ApiContext context)
    : ctx_(std::move(context)),
      limiter_(ctx_.options.rate_limit_per_min),
      failures_(ctx_.auth_fail_limit, ctx_.auth_ban_s) {
  if (!ctx_.now_ms) {
    ctx_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  add("POST", kSessionPath, Need::service, false);  // the one route without a caller
  mounts_.push_back([this](Routes& r) {
    r.post(kSessionPath,
           [this](const httplib::Request& req, httplib::Response& res) { log_in(req, res); });
  });
  get(kSessionPath, Need::service, [](ApiCall& call, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(dump({{"username", call.caller.username},
                          {"role", role_name(call.caller.role)},
                          {"expires_at", call.caller.expires_at}}),
                    "application/json");
  });
  del(kSessionPath, Need::service,
      [this](ApiCall& call, httplib::Response& res) { log_out(call, res); });
}

ApiApp& ApiApp::add(const char* method, const std::string& pattern, Need need, bool streamed) {
  routes_.push_back(Route{method, std::regex(pattern), need, streamed});
  return *this;
}

// One route: the stage's table, and the handler on the listener's Routes.
ApiApp& ApiApp::route(const char* method,
                      Routes& (Routes::*mount_on)(const std::string&, Routes::Handler),
                      const std::string& pattern, Need need, Handler h) {
  add(method, pattern, need, false);
  mounts_.push_back([this, mount_on, pattern, h](Routes& r) {
    (r.*mount_on)(pattern, [this, h](const httplib::Request& req, httplib::Response& res) {
      run(req, res, [&](ApiCall& call) { h(call, res); });
    });
  });
  return *this;
}

ApiApp& ApiApp::get(const std::string& pattern, Need need, Handler h) {
  return route("GET", &Routes::get, pattern, need, std::move(h));
}
ApiApp& ApiApp::post(const std::string& pattern, Need need, Handler h) {
  return route("POST", &Routes::post, pattern, need, std::move(h));
}
ApiApp& ApiApp::put(const std::string& pattern, Need need, Handler h) {
  return route("PUT", &Routes::put, pattern, need, std::move(h));
}
ApiApp& ApiApp::del(const std::string& pattern, Need need, Handler h) {
  return route("DELETE", &Routes::del, pattern, need, std::move(h));
}

ApiApp& ApiApp::post_streamed(const std::string& pattern, Need need, ReaderHandler h) {
  add("POST", pattern, need, true);
  mounts_.push_back([this, pattern, h](Routes& r) {
    r.post_streamed(pattern, [this, h](const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
      run(req, res, [&](ApiCall& call) { h(call, res, reader); });
    });
  });
  return *this;
}

void ApiApp::mount(Routes& routes) {
  routes.before([this](const httplib::Request& req, httplib::Response& res) {
    if (!before(req, res)) return false;
    // Answered here: a body may follow that nobody will read.
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding"))
      close_connection_after_answer(res);
    return true;
  });
  for (const auto& m : mounts_) m(routes);
}

void ApiApp::cors(const httplib::Request& req, httplib::Response& res) const {
  if (!req.has_header("Origin")) return;
  const std::string origin = req.get_header_value("Origin");
  const auto& allowed = ctx_.options.cors_origins;
  res.set_header("Vary", "Origin");
  if (std::find(allowed.begin(), allowed.end(), origin) == allowed.end()) return;
  res.set_header("Access-Control-Allow-Origin", origin);
  res.set_header("Access-Control-Allow-Credentials", "true");
  res.set_header("Access-Control-Expose-Headers",
                 "ETag, Location, RateLimit, RateLimit-Policy, Retry-After");
}

bool ApiApp::rate_limited(const httplib::Request& req, httplib::Response& res,
                          std::int64_t now_ms) {
  const int limit = ctx_.options.rate_limit_per_min;
  if (limit <= 0) return false;
  RateLimiter::Usage usage;
  RateLimiter::Verdict verdict;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now_ms >= next_expiry_ms_) {
      limiter_.expire(now_ms);
      failures_.expire(now_ms / 1000);
      next_expiry_ms_ = now_ms + 60000;
    }
    verdict = limiter_.check(req.remote_addr, now_ms, &usage);
  }
  const std::int64_t reset_s = std::max<std::int64_t>(0, (usage.reset_ms - now_ms + 999) / 1000);
  res.set_header("RateLimit-Policy", "\"ip\";q=" + std::to_string(limit) + ";w=60");
  res.set_header("RateLimit",
                 "\"ip\";r=" + std::to_string(usage.remaining) + ";t=" + std::to_string(reset_s));
  if (verdict == RateLimiter::Verdict::allow) return false;
  if (verdict == RateLimiter::Verdict::drop_first && ctx_.security_event) {
    SecurityEvent e;
    e.event_type = "rate_limit_exceeded";
    e.severity = "warning";
    e.ip = req.remote_addr;
    e.details = dump({{"limit_per_min", limit}, {"path", req.path}});
    e.time = now_ms / 1000;
    ctx_.security_event(std::move(e));
  }
  res.set_header("Retry-After", std::to_string(reset_s));
  write_problem(res, 429,
                "more than " + std::to_string(limit) +
                    " API requests a minute from this address; retry after " +
                    std::to_string(reset_s) + " s");
  return true;
}

std::optional<Caller> ApiApp::authenticate(const httplib::Request& req, std::string& why,
                                           bool& cookie) {
  cookie = false;
  std::optional<PresentedToken> presented = presented_token(
      req.get_header_value("Authorization"), req.get_header_value("Cookie"), kCookie, why);
  if (!presented) return std::nullopt;
  const std::string& token = presented->token;
  cookie = presented->cookie;
  const std::int64_t now_s = ctx_.now_ms() / 1000;
  TokenClaims claims;
  const TokenVerdict verdict = verify_token(ctx_.key, token, now_s, claims);
  if (verdict != TokenVerdict::ok) {
    why = token_verdict_text(verdict);
    return std::nullopt;
  }
  std::optional<ApiSession> session =
      ctx_.db->acquire()->accounts().find_session(claims.jti, now_s);
  if (!session || session->username != claims.sub) {
    why = "the session has ended (signed out, or the account was deleted)";
    return std::nullopt;
  }
  return Caller{session->username, session->role, claims.jti, session->expires_at};
}

bool ApiApp::before(const httplib::Request& req, httplib::Response& res) {
  t_stage = StageResult{};
  if (!is_api_path(req.path)) return false;
  const std::int64_t now_ms = ctx_.now_ms();
  cors(req, res);
  if (rate_limited(req, res, now_ms)) return true;

  if (req.method == "OPTIONS") {  // a CORS preflight, before authentication
    if (!res.has_header("Access-Control-Allow-Origin")) {
      write_problem(res, 403, "this origin may not call the API from a browser");
      return true;
    }
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE");
    res.set_header("Access-Control-Allow-Headers",
                   "Authorization, Content-Type, If-Match, If-None-Match, X-RS1-CSRF");
    res.set_header("Access-Control-Max-Age", "600");
    return true;
  }

  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  const Route* route = nullptr;
  for (const auto& r : routes_) {
    if (r.method == method && std::regex_match(req.path, r.regex)) {
      route = &r;
      break;
    }
  }
  auto refuse = [&](int status, const std::string& detail, const std::string& username) {
    write_problem(res, status, detail);
    if (changes_something(req.method)) audit(req, username, status);
    return true;
  };

  // JSON bodies are small: refused before a byte of them is read (on a
  // path with no route too, where nobody would read them).
  if ((!route || !route->streamed) && changes_something(req.method)) {
    if (req.has_header("Transfer-Encoding")) {
      return refuse(411, "send the JSON body with a Content-Length", "");
    }
    const std::string length = req.get_header_value("Content-Length");
    const bool digits =
        !length.empty() && length.size() <= 12 &&
        std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!length.empty() && (!digits || std::stoull(length) > kMaxJsonBody)) {
      return refuse(
          413, "the JSON body must stay within " + std::to_string(kMaxJsonBody) + " bytes", "");
    }
  }
  if (route && method == "POST" && req.path == kSessionPath) return false;  // signing in

  std::string why;
  bool cookie = false;
  std::optional<Caller> caller = authenticate(req, why, cookie);
  if (!caller && route && method == "GET" && req.path == kSessionPath) {
    // "Am I signed in?": no is an answer, not an error (a console opening
    // in a new tab asks before it shows the sign-in form).
    res.status = 204;
    res.set_header("Cache-Control", "no-store");
    return true;
  }
  if (!caller) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"rs1\"");
    return refuse(401, why, "");
  }
  if (cookie && changes_something(req.method) && req.get_header_value("X-RS1-CSRF") != "1") {
    return refuse(403,
                  "a request signed in by cookie that changes something must carry X-RS1-CSRF: 1",
                  caller->username);
  }
  if (route && route->need == Need::admin && caller->role != Role::admin) {
    return refuse(403,
                  std::string("the ") + role_name(caller->role) + " role may not " + req.method +
                      " " + req.path,
                  caller->username);
  }
  t_stage = StageResult{&req, std::move(*caller)};
  return false;  // on to the route (or to 404 / 405 when there is none)
}

void ApiApp::run(const httplib::Request& req, httplib::Response& res,
                 const std::function<void(ApiCall&)>& body) {
  if (t_stage.req != &req) {  // cannot happen: every API path passes the stage
    write_problem(res, 500, "the request bypassed authentication");
    return;
  }
  const Caller caller = std::move(t_stage.caller);
  t_stage = StageResult{};
  try {
    auto db = ctx_.db->acquire();
    ApiCall call{req, caller, *db, ctx_.now_ms() / 1000, ctx_};
    body(call);
  } catch (const ApiError& e) {
    res.body.clear();
    write_problem_with_errors(res, e.status, e.what(), e.errors);
  } catch (const StoreError& e) {
    res.body.clear();
    switch (e.kind()) {
      case StoreError::Kind::conflict:
        write_problem(res, 409, e.what());
        break;
      case StoreError::Kind::transient:
        res.set_header("Retry-After", "1");
        write_problem(res, 503, std::string("the database is busy: ") + e.what());
        break;
      default:
        throw;  // the listener logs it and answers 500
    }
  }
  if (changes_something(req.method)) audit(req, caller.username, res.status);
}

void ApiApp::audit(const httplib::Request& req, const std::string& username, int status) {
  if (!ctx_.security_event) return;
  SecurityEvent e;
  e.event_type = "admin_api_access";
  e.severity = "info";
  e.ip = req.remote_addr;
  e.details = dump(
      {{"username", username}, {"method", req.method}, {"path", req.path}, {"status", status}});
  e.time = ctx_.now_ms() / 1000;
  ctx_.security_event(std::move(e));
}

void ApiApp::log_in(const httplib::Request& req, httplib::Response& res) {
  const Caller nobody;
  std::string username;
  try {
    const std::int64_t now_s = ctx_.now_ms() / 1000;
    bool banned;
    {
      std::lock_guard<std::mutex> lock(mu_);
      banned = failures_.is_banned(req.remote_addr, now_s);
    }
    if (banned) {
      res.set_header("Retry-After", std::to_string(ctx_.auth_ban_s));
      throw ApiError(429, "too many failed logins from this address; try again later");
    }
    auto db = ctx_.db->acquire();
    ApiCall call{req, nobody, *db, now_s, ctx_};
    const nlohmann::json body = call.json_body();
    const LoginRequest login = parse_login_body(body);
    const std::string& name = login.username;
    const std::string& password = login.password;
    if (is_valid_account_name(name)) username = name;
    std::optional<AccountCredentials> account;
    if (!username.empty()) account = db->accounts().find_credentials(username);
    if (!account ||
        !verify_account_password(account->password_salt, account->password_hash, password)) {
      bool repeated;
      {
        std::lock_guard<std::mutex> lock(mu_);
        repeated = failures_.record_failure(req.remote_addr, now_s);
      }
      if (repeated && ctx_.security_event) {
        ctx_.security_event(repeated_login_failures(req.remote_addr, username, ctx_.auth_fail_limit,
                                                    ctx_.auth_ban_s, now_s));
      }
      throw ApiError(401, "wrong username or password");
    }
    ApiSession session;
    session.jti = random_hex(16);
    session.username = account->username;
    session.role = account->role;
    session.issued_at = now_s;
    session.expires_at = now_s + ctx_.options.session_ttl_s;
    db->accounts().add_session(session);
    TokenClaims claims{session.username, session.role, session.issued_at, session.expires_at,
                       session.jti};
    const std::string token = sign_token(ctx_.key, claims);
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + token +
                                     "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
                                     std::to_string(ctx_.options.session_ttl_s) +
                                     (ctx_.https ? "; Secure" : ""));
    res.set_header("Cache-Control", "no-store");
    res.status = 200;
    res.set_content(dump({{"token", token},
                          {"role", role_name(session.role)},
                          {"expires_at", session.expires_at}}),
                    "application/json");
  } catch (const ApiError& e) {
    res.body.clear();
    write_problem_with_errors(res, e.status, e.what(), e.errors);
  } catch (const StoreError& e) {
    res.body.clear();
    if (e.kind() == StoreError::Kind::transient) {
      res.set_header("Retry-After", "1");
      write_problem(res, 503, std::string("the database is busy: ") + e.what());
    } else if (e.kind() == StoreError::Kind::conflict) {
      write_problem(res, 401, "wrong username or password");  // deleted as it signed in
    } else {
      throw;
    }
  }
  audit(req, username, res.status);
}

void ApiApp::log_out(ApiCall& call, httplib::Response& res) {
  call.db.accounts().remove_session(call.caller.jti);
  res.set_header("Set-Cookie", std::string(kCookie) +
                                   "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0" +
                                   (ctx_.https ? "; Secure" : ""));
  res.status = 204;
}

}  // namespace rs1
