// rs1-sim's ClientLoop (many libmosquitto clients under one epoll) against a
// real broker: that every client gets its own events, that what does not fit
// in a socket goes out later and large messages come in whole, that lost
// connections are reported once and the same clients reconnect, and that a
// connection the server never answers can be ended.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <thread>

#include "harness.hpp"
#include "rs1-sim/client_loop.hpp"

using namespace rs1;
using namespace rs1::it;
using sim::Client;
using sim::ClientLoop;
using sim::ClientOptions;

namespace {

// Every event of every client, by client id. The loop runs on the test
// thread, so no locking.
struct Recorder : sim::ClientHandler {
  std::map<std::string, std::vector<int>> connacks;
  std::map<std::string, std::vector<int>> disconnects;
  std::map<std::string, std::vector<int>> pubacks;
  std::map<std::string, int> subacks;
  std::map<std::string, std::vector<Message>> messages;

  void on_connect(Client& c, int rc) override { connacks[c.id()].push_back(rc); }
  void on_disconnect(Client& c, int rc) override { disconnects[c.id()].push_back(rc); }
  void on_publish(Client& c, int, int reason) override { pubacks[c.id()].push_back(reason); }
  void on_subscribe(Client& c, int) override { ++subacks[c.id()]; }
  void on_message(Client& c, const mosquitto_message& m) override {
    messages[c.id()].push_back(Message{
        m.topic,
        std::string(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen)),
        m.qos, m.retain});
  }

  template <typename Map>
  static std::size_t total(const Map& m) {
    std::size_t n = 0;
    for (const auto& [id, events] : m) n += events.size();
    return n;
  }
};

ClientOptions device_options(const Device& d) {
  ClientOptions o;
  o.client_id = d.id;
  o.username = d.id;
  o.password = d.password();
  return o;
}

ClientOptions account_options(const Account& a) {
  ClientOptions o;
  o.client_id = a.username + "-loop";
  o.username = a.username;
  o.password = a.password;
  return o;
}

std::string diag_topic(const std::string& id) { return "opticworks/" + id + "/diag/request"; }

// A non-blocking connect to a port nobody listens on: refused by connect's
// return (loopback answers at once) or, had the refusal taken a moment, by
// one on_disconnect; either way the client ends closed.
void expect_refused_nonblocking(ClientLoop& loop, Client& c, int port, Recorder& rec) {
  const std::size_t before = rec.disconnects[c.id()].size();
  int rc = loop.connect(c, "127.0.0.1", port, ClientLoop::ConnectMode::nonblocking);
  if (rc == MOSQ_ERR_SUCCESS) {
    REQUIRE(loop.run_until([&] { return rec.disconnects[c.id()].size() == before + 1; },
                           std::chrono::seconds(3)));
    CHECK(rec.disconnects[c.id()].back() != 0);
  } else {
    loop.run_until([] { return false; }, std::chrono::milliseconds(100));
    CHECK(rec.disconnects[c.id()].size() == before);
  }
  CHECK_FALSE(c.open());
}

// A loopback port that accepts TCP connections (the kernel completes the
// handshake) but never reads them: a broker that does not answer.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace

TEST_CASE("sim client loop: a hundred clients on one loop each get their own downlinks",
          "[sim][client_loop]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::vector<Device> devices;
  for (int i = 0; i < 100; ++i) devices.push_back(fleet.add_device("loop-" + std::to_string(i)));
  Account ops = fleet.add_account("ops", Role::admin);
  // Each client logs in once: the broker must know them all first.
  broker.sync_changes();

  ClientLoop loop;
  Recorder rec;
  std::vector<Client*> clients;
  // Both connect modes, in windows that stay below the listen backlog.
  for (std::size_t i = 0; i < devices.size(); ++i) {
    Client& c = loop.add(device_options(devices[i]), rec);
    clients.push_back(&c);
    auto mode = i % 2 ? ClientLoop::ConnectMode::nonblocking : ClientLoop::ConnectMode::blocking;
    REQUIRE(loop.connect(c, "127.0.0.1", broker.port(), mode) == MOSQ_ERR_SUCCESS);
    if (i % 25 == 24) {
      REQUIRE(loop.run_until([&] { return Recorder::total(rec.connacks) == i + 1; }, 10s));
    }
  }
  CHECK(loop.size() == 100);
  for (Client* c : clients) {
    CAPTURE(c->id());
    CHECK(rec.connacks[c->id()] == std::vector<int>{0});
    CHECK(c->connected());
    CHECK(c->open());
    REQUIRE(c->subscribe(diag_topic(c->id()), 1) == MOSQ_ERR_SUCCESS);
  }
  REQUIRE(loop.run_until([&] { return rec.subacks.size() == 100; }, 10s));

  Client& admin = loop.add(account_options(ops), rec);
  REQUIRE(loop.connect(admin, "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.run_until([&] { return rec.connacks.count(admin.id()) == 1; }, 5s));
  REQUIRE(rec.connacks[admin.id()] == std::vector<int>{0});
  for (const auto& d : devices) {
    REQUIRE(admin.publish(diag_topic(d.id), "for " + d.id, 1) == MOSQ_ERR_SUCCESS);
  }
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.messages) == 100; }, 10s));
  // Anything misrouted or duplicated would show up by now.
  loop.run_until([] { return false; }, 300ms);
  CHECK(Recorder::total(rec.messages) == 100);
  for (const auto& d : devices) {
    CAPTURE(d.id);
    REQUIRE(rec.messages[d.id].size() == 1);
    CHECK(rec.messages[d.id][0].topic == diag_topic(d.id));
    CHECK(rec.messages[d.id][0].payload == "for " + d.id);
  }
  CHECK(rec.pubacks[admin.id()] == std::vector<int>(100, 0));

  // Clean disconnects: each reported once, with rc 0.
  for (Client* c : clients) c->disconnect();
  REQUIRE(loop.run_until(
      [&] {
        return std::none_of(clients.begin(), clients.end(), [](Client* c) { return c->open(); });
      },
      5s));
  for (Client* c : clients) {
    CAPTURE(c->id());
    CHECK(rec.disconnects[c->id()] == std::vector<int>{0});
    CHECK_FALSE(c->connected());
  }
  CHECK(wait_until([&] { return !fleet.online(devices.back().id); }, 3s));
}

