#include "api_harness.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>

namespace rs1::it {

using namespace std::chrono_literals;
using nlohmann::json;

CommandResult api_ctl(const std::string& db, std::vector<std::string> args) {
  args.insert(args.begin(), {RS1CTL_PATH, "--db", db});
  return run_command(
      args, std::map<std::string, std::optional<std::string>>{{"RS1_DB", std::nullopt}}, {}, 30s);
}

std::string api_key(const BrokerRunner& broker) {
  std::ifstream in(broker.dir() + "/api.key", std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  std::string hex = s.str();
  while (!hex.empty() && hex.back() == '\n') hex.pop_back();
  std::string key;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    key += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return key;
}

Api::Api(std::vector<std::pair<std::string, std::string>> more,
         std::optional<std::string> fault_control)
    : broker(config(more, std::move(fault_control))), fleet(broker.db_path()) {}

BrokerConfig Api::config(const std::vector<std::pair<std::string, std::string>>& more,
                         std::optional<std::string> fault_control) const {
  BrokerConfig c;
  c.fault_control = std::move(fault_control);
  c.plugin_options = {{"http_listen", "127.0.0.1:" + std::to_string(http_port)}};
  c.plugin_options.insert(c.plugin_options.end(), more.begin(), more.end());
  return c;
}

httplib::Client Api::client() const {
  httplib::Client c("127.0.0.1", http_port);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(5, 0);
  return c;
}

httplib::Result Api::sign_in(const std::string& user, const std::string& password) const {
  return client().Post("/api/v1/session", json{{"username", user}, {"password", password}}.dump(),
                       "application/json");
}

std::string Api::token(const Account& a) const {
  auto r = sign_in(a.username, a.password);
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body)["token"];
}

httplib::Result Api::call(const std::string& method, const std::string& path,
                          const httplib::Headers& headers, const std::string& body) const {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers;
  req.body = body;
  if (!body.empty() && !req.has_header("Content-Type"))
    req.set_header("Content-Type", "application/json");
  return client().send(req);
}

httplib::Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

void check_problem(const httplib::Result& r, int status) {
  REQUIRE(r);
  INFO(r->status << " " << r->body);
  CHECK(r->status == status);
  CHECK(r->get_header_value("Content-Type") == "application/problem+json");
  json p = json::parse(r->body, nullptr, false);
  CHECK(p["status"] == status);
  CHECK(p["detail"].is_string());
}

json api_access_log(const Api& api) {
  // The trail goes through the ingest writer: wait for it to commit.
  json entries;
  wait_until(
      [&] {
        auto r = api_ctl(api.broker.db_path(),
                         {"--json", "security", "log", "--type", "admin_api_access"});
        entries = json::parse(r.out, nullptr, false);
        return entries.is_array() && !entries.empty();
      },
      3s);
  return entries;
}

}  // namespace rs1::it
