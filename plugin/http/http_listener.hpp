// The plugin's HTTP listener (plugin_opt_http_listen): GET /metrics in
// Prometheus text and GET /healthz. It runs on its own threads and reads only
// atomics and its own database connection; it never calls into the broker.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/log.hpp"
#include "runtime/metrics.hpp"
#include "core/options.hpp"

namespace httplib {
class Server;
}

namespace rs1 {

class HttpListener {
 public:
  // Returns true when healthy; `detail` says why not. Called from the
  // listener's threads, one at a time.
  using HealthCheck = std::function<bool(std::string& detail)>;

  // Binds now (throws std::runtime_error naming the address on failure) and
  // serves on a background thread.
  HttpListener(const HostPort& where, const MetricRegistry& metrics, HealthCheck health);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace rs1
