#include "http/http_listener.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "http/problem.hpp"
#include "http/routes.hpp"

// Why the listener does its own socket handling. Debian's cpp-httplib 0.11.4
// is a compiled library, so its CPPHTTPLIB_* limits cannot be changed by
// defining them here, and what it offers does not stop a slow or greedy
// client: its read timeout restarts with every recv (one header line every
// 2 s holds a thread for ever), it keeps every header line in memory with no
// cap on their number (60 MB of headers: 84 MB more RSS), and its default
// pool is 8 threads on a small machine with no limit per client.
//
// It does let a subclass override process_and_close_socket() (the whole life
// of one accepted connection) and call the protected process_request() with
// any httplib::Stream. So the listener keeps httplib's parser, routing and
// response writing and puts its own Stream under them (ConnectionStream): it
// counts the bytes and lines of each request head as httplib reads them,
// fails the read past a cap (the error handler then answers 431) or past one
// deadline for the whole head (408), and admits at most N connections per
// client address. Threads come from a pool that grows to a bound on demand.
//
// httplib also answers 416 by itself, before any route runs, to a Range
// header it cannot parse ("bytes=abc", "bytes=5-2", another unit, a number
// past 64 bits), where RFC 9110 §14.2 says to ignore a malformed one. So
// ConnectionStream renames every Range header while the head is read
// (kRangeHeader, same length, in place): httplib never sees one, and the
// route that serves ranges parses it itself.

namespace rs1 {

void declare_options(OptionRegistry& r, HttpOptions& o) {
  r.host_port("http_listen", o.listen);
  r.text("http_certfile", o.certfile);
  r.text("http_keyfile", o.keyfile);
  o.console_dir = RS1_CONSOLE_DIR;
  r.text("console_dir", o.console_dir);
}

std::optional<HttpTls> tls_of(const HttpOptions& o) {
  if (o.certfile.empty() != o.keyfile.empty()) {
    throw OptionError(std::string("plugin_opt_") +
                      (o.certfile.empty() ? "http_certfile" : "http_keyfile") +
                      " is missing: HTTPS needs both http_certfile and http_keyfile");
  }
  if (o.certfile.empty()) return std::nullopt;
  return HttpTls{o.certfile, o.keyfile};
}
namespace {

using Clock = std::chrono::steady_clock;

int to_poll_ms(std::chrono::milliseconds d) {
  if (d.count() <= 0) return 0;
  return d.count() > 60 * 60 * 1000 ? 60 * 60 * 1000 : static_cast<int>(d.count());
}

// Waits for `events` on fd, restarting after a signal; false on timeout.
bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(
        &p, 1,
        to_poll_ms(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now())));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

void address_of(const sockaddr_storage& sa, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = "";
  if (sa.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    port = ntohs(in.sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    port = ntohs(in6.sin6_port);
  }
  ip = text;
}

void peer_of(int fd, std::string& ip, int& port) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ip.clear();
  port = 0;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) address_of(sa, ip, port);
}

// A thread pool that starts a thread only when a connection finds none idle,
// up to `max`; the others wait in the queue. Threads last until shutdown.
class ThreadsOnDemand final : public httplib::TaskQueue {
 public:
  explicit ThreadsOnDemand(std::size_t max) : max_(max == 0 ? 1 : max) {}

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(fn));
    if (jobs_.size() > idle_ && threads_.size() < max_) {
      try {
        threads_.emplace_back([this] { work(); });
        return;
      } catch (const std::system_error&) {
        // No thread to be had now: the job waits for a running one.
      }
    }
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
      --idle_;
      if (jobs_.empty()) return;  // shut down with nothing left
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  const std::size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;  // under mu_; joined by shutdown() only
  std::size_t idle_ = 0;
  bool shutdown_ = false;
};

// The header names renamed in place at the start of a header line
// (lowercase, with the colon), and what they become (same length).
struct HeaderRename {
  std::string_view name;
  const char* replacement;
};
constexpr HeaderRename kRenames[] = {{"range:", kRangeHeader},
                                     {"accept-encoding:", kAcceptEncodingHeader}};
static_assert(sizeof kRangeHeader == 6, "kRangeHeader replaces \"Range\" in place");
static_assert(sizeof kAcceptEncodingHeader == 16, "it replaces \"Accept-Encoding\" in place");
// How much of a header line is buffered before any of it is handed on.
constexpr std::size_t kLongestRename = 16;