TEST_CASE("sim client loop: large messages go out and come in whole", "[sim][client_loop]") {
  BrokerConfig config = opts({});
  config.max_packet_size = 4 * 1024 * 1024;  // the client loop's framing, not the broker's limit
  BrokerRunner broker(config);
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("loop-big");
  Account ops = fleet.add_account("ops", Role::admin);
  broker.sync_changes();
  ClientLoop loop;
  Recorder rec;
  Client& device = loop.add(device_options(dev), rec);
  Client& admin = loop.add(account_options(ops), rec);
  REQUIRE(loop.connect(device, "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.connect(admin, "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.connacks) == 2; }, 5s));
  REQUIRE(device.subscribe(diag_topic(dev.id), 1) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.run_until([&] { return rec.subacks[dev.id] == 1; }, 5s));

  std::vector<std::string> sent;
  for (int i = 0; i < 16; ++i) {
    std::string payload(1 << 20, static_cast<char>('a' + i));
    payload.replace(0, 8, "message" + std::to_string(i % 10));
    sent.push_back(payload);
    REQUIRE(admin.publish(diag_topic(dev.id), payload, 1) == MOSQ_ERR_SUCCESS);
  }
  REQUIRE(loop.run_until([&] { return rec.messages[dev.id].size() == 16; }, 30s));
  for (std::size_t i = 0; i < 16; ++i) {
    CAPTURE(i);
    CHECK(rec.messages[dev.id][i].payload == sent[i]);
  }
  REQUIRE(loop.run_until([&] { return rec.pubacks[admin.id()].size() == 16; }, 10s));
  CHECK_FALSE(admin.backlogged());
  CHECK(rec.disconnects.empty());
}

TEST_CASE("sim client loop: what the socket does not take is written once it can be",
          "[sim][client_loop]") {
  // A peer that reads nothing until the client is backlogged, then reads
  // everything: what the loop wrote after that came through EPOLLOUT.
  SilentListener peer;
  ClientLoop loop;
  Recorder rec;
  ClientOptions o;
  o.client_id = "loop-writer";
  Client& c = loop.add(o, rec);
  REQUIRE(loop.connect(c, "127.0.0.1", peer.port()) == MOSQ_ERR_SUCCESS);
  const std::string topic = "t";
  const std::string payload(256 * 1024, 'x');
  int published = 0;
  while (!c.backlogged() && published < 256) {
    REQUIRE(c.publish(topic, payload, 0) == MOSQ_ERR_SUCCESS);
    ++published;
  }
  REQUIRE(c.backlogged());
  // A few more on top of the queue, then a clean DISCONNECT behind them.
  for (int i = 0; i < 4; ++i, ++published)
    REQUIRE(c.publish(topic, payload, 0) == MOSQ_ERR_SUCCESS);
  c.disconnect();
  CHECK(c.open());  // the DISCONNECT waits its turn

  std::string tail;
  std::size_t total = 0;
  std::thread reader([&] {
    int fd = ::accept(peer.fd(), nullptr, nullptr);
    if (fd < 0) return;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
      total += static_cast<std::size_t>(n);
      tail = (tail + std::string(buf, static_cast<std::size_t>(n)));
      if (tail.size() > 16) tail.erase(0, tail.size() - 16);
    }
    ::close(fd);
  });
  const bool closed = loop.run_until([&] { return !c.open(); }, 10s);
  reader.join();
  REQUIRE(closed);
  CHECK(rec.disconnects["loop-writer"] == std::vector<int>{0});
  // Every PUBLISH (fixed header 1 + 3-byte length, topic 2 + 1, v5
  // properties 1, payload), the CONNECT before them, DISCONNECT (E0 00) last.
  const std::size_t publish_bytes = 1 + 3 + 2 + topic.size() + 1 + payload.size();
  const std::size_t expected = static_cast<std::size_t>(published) * publish_bytes;
  CHECK(total > expected);
  CHECK(total - expected < 200);  // the CONNECT and the DISCONNECT
  CHECK(tail.substr(tail.size() - 2) == std::string("\xE0\x00", 2));
}

