#include "core/http_listener.hpp"

#include <httplib.h>

#include <mutex>
#include <sstream>
#include <stdexcept>

namespace rs1 {
namespace {

void metric(std::ostringstream& out, const char* name, const char* type, const char* help,
            std::uint64_t value) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
      << name << ' ' << value << '\n';
}

}  // namespace

std::string render_metrics(const Metrics& m) {
  auto v = [](const Metrics::Counter& c) { return c.load(std::memory_order_relaxed); };
  std::ostringstream out;
  metric(out, "rs1_devices_online", "gauge", "Devices connected now.", v(m.devices_online));
  metric(out, "rs1_connections_total", "counter", "Successful logins.", v(m.connections_total));
  metric(out, "rs1_auth_failures_total", "counter", "Refused logins.", v(m.auth_failures_total));
  metric(out, "rs1_acl_denials_total", "counter", "Denied publishes, subscriptions and deliveries.",
         v(m.acl_denials_total));
  metric(out, "rs1_messages_received_total", "counter", "Messages devices published.",
         v(m.messages_received_total));
  out << "# HELP rs1_messages_dropped_total Device messages dropped, by reason.\n"
         "# TYPE rs1_messages_dropped_total counter\n";
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    auto reason = static_cast<DropReason>(i);
    out << "rs1_messages_dropped_total{reason=\"" << drop_reason_name(reason) << "\"} "
        << m.dropped(reason) << '\n';
  }
  metric(out, "rs1_telemetry_rows_written_total", "counter", "Telemetry rows committed.",
         v(m.telemetry_rows_written_total));
  metric(out, "rs1_ingest_queue_depth", "gauge", "Rows and updates waiting for the writer.",
         v(m.ingest_queue_depth));
  metric(out, "rs1_ota_triggers_total", "counter", "OTA triggers sent.", v(m.ota_triggers_total));
  metric(out, "rs1_write_failures_total", "counter", "Failed database commits (each retried).",
         v(m.write_failures_total));
  metric(out, "rs1_rows_lost_total", "counter", "Accepted telemetry rows that could not be kept.",
         v(m.rows_lost_total));
  return out.str();
}

HttpListener::HttpListener(const HostPort& where, const Metrics& metrics, HealthCheck health)
    : server_(std::make_unique<httplib::Server>()) {
  auto health_mu = std::make_shared<std::mutex>();
  server_->Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_metrics(metrics), "text/plain; version=0.0.4");
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
