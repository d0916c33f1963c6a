// Many MQTT connections on one thread: libmosquitto's non-threaded API driven
// by one epoll set, so a simulated fleet of 10,000 devices is 10,000 sockets
// and one thread, not 10,000 threads. Everything here (callbacks included)
// runs on the thread that calls run_*; post() is the only way in from others.
#pragma once

#include <mosquitto.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rs1::sim {

using Clock = std::chrono::steady_clock;

// CONNECTs awaiting CONNACK at once: below mosquitto's listen backlog, so a
// ramp never overflows it (an overflowing backlog drops SYNs, which TCP
// retries only after a second).
constexpr int kConnectWindow = 64;

inline std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

class Client;

// What a connection reports. Codes are libmosquitto's: the CONNACK / v5
// reason code, the v5 PUBACK reason code (0 for QoS 0 once written, and in
// 3.1.1), the disconnect rc (0 when we asked for it).
class ClientHandler {
 public:
  virtual ~ClientHandler() = default;
  virtual void on_connect(Client&, int /*rc*/) {}
  virtual void on_disconnect(Client&, int /*rc*/) {}
  virtual void on_publish(Client&, int /*mid*/, int /*reason*/) {}
  virtual void on_subscribe(Client&, int /*mid*/) {}
  virtual void on_message(Client&, const mosquitto_message&) {}
};

struct ClientOptions {
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;
  bool mqtt5 = true;
  int keepalive_s = 60;
};

class ClientLoop;

class Client {
 public:
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& id() const { return options_.client_id; }
  // True from CONNACK success until the connection ends.
  bool connected() const { return connected_; }
  // True while the socket is open (connecting or connected).
  bool open() const;
  // Bytes are queued that the socket has not taken yet.
  bool backlogged() const;

  // MOSQ_ERR_* (MOSQ_ERR_SUCCESS when queued); `mid` receives the message id.
  int publish(const std::string& topic, const std::string& payload, int qos, bool retain = false,
              int* mid = nullptr);
  int subscribe(const std::string& filter, int qos, int* mid = nullptr);
  // Clean DISCONNECT (no will).
  void disconnect();
  // Ends the connection at once, sending nothing: for a broker that does not
  // answer (no CONNACK) or a DISCONNECT that cannot be written. on_disconnect
  // follows from the loop.
  void abort();
  // Sets the credentials for the next connect (a device's password changes
  // every hour).
  void set_password(const std::string& password);

  // Free for the handler: which device or lane this client is.
  std::size_t tag = 0;

 private:
  friend class ClientLoop;
  Client(ClientLoop& loop, ClientOptions options, ClientHandler& handler);
  static void on_connect_cb(mosquitto*, void*, int, int, const mosquitto_property*);
  static void on_disconnect_cb(mosquitto*, void*, int, const mosquitto_property*);
  static void on_publish_cb(mosquitto*, void*, int, int, const mosquitto_property*);
  static void on_subscribe_cb(mosquitto*, void*, int, int, const int*, const mosquitto_property*);
  static void on_message_cb(mosquitto*, void*, const mosquitto_message*, const mosquitto_property*);

  ClientLoop& loop_;
  ClientOptions options_;
  ClientHandler& handler_;
  mosquitto* mosq_ = nullptr;
  std::uint64_t key_ = 0;      // names the client in epoll events (ClientLoop::by_key_)
  int fd_ = -1;                // the socket registered with epoll, -1 when none
  bool watching_out_ = false;  // EPOLLOUT is in the interest set
  bool connected_ = false;
  bool session_open_ = false;  // connect() succeeded and on_disconnect has not fired since
  bool doomed_ = false;        // removal requested; freed after the current dispatch
};

class ClientLoop {
 public:
  ClientLoop();
  ~ClientLoop();
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  // A new, unconnected client owned by the loop.
  Client& add(ClientOptions options, ClientHandler& handler);

  enum class ConnectMode {
    // connect() returns once TCP is connected or refused: loopback answers at
    // once while the listen backlog has room (keep the CONNECTs in flight
    // below it), but an unreachable host stalls the whole loop.
    blocking,
    // connect() returns before TCP is connected (only the name lookup
    // blocks); a connection refused later or timed out arrives as
    // on_disconnect. (Loopback refuses at once: connect() says so.)
    nonblocking,
  };
  // Opens the TCP connection and sends CONNECT; the handler's on_connect
  // reports the CONNACK. Returns MOSQ_ERR_*. Also reconnects a client whose
  // connection ended (the same Client, a new socket).
  int connect(Client& client, const std::string& host, int port,
              ConnectMode mode = ConnectMode::blocking);
  // Frees the client once the current callback returns (safe inside one).
  void remove(Client& client);
  std::size_t size() const { return clients_.size(); }

  // Waits for socket events for at most `timeout` and dispatches them, then
  // runs due timers and posted work.
  void run_once(Clock::duration timeout);
  // Runs until `done()` holds (checked after every dispatch) or `timeout`
  // passes; returns done().
  bool run_until(const std::function<bool()>& done, Clock::duration timeout);
  // Calls `fn` every `period` on the loop thread, first after one period.
  void every(Clock::duration period, std::function<void()> fn);
  // Thread-safe: runs `fn` on the loop thread soon.
  void post(std::function<void()> fn);

  // Keeps the epoll interest in step with the client: writable wanted while
  // bytes are queued, the socket gone once libmosquitto closed it. Called
  // after every dispatch and every Client call.
  void sync(Client& client);

 private:
  void watch(Client& client);
  void unwatch(Client& client);
  void service(Client& client, std::uint32_t events);
  void run_timers();
  void run_posted();
  void reap();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: post() wakes a waiting epoll_wait
  std::vector<std::unique_ptr<Client>> clients_;
  // Epoll events carry a key, never a Client pointer: a closed socket stays
  // in the epoll set while another process still holds it (a child forked
  // by another thread, before its exec), so an event may arrive for a
  // client that is gone. Key 0 is the wake-up descriptor.
  std::unordered_map<std::uint64_t, Client*> by_key_;
  std::uint64_t next_key_ = 1;
  std::vector<Client*> doomed_;
  struct Timer {
    Clock::duration period;
    Clock::time_point due;
    std::function<void()> fn;
  };
  std::vector<Timer> timers_;
  Clock::time_point next_misc_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
};

// libmosquitto's global init/cleanup, once per process.
void init_mosquitto_library();

}  // namespace rs1::sim