TEST_CASE("sim client loop: a lost connection is reported once and the same clients reconnect",
          "[sim][client_loop]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  std::vector<Device> devices = {fleet.add_device("loop-a"), fleet.add_device("loop-b"),
                                 fleet.add_device("loop-c")};
  broker.sync_changes();
  ClientLoop loop;
  Recorder rec;
  std::vector<Client*> clients;
  for (const auto& d : devices) {
    clients.push_back(&loop.add(device_options(d), rec));
    REQUIRE(loop.connect(*clients.back(), "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS);
  }
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.connacks) == 3; }, 5s));

  broker.stop();
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.disconnects) == 3; }, 5s));
  loop.run_until([] { return false; }, 300ms);
  for (Client* c : clients) {
    CAPTURE(c->id());
    REQUIRE(rec.disconnects[c->id()].size() == 1);
    CHECK(rec.disconnects[c->id()][0] != 0);
    CHECK_FALSE(c->open());
    CHECK_FALSE(c->connected());
  }

  // Nobody listens: connect says so (on loopback the refusal is immediate,
  // even for a non-blocking connect), and no callback fires.
  CHECK(loop.connect(*clients[0], "127.0.0.1", broker.port()) != MOSQ_ERR_SUCCESS);
  CHECK_FALSE(clients[0]->open());
  expect_refused_nonblocking(loop, *clients[1], broker.port(), rec);
  CHECK(rec.connacks[clients[1]->id()].size() == 1);
  CHECK(rec.disconnects[clients[1]->id()].size() == 1);

  broker.start();
  for (std::size_t i = 0; i < clients.size(); ++i) {
    clients[i]->set_password(devices[i].password());
    REQUIRE(loop.connect(*clients[i], "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS);
  }
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.connacks) == 6; }, 5s));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    CAPTURE(devices[i].id);
    CHECK(rec.connacks[devices[i].id] == std::vector<int>{0, 0});
    REQUIRE(clients[i]->publish("opticworks/" + devices[i].id + "/state", R"({"version":"9"})",
                                1) == MOSQ_ERR_SUCCESS);
  }
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.pubacks) == 3; }, 5s));
  for (const auto& d : devices) {
    CAPTURE(d.id);
    CHECK(rec.pubacks[d.id] == std::vector<int>{0x10});  // stored; nobody subscribes
    CHECK(wait_until([&] { return fleet.device(d.id)->firmware_version == "9"; }, 3s));
  }
}

