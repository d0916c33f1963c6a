#include "http/routes.hpp"

#include "http/compression.hpp"

namespace rs1 {

// Every answer a route writes is compressed here, once (compression.hpp):
// httplib has fixed its Content-Length before any later hook would run.
Routes& Routes::add(const char* method, const std::string& pattern, Handler handler) {
  Handler compressed = [handler = std::move(handler)](const httplib::Request& req,
                                                      httplib::Response& res) {
    handler(req, res);
    compress_answer(req, res);
  };
  routes_.push_back(Route{method, pattern, std::regex(pattern), std::move(compressed), {}});
  return *this;
}

Routes& Routes::post_streamed(const std::string& pattern, ReaderHandler reader) {
  ReaderHandler compressed = [reader = std::move(reader)](const httplib::Request& req,
                                                          httplib::Response& res,
                                                          const httplib::ContentReader& body) {
    reader(req, res, body);
    compress_answer(req, res);
  };
  routes_.push_back(Route{"POST", pattern, std::regex(pattern), {}, std::move(compressed)});
  return *this;
}

Routes& Routes::before(Before stage) {
  before_.push_back(std::move(stage));
  return *this;
}

Routes& Routes::get(const std::string& pattern, Handler h) {
  return add("GET", pattern, std::move(h));
}
Routes& Routes::post(const std::string& pattern, Handler h) {
  return add("POST", pattern, std::move(h));
}
Routes& Routes::put(const std::string& pattern, Handler h) {
  return add("PUT", pattern, std::move(h));
}
Routes& Routes::patch(const std::string& pattern, Handler h) {
  return add("PATCH", pattern, std::move(h));
}
Routes& Routes::del(const std::string& pattern, Handler h) {
  return add("DELETE", pattern, std::move(h));
}

std::string Routes::allowed_methods(const std::string& path) const {
  std::vector<std::string> methods;
  for (const auto& r : routes_) {
    if (!std::regex_match(path, r.regex)) continue;
    auto add_once = [&](const std::string& m) {
      for (const auto& seen : methods) {
        if (seen == m) return;
      }
      methods.push_back(m);
    };
    add_once(r.method);
    if (r.method == "GET") add_once("HEAD");
  }
  std::string out;
  for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
  return out;
}

void Routes::mount(httplib::Server& server) const {
  if (!before_.empty()) {
    server.set_pre_routing_handler(
        [stages = before_](const httplib::Request& req, httplib::Response& res) {
          for (const auto& stage : stages) {
            if (stage(req, res)) return httplib::Server::HandlerResponse::Handled;
          }
          return httplib::Server::HandlerResponse::Unhandled;
        });
  }
  for (const auto& r : routes_) {
    if (r.reader)
      server.Post(r.pattern, r.reader);
    else if (r.method == "GET")
      server.Get(r.pattern, r.handler);
    else if (r.method == "POST")
      server.Post(r.pattern, r.handler);
    else if (r.method == "PUT")
      server.Put(r.pattern, r.handler);
    else if (r.method == "PATCH")
      server.Patch(r.pattern, r.handler);
    else if (r.method == "DELETE")
      server.Delete(r.pattern, r.handler);
  }
}

}  // namespace rs1
