#include "client_loop.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace rs1::sim {

namespace {

// Packets read per readable event. libmosquitto 2.0 reads as many as it has
// QoS > 0 messages in flight (at least one) whatever this says; it only has
// to be positive. Its read loop, too, can report a disconnect twice (a
// broker's DISCONNECT, then the closed socket): on_disconnect_cb keeps one.
constexpr int kPacketsPerEvent = 64;
// How often keepalives and timeouts are checked on every connection.
constexpr auto kMiscPeriod = std::chrono::seconds(1);

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Set on this thread while mosquitto_new runs: see socketpair() below.
thread_local bool refuse_socket_pair = false;

}  // namespace

void init_mosquitto_library() {
  static const bool done = [] {
    mosquitto_lib_init();
    return true;
  }();
  (void)done;
}

}  // namespace rs1::sim

// mosquitto_new opens a socket pair per client to wake mosquitto_loop's
// select() when another thread queues a packet, and every packet queued
// writes one byte into it. Driven by loop_read/loop_write from one thread,
// nobody reads it: each byte stays queued in the kernel as a buffer of its
// own (768 bytes of kernel memory per packet sent or acknowledged), up to
// the socket's send buffer, about 210 KB per client (2 GB for 10,000 devices
// after some 280 packets each), besides two descriptors per client. Refused
// while mosquitto_new runs, libmosquitto goes on without the pair (it warns
// to its log callback, which we do not set): publishing outside a callback
// writes at once anyway, and what a callback queues goes out when epoll says
// the socket is writable. This definition takes the place of libc's for the
// whole process (libmosquitto calls it through the PLT); everyone else gets
// the real one.
extern "C" int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  if (rs1::sim::refuse_socket_pair) {
    errno = EMFILE;
    return -1;
  }
  return static_cast<int>(::syscall(SYS_socketpair, domain, type, protocol, fds));
}