// One accepted connection as httplib reads and writes it. While a request
// head is being read, every byte handed to httplib is counted: past the
// caps, or past the head's deadline however the bytes are spaced, read()
// fails and failure() says why. A body read waits read_timeout per read.
class ConnectionStream final : public httplib::Stream {
 public:
  enum class Failure { none, head_too_large, head_timed_out };

  // `ssl`: the connection's TLS session after its handshake, or null.
  ConnectionStream(int fd, std::string ip, int port, const HttpLimits& limits, SSL* ssl = nullptr)
      : fd_(fd), ip_(std::move(ip)), port_(port), limits_(limits), ssl_(ssl) {}

  void begin_request(Clock::time_point head_deadline) {
    in_head_ = true;
    head_bytes_ = line_bytes_ = lines_ = 0;
    last_ = 0;
    deadline_ = head_deadline;
  }
  Failure failure() const { return failure_; }
  // Bytes read but not handed on yet, ours or TLS's.
  bool has_buffered() const { return pos_ < end_ || (ssl_ && SSL_pending(ssl_) > 0); }
  // A body was refused unread: close once the answer is out.
  void close_after_answer() { close_after_ = true; }
  bool closing_after_answer() const { return close_after_; }

  bool is_readable() const override { return has_buffered() || wait_for(fd_, POLLIN, read_wait()); }
  bool is_writable() const override { return wait_for(fd_, POLLOUT, limits_.write_timeout); }

