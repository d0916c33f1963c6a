// The plugin's HTTP listener (plugin_opt_http_listen): a cpp-httplib server
// that owns its limits (threads, timeouts, request-head size, connections per
// client address) and writes every error as RFC 9457 problem+json, plus the
// route registry each module mounts its routes on (/metrics and /healthz in
// ops_routes.hpp; firmware and the Device API later). It runs on its own
// threads and never calls into the broker.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/log.hpp"
#include "core/options.hpp"

namespace rs1 {

class Routes;
class HttpServerImpl;

// The listener's plugin option (SPEC §3).
struct HttpOptions {
  std::optional<HostPort> listen;  // http_listen; unset: no listener
};
void declare_options(OptionRegistry& registry, HttpOptions& options);

struct HttpLimits {
  // Worker threads, started as connections need them. Each connection has
  // one for as long as it lasts, so this is how many can be served at once
  // (100 firmware downloads with room to spare); the others wait.
  std::size_t max_threads = 128;
  // From the connection (or the end of the previous answer) to the blank
  // line after the headers, however the client spaces its bytes: 408 after.
  std::chrono::milliseconds head_timeout{std::chrono::seconds(10)};
  // Each read of a body, each write of an answer, may wait this long.
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // An idle keep-alive connection is closed after this; it may carry this
  // many requests.
  std::chrono::milliseconds keep_alive_timeout{std::chrono::seconds(5)};
  std::size_t keep_alive_max_requests = 100;
  // Request line and headers together, header lines, one line: 431 beyond.
  std::size_t max_head_bytes = 32 * 1024;
  std::size_t max_header_lines = 100;
  std::size_t max_line_bytes = 8 * 1024;
  // Connections one client address may have open; more are closed at once.
  std::size_t max_connections_per_address = 16;
  // Request bodies (413 beyond). Streamed uploads (firmware) count too.
  std::size_t max_body_bytes = std::size_t(256) * 1024 * 1024;
};

class HttpListener {
 public:
  // Binds now (throws std::runtime_error naming the address on failure);
  // serves from start(). `log` (any thread) hears of handlers that throw.
  explicit HttpListener(const HostPort& where, LogSink log = {}, HttpLimits limits = {});
  // Stops accepting, cuts off connections still open, joins every thread.
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Mount routes here before start().
  Routes& routes();
  // Serves on background threads; routes() must not change after this.
  void start();

  int port() const { return port_; }

 private:
  std::unique_ptr<Routes> routes_;
  std::unique_ptr<HttpServerImpl> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace rs1
