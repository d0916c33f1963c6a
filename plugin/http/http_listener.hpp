// The plugin's HTTP listener (plugin_opt_http_listen): a cpp-httplib server
// that owns its limits (threads, timeouts, request-head size, connections per
// client address) and writes every error as RFC 9457 problem+json, plus the
// route registry each module mounts its routes on (/metrics and /healthz in
// ops_routes.hpp, /firmware in firmware_routes.hpp). It runs on its own
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

namespace httplib {
struct Response;
}
struct ssl_ctx_st;

namespace rs1 {

class Routes;
class HttpServerImpl;

// The listener hands a request's Range header to the routes under this
// name, never as "Range" (see http_listener.cpp): httplib would answer a
// malformed one 416 itself. A route that serves ranges reads this header.
inline constexpr char kRangeHeader[] = "X-Rng";
// Likewise Accept-Encoding, so httplib never compresses an answer itself
// (it picks brotli at its slowest setting, and compresses again what a
// route has compressed already): the listener gzips answers in one place
// (compression.hpp).
inline constexpr char kAcceptEncodingHeader[] = "X-Rs1-Encodings";

// From a route or stage, on the listener thread serving the request: the
// answer closes the connection (a body refused before it was read would
// otherwise be taken for the next request); what the client still sends is
// read and dropped for a moment first, so the answer is not lost to a reset.
void close_connection_after_answer(httplib::Response& res);

// The listener's plugin option (SPEC §3).
struct HttpOptions {
  std::optional<HostPort> listen;  // http_listen; unset: no listener
  std::string certfile, keyfile;   // http_certfile, http_keyfile: both or neither
  std::string console_dir;         // console_dir: the console's files (console_routes.hpp)
};
void declare_options(OptionRegistry& registry, HttpOptions& options);

// HTTPS: a PEM certificate (chain) and its key.
struct HttpTls {
  std::string certfile, keyfile;
};
// The listener's TLS from its options; throws OptionError for one without
// the other.
std::optional<HttpTls> tls_of(const HttpOptions& options);
// The MQTT listener's suites (broker-config/production.conf): TLS 1.2 with
// ECDHE and AEAD only, and TLS 1.3's.
inline constexpr char kTlsCiphers[] =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
inline constexpr char kTlsCiphersuites[] =
    "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

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
  // Room for a few browsers behind one NAT address (each keeps up to 6,
  // plus the console's event stream).
  std::size_t max_connections_per_address = 32;
  // Request bodies (413 beyond). Streamed uploads (firmware) count too.
  std::size_t max_body_bytes = std::size_t(256) * 1024 * 1024;
};

class HttpListener {
 public:
  // Binds now (throws std::runtime_error naming the address on failure);
  // serves from start(). `log` (any thread) hears of handlers that throw.
  // With `tls`, it speaks only HTTPS (TLS 1.2+); a certificate or key that
  // cannot be loaded throws, naming the file.
  explicit HttpListener(const HostPort& where, LogSink log = {}, HttpLimits limits = {},
                        std::optional<HttpTls> tls = std::nullopt);
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
  ssl_ctx_st* tls_ = nullptr;  // SSL_CTX; freed after the server
  std::unique_ptr<HttpServerImpl> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace rs1
