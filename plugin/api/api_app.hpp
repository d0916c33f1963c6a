// The Device API (SPEC §10) as one application on the HTTP listener. Every
// /api/v1 request passes one stage before any handler runs (the listener's
// pre-routing hook, before a body is read): the per-address rate limit and
// its headers, CORS and preflight, the body limits, authentication (bearer
// token or cookie, the session looked up), the CSRF header for cookies, and
// the role. Handlers are thin: they get the caller, a store connection of
// their own thread and the parsed body, call the same store and feature
// functions rs1ctl calls, and throw ApiError for a problem+json answer.
// Every request that changes something is written to the security log as
// admin_api_access, whatever its status. The listener's threads never call
// Mosquitto: a change reaches the broker through the store and its change
// feed, a security event through the ingest writer.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "api/api_error.hpp"
#include "api/api_options.hpp"
#include "core/limits.hpp"
#include "core/topic_rules.hpp"
#include "features/security_log/security_log.hpp"
#include "http/pool.hpp"
#include "store/database.hpp"

namespace rs1 {

class Routes;

// Sets a problem+json answer with an `errors` array.
void write_problem_with_errors(httplib::Response& res, int status, const std::string& detail,
                               const std::vector<ApiError::Field>& errors);

// Who may call a route: `service` reads (and requests diagnostics), `admin`
// does everything.
enum class Need { service, admin };

struct Caller {
  std::string username;
  Role role = Role::service;
  std::string jti;
  std::int64_t expires_at = 0;
};

// What the API needs of the broker; every member is safe from any thread.
struct ApiContext {
  ApiOptions options;
  std::string key;     // the HS256 key (bytes)
  bool https = false;  // the listener speaks TLS (the cookie gets Secure)
  Pool<Database>* db = nullptr;
  // A security event for the ingest writer; false when it was refused.
  std::function<bool(SecurityEvent&&)> security_event;
  std::function<std::int64_t()> now_ms;  // the clock
  int auth_fail_limit = 5;
  int auth_ban_s = 0;
  std::string data_dir;  // firmware/ and the rest (SPEC §3 data_dir)
};

class ApiApp;

// One request as a handler sees it.
struct ApiCall {
  const httplib::Request& req;
  const Caller& caller;
  Database& db;
  std::int64_t now_s;
  const ApiContext& context;
  // The body as a JSON value: 415 unless it is JSON, 400 when malformed.
  nlohmann::json json_body() const;
  // A query parameter, or nothing when absent.
  std::optional<std::string> param(const std::string& name) const;
};

class ApiApp {
 public:
  using Handler = std::function<void(ApiCall&, httplib::Response&)>;
  using ReaderHandler =
      std::function<void(ApiCall&, httplib::Response&, const httplib::ContentReader&)>;

  explicit ApiApp(ApiContext context);
  ApiApp(const ApiApp&) = delete;
  ApiApp& operator=(const ApiApp&) = delete;

  // A route behind the stage. `pattern` is a regular expression for the
  // whole path, as for Routes; GET also answers HEAD.
  ApiApp& get(const std::string& pattern, Need need, Handler handler);
  ApiApp& post(const std::string& pattern, Need need, Handler handler);
  ApiApp& put(const std::string& pattern, Need need, Handler handler);
  ApiApp& del(const std::string& pattern, Need need, Handler handler);
  // A POST whose body the handler streams (firmware upload): only the
  // listener's overall body limit applies, not the 64 KiB of JSON bodies.
  ApiApp& post_streamed(const std::string& pattern, Need need, ReaderHandler handler);

  // Installs the stage and every route on `routes` (with the session
  // routes), before the listener starts.
  void mount(Routes& routes);

  // JSON request bodies stay within this (413 beyond).
  static constexpr std::size_t kMaxJsonBody = 64 * 1024;
  // /api/v1/session, for the sign-in.
  static constexpr char kSessionPath[] = "/api/v1/session";
  static constexpr char kCookie[] = "rs1_session";

 private:
  struct Route {
    std::string method;
    std::regex regex;
    Need need;
    bool streamed;
  };
  ApiApp& add(const char* method, const std::string& pattern, Need need, bool streamed);
  ApiApp& route(
      const char* method,
      Routes& (Routes::*mount_on)(const std::string&,
                                  std::function<void(const httplib::Request&, httplib::Response&)>),
      const std::string& pattern, Need need, Handler handler);
  // The stage; true when it answered the request itself.
  bool before(const httplib::Request& req, httplib::Response& res);
  bool rate_limited(const httplib::Request& req, httplib::Response& res, std::int64_t now_ms);
  void cors(const httplib::Request& req, httplib::Response& res) const;
  std::optional<Caller> authenticate(const httplib::Request& req, std::string& why, bool& cookie);
  // Runs a handler with the caller the stage found, turning errors into
  // problem+json, and audits changing requests.
  void run(const httplib::Request& req, httplib::Response& res,
           const std::function<void(ApiCall&)>& body);
  void audit(const httplib::Request& req, const std::string& username, int status);
  void log_in(const httplib::Request& req, httplib::Response& res);
  void log_out(ApiCall& call, httplib::Response& res);

  ApiContext ctx_;
  std::vector<Route> routes_;
  std::vector<std::function<void(Routes&)>> mounts_;
  std::mutex mu_;  // guards the two below
  RateLimiter limiter_;
  AuthFailureTracker failures_;
  std::int64_t next_expiry_ms_ = 0;
};

}  // namespace rs1