namespace rs1::sim {

// ------------------------------------------------------------------ Client

Client::Client(ClientLoop& loop, ClientOptions options, ClientHandler& handler)
    : loop_(loop), options_(std::move(options)), handler_(handler) {
  init_mosquitto_library();
  refuse_socket_pair = true;
  mosq_ = mosquitto_new(options_.client_id.c_str(), true, this);
  refuse_socket_pair = false;
  if (mosq_ == nullptr) throw std::runtime_error("mosquitto_new failed for " + options_.client_id);
  if (options_.mqtt5) mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  if (options_.username) {
    mosquitto_username_pw_set(mosq_, options_.username->c_str(),
                              options_.password ? options_.password->c_str() : nullptr);
  }
  mosquitto_connect_v5_callback_set(mosq_, on_connect_cb);
  mosquitto_disconnect_v5_callback_set(mosq_, on_disconnect_cb);
  mosquitto_publish_v5_callback_set(mosq_, on_publish_cb);
  mosquitto_subscribe_v5_callback_set(mosq_, on_subscribe_cb);
  mosquitto_message_v5_callback_set(mosq_, on_message_cb);
}

Client::~Client() {
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
}

bool Client::open() const { return mosquitto_socket(mosq_) >= 0; }

bool Client::backlogged() const { return open() && mosquitto_want_write(mosq_); }

// Outside a libmosquitto callback these write at once; what the socket does
// not take is left queued, and sync() asks epoll to say when it can.
int Client::publish(const std::string& topic, const std::string& payload, int qos, bool retain,
                    int* mid) {
  int rc = mosquitto_publish_v5(mosq_, mid, topic.c_str(), static_cast<int>(payload.size()),
                                payload.data(), qos, retain, nullptr);
  loop_.sync(*this);
  return rc;
}

int Client::subscribe(const std::string& filter, int qos, int* mid) {
  int rc = mosquitto_subscribe_v5(mosq_, mid, filter.c_str(), qos, 0, nullptr);
  loop_.sync(*this);
  return rc;
}

void Client::disconnect() {
  if (open()) mosquitto_disconnect_v5(mosq_, 0, nullptr);
  loop_.sync(*this);
}

void Client::abort() {
  // The socket stays libmosquitto's to close: shut down, it reads as ended,
  // and the next read reports the disconnect like any lost connection.
  int fd = mosquitto_socket(mosq_);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

void Client::set_password(const std::string& password) {
  options_.password = password;
  mosquitto_username_pw_set(mosq_, options_.username ? options_.username->c_str() : nullptr,
                            password.c_str());
}

void Client::on_connect_cb(mosquitto*, void* self, int rc, int, const mosquitto_property*) {
  auto& c = *static_cast<Client*>(self);
  c.connected_ = rc == 0;
  if (!c.doomed_) c.handler_.on_connect(c, rc);
}

void Client::on_disconnect_cb(mosquitto*, void* self, int rc, const mosquitto_property*) {
  auto& c = *static_cast<Client*>(self);
  c.connected_ = false;
  // Once per connection: libmosquitto 2.0 reports some ends twice (see
  // ClientLoop::service).
  if (!c.session_open_) return;
  c.session_open_ = false;
  if (!c.doomed_) c.handler_.on_disconnect(c, rc);
}

void Client::on_publish_cb(mosquitto*, void* self, int mid, int reason, const mosquitto_property*) {
  auto& c = *static_cast<Client*>(self);
  if (!c.doomed_) c.handler_.on_publish(c, mid, reason);
}

void Client::on_subscribe_cb(mosquitto*, void* self, int mid, int, const int*,
                             const mosquitto_property*) {
  auto& c = *static_cast<Client*>(self);
  if (!c.doomed_) c.handler_.on_subscribe(c, mid);
}

void Client::on_message_cb(mosquitto*, void* self, const mosquitto_message* message,
                           const mosquitto_property*) {
  auto& c = *static_cast<Client*>(self);
  if (!c.doomed_) c.handler_.on_message(c, *message);
}

// -------------------------------------------------------------- ClientLoop

ClientLoop::ClientLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw_errno("epoll_create1");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw_errno("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // key 0 marks the wake-up descriptor
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) throw_errno("epoll_ctl");
  next_misc_ = Clock::now() + kMiscPeriod;
}

ClientLoop::~ClientLoop() {
  clients_.clear();  // mosquitto_destroy closes the sockets
  close(wake_fd_);
  close(epoll_fd_);
}

Client& ClientLoop::add(ClientOptions options, ClientHandler& handler) {
  clients_.push_back(std::unique_ptr<Client>(new Client(*this, std::move(options), handler)));
  Client& client = *clients_.back();
  client.key_ = next_key_++;
  by_key_.emplace(client.key_, &client);
  return client;
}

int ClientLoop::connect(Client& client, const std::string& host, int port, ConnectMode mode) {
  unwatch(client);
  // A connection still open is closed without a callback: it is replaced.
  client.session_open_ = false;
  int rc =
      mode == ConnectMode::blocking
          ? mosquitto_connect(client.mosq_, host.c_str(), port, client.options_.keepalive_s)
          : mosquitto_connect_async(client.mosq_, host.c_str(), port, client.options_.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS) return rc;
  client.session_open_ = true;
  watch(client);
  return MOSQ_ERR_SUCCESS;
}

void ClientLoop::remove(Client& client) {
  if (client.doomed_) return;
  client.doomed_ = true;
  doomed_.push_back(&client);
}

void ClientLoop::watch(Client& client) {
  int fd = mosquitto_socket(client.mosq_);
  if (fd < 0) return;
  // libmosquitto's sockets are inherited across exec; a program this process
  // starts (a broker, rs1ctl) must not keep our connections open.
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  client.watching_out_ = mosquitto_want_write(client.mosq_);
  if (client.watching_out_) ev.events |= EPOLLOUT;
  ev.data.u64 = client.key_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl add");
  client.fd_ = fd;
}

void ClientLoop::unwatch(Client& client) {
  if (client.fd_ < 0) return;
  // The socket may already be closed (and so gone from the set); only an
  // open one needs removing.
  if (mosquitto_socket(client.mosq_) == client.fd_) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, client.fd_, nullptr);
  }
  client.fd_ = -1;
  client.watching_out_ = false;
}

