// The route registry of the HTTP listener: each module mounts its own
// routes where it lives, one line a route (`routes.get("/metrics", …)`),
// before the listener starts. The registry also answers which methods a
// path has, for 405 and its Allow header.
#pragma once

#include <httplib.h>

#include <functional>
#include <regex>
#include <string>
#include <vector>

namespace rs1 {

class Routes {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // `pattern` is cpp-httplib's: a regular expression matched against the
  // whole path, groups in req.matches. GET also answers HEAD.
  Routes& get(const std::string& pattern, Handler handler);
  Routes& post(const std::string& pattern, Handler handler);
  Routes& put(const std::string& pattern, Handler handler);
  Routes& patch(const std::string& pattern, Handler handler);
  Routes& del(const std::string& pattern, Handler handler);
  // A POST whose handler reads the body itself, as it arrives.
  using ReaderHandler = httplib::Server::HandlerWithContentReader;
  Routes& post_streamed(const std::string& pattern, ReaderHandler handler);
  // Runs before routing, before any body is read; answers the request
  // itself when it returns true (the Device API's stage).
  using Before = std::function<bool(const httplib::Request&, httplib::Response&)>;
  Routes& before(Before stage);

  // The methods some route has for `path` ("GET, POST"), empty for none.
  std::string allowed_methods(const std::string& path) const;

  // Registers every route with the server (HttpListener::start).
  void mount(httplib::Server& server) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::regex regex;
    Handler handler;
    ReaderHandler reader;
  };
  Routes& add(const char* method, const std::string& pattern, Handler handler);

  std::vector<Route> routes_;
  std::vector<Before> before_;
};

}  // namespace rs1