  // One read from the socket, through TLS when there is a session (whose
  // own reads are bounded by the socket's SO_RCVTIMEO).
  ssize_t receive(char* into, std::size_t size) {
    if (ssl_) {
      const int n = SSL_read(ssl_, into, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
      if (n > 0) return n;
      return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    ssize_t n;
    do {
      n = ::recv(fd_, into, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  bool wait_readable(std::chrono::milliseconds wait) const {
    return (ssl_ && SSL_pending(ssl_) > 0) || wait_for(fd_, POLLIN, wait);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (failure_ != Failure::none) return -1;
    if (pos_ >= end_) {
      if (!wait_readable(read_wait())) {
        if (in_head_) failure_ = Failure::head_timed_out;
        return -1;
      }
      const ssize_t n = receive(buf_, sizeof buf_);
      if (n <= 0) return n;
      pos_ = 0;
      end_ = static_cast<std::size_t>(n);
    }
    if (in_head_ && line_bytes_ == 0 && lines_ > 0 && !fill_line_start()) return -1;
    std::size_t n = std::min(size, end_ - pos_);
    if (in_head_ && !count_head(n)) return -1;
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    if (ssl_) {  // all of it or nothing, bounded by the socket's SO_SNDTIMEO
      const int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
      return n > 0 ? n : -1;
    }
    ssize_t n;
    do {
      n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = ip_;
    port = port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    ip.clear();
    port = 0;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) == 0) address_of(sa, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  std::chrono::milliseconds read_wait() const {
    if (!in_head_) return limits_.read_timeout;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    return left.count() > 0 ? left : std::chrono::milliseconds(0);
  }

  // A header line starts at pos_: its first bytes are read before any of
  // it is handed on, so count_head sees its name whole.
  bool fill_line_start() {
    while (end_ - pos_ < kLongestRename && std::memchr(buf_ + pos_, '\n', end_ - pos_) == nullptr) {
      std::memmove(buf_, buf_ + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
      if (!wait_readable(read_wait())) {
        failure_ = Failure::head_timed_out;
        return false;
      }
      const ssize_t n = receive(buf_ + end_, sizeof buf_ - end_);
      if (n <= 0) return true;  // httplib reads what there is, then the end
      end_ += static_cast<std::size_t>(n);
    }
    return true;
  }

  // The header line starting at buf_[at]: a Range or Accept-Encoding
  // header is renamed (see kRangeHeader, kAcceptEncodingHeader). False when
  // its name is not all buffered yet.
  bool rename_header(std::size_t at) {
    const std::size_t avail = end_ - at;
    if (avail < kLongestRename && std::memchr(buf_ + at, '\n', avail) == nullptr) return false;
    for (const HeaderRename& r : kRenames) {
      if (avail < r.name.size()) continue;
      bool same = true;
      for (std::size_t i = 0; same && i < r.name.size(); ++i) {
        const char c = buf_[at + i];
        same = (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) == r.name[i];
      }
      if (same) {
        std::memcpy(buf_ + at, r.replacement, r.name.size() - 1);
        return true;
      }
    }
    return true;
  }

  // Counts the next `n` buffered bytes as head bytes; shortens `n` to end
  // at the blank line that ends the head, or before a header line whose
  // name is not all buffered yet. False past a cap.
  bool count_head(std::size_t& n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (line_bytes_ == 0 && lines_ > 0 && !rename_header(pos_ + i)) {
        n = i;  // i > 0: read() filled the line start at pos_
        return true;
      }
      const char c = buf_[pos_ + i];
      ++head_bytes_;
      ++line_bytes_;
      if (head_bytes_ > limits_.max_head_bytes || line_bytes_ > limits_.max_line_bytes) {
        failure_ = Failure::head_too_large;
        return false;
      }
      if (c == '\n') {
        if (line_bytes_ == 2 && last_ == '\r' && lines_ > 0) {
          in_head_ = false;
          n = i + 1;
          return true;
        }
        // The request line, then at most max_header_lines header lines.
        if (++lines_ > limits_.max_header_lines + 1) {
          failure_ = Failure::head_too_large;
          return false;
        }
        line_bytes_ = 0;
      }
      last_ = c;
    }
    return true;
  }

  const int fd_;
  const std::string ip_;
  const int port_;
  const HttpLimits& limits_;
  char buf_[4096];
  std::size_t pos_ = 0, end_ = 0;
  bool in_head_ = true;
  std::size_t head_bytes_ = 0, line_bytes_ = 0, lines_ = 0;
  char last_ = 0;
  Clock::time_point deadline_{};
  Failure failure_ = Failure::none;
  bool close_after_ = false;
  SSL* const ssl_;
};

// The connection the calling worker thread is serving, for the error
// handler (httplib hands it the request and response only).
thread_local ConnectionStream* t_connection = nullptr;

}  // namespace

void close_connection_after_answer(httplib::Response& res) {
  res.set_header("Connection", "close");
  if (t_connection) t_connection->close_after_answer();
}


class HttpServerImpl final : public httplib::Server {
 public:
  HttpServerImpl(const HttpLimits& limits, const Routes& routes, LogSink log, SSL_CTX* tls)
      : limits_(limits), routes_(routes), log_(std::move(log)), tls_(tls) {
    const std::size_t threads = limits_.max_threads;
    new_task_queue = [threads] { return new ThreadsOnDemand(threads); };
    auto seconds = [](std::chrono::milliseconds d) {
      return std::pair<time_t, time_t>(d.count() / 1000, (d.count() % 1000) * 1000);
    };
    set_read_timeout(seconds(limits_.read_timeout).first, seconds(limits_.read_timeout).second);
    set_write_timeout(seconds(limits_.write_timeout).first, seconds(limits_.write_timeout).second);
    set_payload_max_length(limits_.max_body_bytes);
    set_error_handler(
        HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
          return on_error(req, res);
        }));
    set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                 std::exception_ptr ep) { on_exception(req, res, ep); });
  }

  // Once bound: httplib listens with a backlog of 5, too few for a burst of
  // downloads (listen() again on a listening socket only changes it).
  void widen_backlog() {
    socket_t s = svr_sock_.load();
    if (s != INVALID_SOCKET) ::listen(s, 128);
  }

  // httplib's stop() does nothing until listen_after_bind() has begun: a
  // listener destroyed that early left its thread in accept() for ever.
  // shutdown() on the listening socket makes accept() fail now or whenever
  // the thread gets there; the listen loop then closes the socket and ends.
  void stop_listening() {
    socket_t s = svr_sock_.load();
    if (s != INVALID_SOCKET) ::shutdown(s, SHUT_RDWR);
  }
  // For a listener never started: nobody else will close the socket.
  void close_unused_socket() {
    socket_t s = svr_sock_.exchange(INVALID_SOCKET);
    if (s != INVALID_SOCKET) ::close(s);
  }

  // Wakes every connection still served (reads end, writes fail) so the
  // workers finish; connections admitted later are closed at once.
  void cut_off_connections() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    // An answer goes out as headers, then body: without this, Nagle holds
    // the body back until the client's delayed ACK of the headers (40 ms).
    const int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string ip;
    int port = 0;
    peer_of(sock, ip, port);
    bool ret = false;
    if (admit(sock, ip)) {
      SSL* ssl = tls_ ? handshake(sock) : nullptr;
      if (!tls_ || ssl) {
        ConnectionStream conn(sock, ip, port, limits_, ssl);
        t_connection = &conn;
        ret = serve(conn);
        t_connection = nullptr;
      }
      if (ssl) {
        SSL_shutdown(ssl);  // close_notify; the peer's answer is not awaited
        SSL_free(ssl);
      }
      release(sock, ip);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ret;
  }

  // The TLS handshake within the head timeout, then each TLS read and
  // write bounded like the plain ones. Null when it fails (the client
  // spoke plain HTTP, an old protocol, or nothing).
  SSL* handshake(int sock) {
    auto set_timeout = [sock](int option, std::chrono::milliseconds d) {
      timeval tv{static_cast<time_t>(d.count() / 1000),
                 static_cast<suseconds_t>((d.count() % 1000) * 1000)};
      ::setsockopt(sock, SOL_SOCKET, option, &tv, sizeof tv);
    };
    set_timeout(SO_RCVTIMEO, limits_.head_timeout);
    set_timeout(SO_SNDTIMEO, limits_.write_timeout);
    SSL* ssl = SSL_new(tls_);
    if (!ssl) return nullptr;
    if (SSL_set_fd(ssl, sock) != 1 || SSL_accept(ssl) != 1) {
      ERR_clear_error();
      SSL_free(ssl);
      return nullptr;
    }
    set_timeout(SO_RCVTIMEO, limits_.read_timeout);
    return ssl;
  }

  // httplib's keep-alive loop, with a fresh head deadline per request.
  bool serve(ConnectionStream& conn) {
    bool ret = false;
    for (std::size_t left = limits_.keep_alive_max_requests; left > 0; --left) {
      if (left != limits_.keep_alive_max_requests && !conn.has_buffered() &&
          !wait_for(conn.socket(), POLLIN, limits_.keep_alive_timeout)) {
        break;
      }
      conn.begin_request(Clock::now() + limits_.head_timeout);
      bool closed = false;
      ret = process_request(conn, left == 1, closed, nullptr);
      if (conn.failure() != ConnectionStream::Failure::none || conn.closing_after_answer()) {
        linger(conn.socket(), conn.failure() == ConnectionStream::Failure::none);
        return false;
      }
      if (!ret || closed || svr_sock_ == INVALID_SOCKET) break;
    }
    return ret;
  }

  // After a refused head or body the client may still be sending: closing
  // with unread bytes resets the connection, and the reset can destroy the
  // answer before the client reads it. Stop writing, read and drop, then
  // close. A refused head (431, 408, 400) gets a moment (1 s, 1 MiB): the
  // client is hostile or broken and is not owed more. A body refused by a
  // handler (a 403 or 413 to an upload) is a client that writes its whole
  // body first and reads after: drain until it is done or silent for a
  // second, bounded (10 s, 64 MiB) so that a worker is not held for a client
  // that never stops.
  static void linger(int fd, bool whole_body) {
    ::shutdown(fd, SHUT_WR);
    const auto end = Clock::now() + std::chrono::seconds(whole_body ? 10 : 1);
    const std::size_t most = std::size_t(whole_body ? 64 : 1) * 1024 * 1024;
    char sink[16384];
    for (std::size_t dropped = 0; dropped < most;) {
      auto left = std::min<std::chrono::milliseconds>(
          std::chrono::seconds(1),
          std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
      if (left.count() <= 0 || !wait_for(fd, POLLIN, left)) break;
      ssize_t n = ::recv(fd, sink, sizeof sink, 0);
      if (n <= 0) break;
      dropped += static_cast<std::size_t>(n);
    }
  }

  bool admit(int fd, const std::string& ip) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    std::size_t& n = per_address_[ip];
    if (n >= limits_.max_connections_per_address) return false;
    ++n;
    open_.insert(fd);
    return true;
  }
  void release(int fd, const std::string& ip) {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(fd);
    auto it = per_address_.find(ip);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }

  // Every answer of status >= 400, whoever set it: a problem+json body.
  HandlerResponse on_error(const httplib::Request& req, httplib::Response& res) {
    std::string detail;
    if (t_connection) {
      switch (t_connection->failure()) {
        case ConnectionStream::Failure::head_too_large:
          res.status = 431;
          res.body.clear();
          detail = "the request line and headers must stay within " +
                   std::to_string(limits_.max_head_bytes) + " bytes, " +
                   std::to_string(limits_.max_header_lines) + " header lines of at most " +
                   std::to_string(limits_.max_line_bytes) + " bytes";
          break;
        case ConnectionStream::Failure::head_timed_out:
          res.status = 408;
          res.body.clear();
          detail = "the request headers took longer than " +
                   std::to_string(limits_.head_timeout.count()) + " ms";
          break;
        case ConnectionStream::Failure::none:
          break;
      }
    }
    if (res.status == 404 && res.body.empty()) {
      std::string allow = routes_.allowed_methods(req.path);
      if (!allow.empty()) {
        res.status = 405;
        res.set_header("Allow", allow);
        detail = req.method + " is not allowed on " + req.path + "; allowed: " + allow;
      } else {
        detail = "no resource at " + req.path;
      }
    } else if (res.status == 413 && res.body.empty()) {
      detail =
          "the request body must stay within " + std::to_string(limits_.max_body_bytes) + " bytes";
    }
    if (res.body.empty()) {
      write_problem(res, res.status, detail.empty() ? status_title(res.status) : detail);
    }
    return HandlerResponse::Handled;
  }

  void on_exception(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    try {
      if (log_)
        log_(LogLevel::error, "rs1: HTTP " + req.method + " " + req.path + " failed: " + what);
    } catch (...) {
    }
    res.headers.clear();
    write_problem(res, 500, "the request could not be completed");
  }

  const HttpLimits limits_;
  const Routes& routes_;
  LogSink log_;
  SSL_CTX* const tls_;  // owned by the listener; null: plain HTTP
  std::mutex mu_;
  std::map<std::string, std::size_t> per_address_;
  std::set<int> open_;
  bool stopping_ = false;
};

namespace {

// TLS 1.2 and 1.3 with the MQTT listener's suites (broker-config/*.conf).
SSL_CTX* make_tls_context(const HttpTls& tls) {
  auto fail = [](const std::string& what) {
    unsigned long e = ERR_get_error();
    char text[256] = "";
    if (e) ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    throw std::runtime_error(what + (e ? std::string(": ") + text : std::string()));
  };
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) fail("cannot set up TLS");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> owned(ctx, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx, kTlsCiphers) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kTlsCiphersuites) != 1) {
    fail("cannot set the TLS cipher suites");
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.certfile.c_str()) != 1) {
    fail("http_certfile " + tls.certfile + ": cannot load the certificate");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.keyfile.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail("http_keyfile " + tls.keyfile + ": cannot load the key");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    fail("http_keyfile " + tls.keyfile + " does not match http_certfile " + tls.certfile);
  }
  return owned.release();
}

}  // namespace

HttpListener::HttpListener(const HostPort& where, LogSink log, HttpLimits limits,
                           std::optional<HttpTls> tls)
    : routes_(std::make_unique<Routes>()),
      tls_(tls ? make_tls_context(*tls) : nullptr),
      server_(std::make_unique<HttpServerImpl>(limits, *routes_, std::move(log), tls_)) {
  if (where.port == 0) {
    port_ = server_->bind_to_any_port(where.host);
  } else if (server_->bind_to_port(where.host, where.port)) {
    port_ = where.port;
  }
  if (port_ <= 0) {
    throw std::runtime_error("cannot listen for HTTP on " + where.host + ":" +
                             std::to_string(where.port));
  }
  server_->widen_backlog();
}

HttpListener::~HttpListener() {
  if (!thread_.joinable()) {
    server_->close_unused_socket();
  } else {
    server_->stop_listening();
    server_->cut_off_connections();
    thread_.join();
  }
  server_.reset();
  if (tls_) SSL_CTX_free(tls_);
}

Routes& HttpListener::routes() { return *routes_; }

void HttpListener::start() {
  if (thread_.joinable()) return;
  routes_->mount(*server_);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

}  // namespace rs1
