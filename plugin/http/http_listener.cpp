#include "http/http_listener.hpp"

#include <httplib.h>

#include <mutex>
#include <sstream>
#include <stdexcept>

namespace rs1 {
HttpListener::HttpListener(const HostPort& where, const MetricRegistry& metrics, HealthCheck health)
    : server_(std::make_unique<httplib::Server>()) {
  auto health_mu = std::make_shared<std::mutex>();
  server_->Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  server_->Get("/healthz", [health, health_mu](const httplib::Request&, httplib::Response& res) {
    std::string detail;
    bool ok;
    {
      std::lock_guard<std::mutex> lock(*health_mu);
      ok = health(detail);
    }
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ok\n" : detail + "\n", "text/plain");
  });
  if (where.port == 0) {
    port_ = server_->bind_to_any_port(where.host);
  } else if (server_->bind_to_port(where.host, where.port)) {
    port_ = where.port;
  }
  if (port_ <= 0) {
    throw std::runtime_error("cannot listen for HTTP on " + where.host + ":" +
                             std::to_string(where.port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

HttpListener::~HttpListener() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace rs1