void ClientLoop::sync(Client& client) {
  int fd = mosquitto_socket(client.mosq_);
  if (fd != client.fd_) {
    // libmosquitto closed the socket (connection lost): closing removed it
    // from the epoll set already.
    client.fd_ = -1;
    client.watching_out_ = false;
    if (fd >= 0) watch(client);
    return;
  }
  if (fd < 0) return;
  bool want = mosquitto_want_write(client.mosq_);
  if (want == client.watching_out_) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.u64 = client.key_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) throw_errno("epoll_ctl mod");
  client.watching_out_ = want;
}

void ClientLoop::service(Client& client, std::uint32_t events) {
  if (client.doomed_) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    mosquitto_loop_read(client.mosq_, kPacketsPerEvent);
  }
  if ((events & EPOLLOUT) && client.open()) {
    // One call writes everything queued until the socket is full. More
    // would be wrong: once a DISCONNECT is written libmosquitto closes the
    // socket, and its next write attempt reports the disconnect again.
    mosquitto_loop_write(client.mosq_, 1);
  }
  sync(client);
}

void ClientLoop::run_once(Clock::duration timeout) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  auto now = Clock::now();
  for (const auto& t : timers_) {
    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(t.due - now).count();
    ms = std::min<long long>(ms, std::max<long long>(0, until));
  }
  ms = std::clamp<long long>(ms, 0, std::numeric_limits<int>::max());
  int n = epoll_wait(epoll_fd_, events, kMaxEvents, static_cast<int>(ms));
  if (n < 0 && errno != EINTR) throw_errno("epoll_wait");
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == 0) {
      std::uint64_t count = 0;
      (void)!read(wake_fd_, &count, sizeof count);
      continue;
    }
    auto it = by_key_.find(events[i].data.u64);
    if (it == by_key_.end()) continue;  // a client already freed (see by_key_)
    service(*it->second, events[i].events);
  }
  now = Clock::now();
  if (now >= next_misc_) {
    next_misc_ = now + kMiscPeriod;
    for (auto& c : clients_) {
      if (c->doomed_ || !c->open()) continue;
      mosquitto_loop_misc(c->mosq_);
      sync(*c);
    }
  }
  run_timers();
  run_posted();
  reap();
}

bool ClientLoop::run_until(const std::function<bool()>& done, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    auto now = Clock::now();
    if (now >= deadline) return done();
    run_once(std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(100)));
  }
  return true;
}

void ClientLoop::every(Clock::duration period, std::function<void()> fn) {
  timers_.push_back(Timer{period, Clock::now() + period, std::move(fn)});
}

void ClientLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  std::uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void ClientLoop::run_timers() {
  auto now = Clock::now();
  // Index loop: a timer may add timers.
  for (std::size_t i = 0; i < timers_.size(); ++i) {
    if (timers_[i].due > now) continue;
    timers_[i].due = now + timers_[i].period;
    auto fn = timers_[i].fn;
    fn();
  }
}

void ClientLoop::run_posted() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

void ClientLoop::reap() {
  if (doomed_.empty()) return;
  for (Client* c : doomed_) {
    unwatch(*c);
    by_key_.erase(c->key_);
  }
  clients_.erase(std::remove_if(clients_.begin(), clients_.end(),
                                [](const std::unique_ptr<Client>& c) { return c->doomed_; }),
                 clients_.end());
  doomed_.clear();
}

}  // namespace rs1::sim