TEST_CASE("sim client loop: a DISCONNECT from the broker is reported once", "[sim][client_loop]") {
  // A broker of a few bytes: CONNACK, then (no PUBACK, so QoS 1 messages
  // stay in flight) a v5 DISCONNECT "session taken over". With messages in
  // flight libmosquitto reads on past the DISCONNECT, finds the socket
  // closed and reports the end a second time.
  SilentListener fake;
  std::atomic<bool> publishes_seen{false};
  std::thread server([&] {
    int fd = ::accept(fake.fd(), nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    if (::read(fd, buf, sizeof buf) <= 0) return;  // CONNECT
    const unsigned char connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    (void)!::write(fd, connack, sizeof connack);
    if (::read(fd, buf, sizeof buf) > 0) publishes_seen = true;
    std::this_thread::sleep_for(100ms);
    const unsigned char disconnect[] = {0xE0, 0x02, 0x8E, 0x00};
    (void)!::write(fd, disconnect, sizeof disconnect);
    std::this_thread::sleep_for(500ms);
    ::close(fd);
  });
  ClientLoop loop;
  Recorder rec;
  ClientOptions o;
  o.client_id = "loop-taken";
  Client& c = loop.add(o, rec);
  REQUIRE(loop.connect(c, "127.0.0.1", fake.port()) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.run_until([&] { return rec.connacks["loop-taken"].size() == 1; }, 5s));
  CHECK(rec.connacks["loop-taken"] == std::vector<int>{0});
  for (int i = 0; i < 5; ++i) REQUIRE(c.publish("t", "m", 1) == MOSQ_ERR_SUCCESS);
  const bool ended = loop.run_until([&] { return !rec.disconnects["loop-taken"].empty(); }, 5s);
  loop.run_until([] { return false; }, 300ms);
  server.join();
  REQUIRE(ended);
  CHECK(publishes_seen);
  CHECK(rec.disconnects["loop-taken"] == std::vector<int>{0x8E});  // session taken over, once
  CHECK(rec.pubacks.empty());
  CHECK_FALSE(c.open());
}

TEST_CASE(
    "sim client loop: a client removed in its callback is freed, and post() and timers run "
    "on the loop thread",
    "[sim][client_loop]") {
  BrokerRunner broker;
  Fleet fleet(broker.db_path());
  Device keep = fleet.add_device("loop-keep");
  Device drop = fleet.add_device("loop-drop");
  broker.sync_changes();

  struct Remover : Recorder {
    ClientLoop* loop = nullptr;
    void on_connect(Client& c, int rc) override {
      Recorder::on_connect(c, rc);
      if (c.id() == "loop-drop") loop->remove(c);
    }
  } rec;
  ClientLoop loop;
  rec.loop = &loop;
  Client& kept = loop.add(device_options(keep), rec);
  Client& dropped = loop.add(device_options(drop), rec);
  REQUIRE(loop.connect(kept, "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.connect(dropped, "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.connacks) == 2; }, 5s));
  // Both logged in: the dropped one is freed from a live session.
  CHECK(rec.connacks[keep.id] == std::vector<int>{0});
  CHECK(rec.connacks[drop.id] == std::vector<int>{0});
  loop.run_once(std::chrono::milliseconds(0));
  CHECK(loop.size() == 1);
  // Freed without DISCONNECT and without a callback: the broker sees the
  // socket close.
  CHECK(wait_until([&] { return !fleet.online(drop.id); }, 3s));
  CHECK(rec.disconnects.count(drop.id) == 0);
  CHECK(kept.connected());

  const auto loop_thread = std::this_thread::get_id();
  int ran = 0;
  int on_loop_thread = 0;
  int ticks = 0;
  loop.every(std::chrono::milliseconds(20), [&] { ++ticks; });
  std::vector<std::thread> posters;
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        loop.post([&] {
          ++ran;
          on_loop_thread += std::this_thread::get_id() == loop_thread;
        });
      }
    });
  }
  for (auto& t : posters) t.join();
  REQUIRE(loop.run_until([&] { return ran == 2000; }, 5s));
  CHECK(on_loop_thread == 2000);
  const int before = ticks;
  loop.run_until([] { return false; }, std::chrono::milliseconds(400));
  CHECK(ticks - before >= 10);
  CHECK(ticks - before <= 25);
  // The kept client went on being served (keepalive, no disconnect).
  CHECK(kept.connected());
  CHECK(rec.disconnects.empty());
}

TEST_CASE("sim client loop: abort() ends a connection the server never answers",
          "[sim][client_loop]") {
  SilentListener silent;
  ClientLoop loop;
  Recorder rec;
  ClientOptions o;
  o.client_id = "loop-silent";
  Client& blocking = loop.add(o, rec);
  o.client_id = "loop-silent-nb";
  Client& nonblocking = loop.add(o, rec);
  REQUIRE(loop.connect(blocking, "127.0.0.1", silent.port()) == MOSQ_ERR_SUCCESS);
  REQUIRE(loop.connect(nonblocking, "127.0.0.1", silent.port(),
                       ClientLoop::ConnectMode::nonblocking) == MOSQ_ERR_SUCCESS);
  loop.run_until([] { return false; }, std::chrono::milliseconds(300));
  CHECK(rec.connacks.empty());
  CHECK(rec.disconnects.empty());
  CHECK(blocking.open());
  CHECK(nonblocking.open());

  blocking.abort();
  nonblocking.abort();
  REQUIRE(loop.run_until([&] { return Recorder::total(rec.disconnects) == 2; }, 3s));
  CHECK(rec.disconnects["loop-silent"].size() == 1);
  CHECK(rec.disconnects["loop-silent-nb"].size() == 1);
  CHECK_FALSE(blocking.open());
  CHECK_FALSE(nonblocking.open());
  CHECK(rec.connacks.empty());

  // A port nobody listens on: refused.
  const int closed = free_port();
  CHECK(loop.connect(blocking, "127.0.0.1", closed) != MOSQ_ERR_SUCCESS);
  CHECK_FALSE(blocking.open());
  expect_refused_nonblocking(loop, nonblocking, closed, rec);
}
