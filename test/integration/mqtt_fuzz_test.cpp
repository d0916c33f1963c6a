// The MQTT-level fuzzer: for a bounded time (RS1_FUZZ_SECONDS, default 30)
// a seeded random stream of malformed and adversarial MQTT 3.1.1 and 5
// packets on raw sockets (broken remaining lengths, invalid UTF-8, wildcards
// and `$` topics where they do not belong, v5 properties, SUBSCRIBE floods,
// wills on every topic, odd passwords, reconnect storms) goes at a broker
// with the plugin, while legitimate devices publish telemetry and a service
// account subscribes. The broker must stay up, every legitimate message be
// delivered once and stored once, the legitimate devices stay connected, and
// the broker's memory stay bounded. The seed is printed; RS1_FUZZ_SEED=N
// replays the same packet stream, but for what goes to connections kept
// open (which of them the broker has closed by then is a matter of timing)
// and the passwords, which are those of the current hour.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;
using nlohmann::json;

namespace {

using Bytes = std::string;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- encoding

void put_u8(Bytes& out, unsigned v) { out.push_back(static_cast<char>(v & 0xff)); }
void put_u16(Bytes& out, unsigned v) {
  put_u8(out, v >> 8);
  put_u8(out, v);
}
void put_u32(Bytes& out, std::uint32_t v) {
  put_u16(out, v >> 16);
  put_u16(out, v & 0xffff);
}
// A length-prefixed string; longer ones are cut at 65535 bytes.
void put_str(Bytes& out, const Bytes& s) {
  const std::size_t n = std::min<std::size_t>(s.size(), 0xffff);
  put_u16(out, static_cast<unsigned>(n));
  out.append(s, 0, n);
}
// MQTT's variable byte integer: 1-4 bytes for 0..268435455.
Bytes varint(std::uint32_t n) {
  Bytes out;
  do {
    unsigned char b = n % 128;
    n /= 128;
    if (n > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n > 0);
  return out;
}
Bytes packet(unsigned header, const Bytes& body) {
  Bytes out(1, static_cast<char>(header));
  out += varint(static_cast<std::uint32_t>(body.size()));
  out += body;
  return out;
}

// ---------------------------------------------------------------- randomness

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : g_() % n; }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(g_) < p; }
  Bytes bytes(std::size_t n) {
    Bytes out(n, '\0');
    for (auto& c : out) c = static_cast<char>(g_() & 0xff);
    return out;
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  std::mt19937_64 g_;
};

// Byte sequences that are not UTF-8 (or are, but MQTT forbids them).
const std::vector<Bytes> kBadUtf8 = {
    Bytes("\xff"),
    Bytes("\xc0\x80"),
    Bytes("\xed\xa0\x80"),      // surrogate
    Bytes("\xf4\x90\x80\x80"),  // > U+10FFFF
    Bytes("\xe2\x82"),          // truncated
    Bytes("a\0b", 3),
    Bytes("\x01\x7f"),
    Bytes("\xef\xbf\xbf"),  // U+FFFF
};

// ---------------------------------------------------------------- the fuzzer

struct Identity {
  std::string id;
  std::string secret_hash;
};

struct FuzzStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t connections = 0;
  std::uint64_t logins = 0;  // CONNECTs with the right password
  std::uint64_t closed_by_broker = 0;
  std::map<std::string, std::uint64_t> scenarios;
};

// The adversary. It may log in as its own devices (right passwords), never
// as a legitimate one: it only knows their ids. No Catch2 macro is used here:
// it runs on its own thread.
class MqttFuzzer {
 public:
  MqttFuzzer(int port, std::uint64_t seed, std::vector<Identity> own,
             std::vector<std::string> victims)
      : port_(port),
        rng_(seed),
        pool_rng_(seed ^ 0x9e3779b97f4a7c15ULL),
        own_(std::move(own)),
        victims_(std::move(victims)) {
    for (const auto& v : victims_) {
      topics_.push_back("opticworks/" + v + "/telemetry/temp");
      topics_.push_back("opticworks/" + v + "/state");
      topics_.push_back("opticworks/" + v + "/ota/trigger");
      topics_.push_back("opticworks/" + v + "/config/update");
    }
    for (const auto& o : own_) {
      for (const char* suffix : {"/telemetry/temp", "/telemetry/a/b/c", "/state", "/ota/status",
                                 "/config/status", "/ota/trigger", "/diag/request",
                                 "/config/update", "/telemetry/", "/telemetry/+", "/telemetry/#"}) {
        topics_.push_back("opticworks/" + o.id + suffix);
      }
    }
    for (const char* t : {"#",
                          "+",
                          "/",
                          "//",
                          "opticworks/+/telemetry",
                          "opticworks/+/telemetry/#",
                          "opticworks/#",
                          "opticworks",
                          "opticworks/",
                          "$SYS/broker/uptime",
                          "$SYS/#",
                          "$SYS",
                          "$share/g/opticworks/#",
                          "$share/g/#",
                          "$share//x",
                          "$share/g",
                          "$",
                          "$rs1/internal",
                          "a/#/b",
                          "+x/y",
                          "x+/#",
                          "opticworks/../telemetry",
                          "opticworks/\xc3\xa9/state",
                          "opticworks/ /telemetry/x"}) {
      topics_.push_back(t);
    }
    for (const auto& t : topics_) {
      if (t != "a/#/b" && t != "+x/y" && t != "x+/#") filters_.push_back(t);
      if (!t.empty() && t.find_first_of("+#") == std::string::npos) pub_topics_.push_back(t);
    }
  }

  // Sends until `until`, then closes every socket it holds.
  void run(Clock::time_point until) {
    while (Clock::now() < until) {
      step();
      drain();
      // Leaves the broker's single thread some air for the legitimate
      // clients; the stream stays dense (hundreds of packets a second).
      if (rng_.chance(0.5)) std::this_thread::sleep_for(1ms);
    }
    for (auto& c : conns_) ::close(c.fd);
    conns_.clear();
  }

  const FuzzStats& stats() const { return stats_; }

 private:
  struct Conn {
    int fd = -1;
    int version = 4;
    bool authenticated = false;
  };

  // ------------------------------------------------------------ sockets

  int open_socket() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ++stats_.connections;
    return fd;
  }

  // False once the socket is unusable (the broker closed it, or its buffer
  // is full: a client that cannot keep up is dropped, by us).
  bool send(int fd, const Bytes& data) {
    std::size_t off = 0;
    const auto deadline = Clock::now() + 200ms;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR) && Clock::now() < deadline) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 10);
        continue;
      }
      return false;
    }
    ++stats_.packets;
    stats_.bytes += data.size();
    return true;
  }

  void keep(int fd, int version, bool authenticated) {
    conns_.push_back(Conn{fd, version, authenticated});
    while (conns_.size() > 48) {
      const std::size_t i = pool_rng_.below(conns_.size());
      ::close(conns_[i].fd);
      conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }

  // Reads whatever the broker sent; forgets sockets it has closed.
  void drain() {
    char buf[4096];
    for (std::size_t i = 0; i < conns_.size();) {
      bool closed = false;
      for (;;) {
        ssize_t n = ::recv(conns_[i].fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) closed = true;
        break;
      }
      if (closed) {
        ++stats_.closed_by_broker;
        ::close(conns_[i].fd);
        conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }

  // ------------------------------------------------------------ pieces

  Bytes topic() {
    const auto r = rng_.below(10);
    if (r < 6) return rng_.pick(topics_);
    if (r == 6) return rng_.pick(topics_) + rng_.pick(kBadUtf8);
    if (r == 7) return Bytes(rng_.below(3) ? 300 + rng_.below(3000) : 65535, 'a' + rng_.below(26));
    if (r == 8) return {};
    Bytes t = "opticworks/" + rng_.pick(own_).id + "/telemetry/";
    for (int i = 0, n = static_cast<int>(rng_.below(40)); i < n; ++i) t += "x/";
    return t + "end";
  }

  // A topic name a PUBLISH may carry: no wildcard, valid UTF-8.
  Bytes pub_topic() {
    const auto r = rng_.below(10);
    if (r < 8) return rng_.pick(pub_topics_);
    if (r == 8) return "opticworks/" + rng_.pick(own_).id + "/telemetry/" + Bytes(1000, 'm');
    Bytes t = "opticworks/" + rng_.pick(own_).id + "/telemetry/";
    for (int i = 0, n = static_cast<int>(rng_.below(200)); i < n; ++i) t += "x/";
    return t + "end";
  }

  std::string client_id() {
    switch (rng_.below(8)) {
      case 0:
        return rng_.pick(victims_);
      case 1:
        return rng_.pick(own_).id;
      case 2:
        return {};
      case 3:
        return rng_.pick(own_).id + rng_.pick(kBadUtf8);
      case 4:
        return Bytes(65535, 'c');
      case 5:
        return "+/#";
      case 6:
        return "$SYS";
      default:
        return rng_.bytes(rng_.below(30));
    }
  }

  Bytes json_payload() {
    switch (rng_.below(14)) {
      case 0:
        return "{\"t\":21.5,\"fuzz\":true}";
      case 1:
        return "{}";
      case 2:
        return "[]";
      case 3:
        return "not json";
      case 4:
        return {};
      case 5:
        return Bytes(rng_.below(2) ? 65537 : 65536, '{');
      case 6: {
        Bytes s(20000, '[');
        return s + Bytes(20000, ']');
      }
      case 7: {
        Bytes s;
        for (int i = 0; i < 5000; ++i) s += "{\"a\":";
        return s + "1" + Bytes(5000, '}');
      }
      case 8:
        return "{\"x\":1e999999,\"y\":-0,\"z\":123456789012345678901234567890}";
      case 9:
        return "{\"s\":\"" + rng_.pick(kBadUtf8) + "\",\"u\":\"\\ud800\"}";
      case 10:
        return "{\"rollout_id\":" +
               std::to_string(static_cast<std::int64_t>(rng_.below(1000)) - 500) +
               ",\"version\":[1],\"status\":\"success\",\"progress\":1e9}";
      case 11:
        return "{\"version\":\"x\",\"status\":\"applied\",\"error\":{}}";
      case 12:
        return "{\"a\":1,\"a\":2,\"\":{\"\":[null,true,false]}}";
      default:
        return rng_.bytes(rng_.below(200));
    }
  }

  // A v5 property block, often wrong on purpose.
  Bytes properties(bool allow_bad = true) {
    Bytes p;
    for (int i = 0, n = static_cast<int>(rng_.below(6)); i < n; ++i) {
      switch (rng_.below(13)) {
        case 0:
          put_u8(p, 0x26);
          put_str(p, "k" + rng_.pick(kBadUtf8));
          put_str(p, "v");
          break;
        case 1:  // many user properties
          for (int k = 0; k < 200; ++k) {
            put_u8(p, 0x26);
            put_str(p, "key" + std::to_string(k));
            put_str(p, Bytes(50, 'v'));
          }
          break;
        case 2:
          put_u8(p, 0x23);
          put_u16(p, static_cast<unsigned>(rng_.below(3) ? rng_.below(70000) : 0));
          break;
        case 3:
          put_u8(p, 0x0b);
          p += varint(static_cast<std::uint32_t>(rng_.below(300000000)));
          break;
        case 4:
          put_u8(p, 0x01);
          put_u8(p, static_cast<unsigned>(rng_.below(3)));
          break;
        case 5:
          put_u8(p, 0x02);
          put_u32(p, static_cast<std::uint32_t>(rng_.below(0xffffffff)));
          break;
        case 6:
          put_u8(p, 0x03);
          put_str(p, rng_.pick(kBadUtf8));
          break;
        case 7:
          put_u8(p, 0x08);
          put_str(p, rng_.pick(topics_));
          break;
        case 8:
          put_u8(p, 0x09);
          put_str(p, rng_.bytes(rng_.below(100)));
          break;
        case 9:
          put_u8(p, 0x11);
          put_u32(p, static_cast<std::uint32_t>(rng_.below(0xffffffff)));
          break;
        case 10:
          put_u8(p, 0x21);
          put_u16(p, static_cast<unsigned>(rng_.below(3)));
          break;
        case 11:
          put_u8(p, 0x15);
          put_str(p, "SCRAM-SHA-1");
          break;  // enhanced auth nobody offers
        default:
          put_u8(p, static_cast<unsigned>(rng_.below(256)));
          break;  // any id, no value
      }
    }
    if (allow_bad && rng_.chance(0.08)) {
      // A property length far beyond the packet.
      return varint(static_cast<std::uint32_t>(p.size() + 1 + rng_.below(100000000))) + p;
    }
    return varint(static_cast<std::uint32_t>(p.size())) + p;
  }

  // ------------------------------------------------------------ packets

  struct ConnectSpec {
    int version = 4;
    std::string client_id;
    std::optional<std::string> username, password;
    std::optional<std::string> will_topic;
    Bytes will_payload;
    int will_qos = 0;
    bool will_retain = false;
    bool clean = true;
    unsigned keepalive = 30;
    bool reserved_flag = false;
  };

  Bytes connect_packet(const ConnectSpec& s) {
    Bytes b;
    put_str(b, s.version == 3 ? "MQIsdp" : "MQTT");
    put_u8(b, static_cast<unsigned>(s.version));
    unsigned flags = (s.username ? 0x80 : 0) | (s.password ? 0x40 : 0) | (s.clean ? 0x02 : 0) |
                     (s.reserved_flag ? 0x01 : 0);
    if (s.will_topic)
      flags |= 0x04 | (static_cast<unsigned>(s.will_qos) << 3) | (s.will_retain ? 0x20 : 0);
    put_u8(b, flags);
    put_u16(b, s.keepalive);
    if (s.version == 5) b += properties(false);
    put_str(b, s.client_id);
    if (s.will_topic) {
      if (s.version == 5) b += properties(false);
      put_str(b, *s.will_topic);
      put_str(b, s.will_payload);
    }
    if (s.username) put_str(b, *s.username);
    if (s.password) put_str(b, *s.password);
    return packet(0x10, b);
  }

  // A CONNECT that logs in as one of the fuzzer's own devices.
  ConnectSpec good_login() {
    const Identity& me = rng_.pick(own_);
    ConnectSpec s;
    s.version = rng_.chance(0.5) ? 5 : 4;
    s.client_id = s.username.emplace(me.id);
    s.password = password_for_hour(me.secret_hash, me.id, hour_of(unix_s()));
    s.clean = rng_.chance(0.7);
    s.keepalive = static_cast<unsigned>(rng_.below(3) ? 30 : rng_.below(3));
    if (rng_.chance(0.5)) {  // a will, on any topic at all
      s.will_topic = topic();
      s.will_payload = json_payload();
      s.will_qos = static_cast<int>(rng_.below(3));
      s.will_retain = rng_.chance(0.3);
    }
    return s;
  }

  Bytes publish_packet(int version) {
    const unsigned qos = static_cast<unsigned>(rng_.below(10) == 0 ? 3 : rng_.below(3));
    const unsigned header =
        0x30 | (rng_.chance(0.1) ? 0x08 : 0) | (qos << 1) | (rng_.chance(0.2) ? 1 : 0);
    Bytes b;
    const bool alias_only = version == 5 && rng_.chance(0.1);
    put_str(b, alias_only ? Bytes() : topic());  // empty topic: "use the alias"
    if (qos > 0) put_u16(b, static_cast<unsigned>(rng_.below(0x10000)));
    if (version == 5) b += properties();
    b += json_payload();
    return packet(header, b);
  }

  // Properties a client may send with a PUBLISH (or a SUBSCRIBE), each
  // once, with values in range: the packet reaches the plugin.
  Bytes client_properties(bool subscribe) {
    Bytes p;
    if (subscribe) {
      if (rng_.chance(0.5)) {
        put_u8(p, 0x0b);
        p += varint(1 + static_cast<std::uint32_t>(rng_.below(268435454)));
      }
    } else {
      if (rng_.chance(0.2)) {
        put_u8(p, 0x01);
        put_u8(p, static_cast<unsigned>(rng_.below(2)));
      }
      if (rng_.chance(0.2)) {
        put_u8(p, 0x02);
        put_u32(p, static_cast<std::uint32_t>(rng_.below(0xffffffff)));
      }
      if (rng_.chance(0.2)) {
        put_u8(p, 0x03);
        put_str(p, "application/json");
      }
      if (rng_.chance(0.2)) {
        put_u8(p, 0x08);
        put_str(p, rng_.pick(pub_topics_));
      }
      if (rng_.chance(0.2)) {
        put_u8(p, 0x09);
        put_str(p, rng_.bytes(rng_.below(64)));
      }
      if (rng_.chance(0.3)) {
        put_u8(p, 0x23);  // mosquitto allows 10 aliases by default
        put_u16(p, 1 + static_cast<unsigned>(rng_.below(10)));
      }
    }
    for (int i = 0, n = static_cast<int>(rng_.below(rng_.chance(0.1) ? 300 : 4)); i < n; ++i) {
      put_u8(p, 0x26);
      put_str(p, "k" + std::to_string(i));
      put_str(p, Bytes(rng_.below(100), 'v'));
    }
    return varint(static_cast<std::uint32_t>(p.size())) + p;
  }

  Bytes wellformed_publish(int version) {
    const unsigned qos = static_cast<unsigned>(rng_.below(3));
    const unsigned header =
        0x30 | (qos && rng_.chance(0.1) ? 0x08 : 0) | (qos << 1) | (rng_.chance(0.2) ? 1 : 0);
    Bytes b;
    put_str(b, pub_topic());
    if (qos > 0) put_u16(b, 1 + static_cast<unsigned>(rng_.below(0xffff)));
    if (version == 5) b += client_properties(false);
    b += json_payload();
    return packet(header, b);
  }

  Bytes wellformed_subscribe(int version, bool unsubscribe) {
    Bytes b;
    put_u16(b, 1 + static_cast<unsigned>(rng_.below(0xffff)));
    if (version == 5) b += client_properties(!unsubscribe);
    for (int i = 0, n = 1 + static_cast<int>(rng_.below(rng_.chance(0.1) ? 300 : 6)); i < n; ++i) {
      const Bytes& f = rng_.pick(filters_);
      put_str(b, f);
      // v5: no-local (not on a shared subscription), retain-as-published,
      // retain handling 0-2.
      unsigned options = static_cast<unsigned>(rng_.below(3));
      if (version == 5) {
        if (f.rfind("$share/", 0) != 0 && rng_.chance(0.3)) options |= 0x04;
        options |= (rng_.chance(0.3) ? 0x08 : 0) | (static_cast<unsigned>(rng_.below(3)) << 4);
      }
      if (!unsubscribe) put_u8(b, options);
    }
    return packet(unsubscribe ? 0xa2 : 0x82, b);
  }

  // What a logged-in client may send without being thrown out by
  // mosquitto's parser: what the plugin then gets to judge.
  Bytes wellformed_packet(int version) {
    const auto r = rng_.below(20);
    if (r < 12) return wellformed_publish(version);
    if (r < 16) return wellformed_subscribe(version, false);
    if (r < 18) return wellformed_subscribe(version, true);
    if (r < 19) return Bytes("\xc0\x00", 2);
    Bytes b;  // a PUBACK for a message never sent
    put_u16(b, 1 + static_cast<unsigned>(rng_.below(0xffff)));
    return packet(0x40, b);
  }

  Bytes subscribe_packet(int version, bool unsubscribe) {
    Bytes b;
    put_u16(b, static_cast<unsigned>(rng_.below(0x10000)));
    if (version == 5) b += properties();
    for (int i = 0, n = 1 + static_cast<int>(rng_.below(rng_.chance(0.1) ? 500 : 8)); i < n; ++i) {
      put_str(b, topic());
      if (!unsubscribe)
        put_u8(b, static_cast<unsigned>(rng_.below(4) == 0 ? rng_.below(256) : rng_.below(3)));
    }
    // 0x82 / 0xA2; sometimes the reserved bits wrong.
    unsigned header = unsubscribe ? 0xa2 : 0x82;
    if (rng_.chance(0.05)) header &= 0xf0;
    return packet(header, b);
  }

  Bytes any_packet(int version) {
    switch (rng_.below(16)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
        return publish_packet(version);
      case 5:
      case 6:
        return subscribe_packet(version, false);
      case 7:
        return subscribe_packet(version, true);
      case 8:
        return Bytes("\xc0\x00", 2);  // PINGREQ
      case 9: {                       // PUBACK/PUBREC/PUBREL/PUBCOMP for nothing
        static const unsigned kinds[] = {0x40, 0x50, 0x62, 0x70};
        Bytes b;
        put_u16(b, static_cast<unsigned>(rng_.below(0x10000)));
        if (version == 5 && rng_.chance(0.5)) {
          put_u8(b, static_cast<unsigned>(rng_.below(256)));
          b += properties();
        }
        return packet(kinds[rng_.below(4)], b);
      }
      case 10:
        return connect_packet(good_login());  // a second CONNECT: protocol error
      case 11: {                              // AUTH
        Bytes b;
        put_u8(b, rng_.chance(0.5) ? 0x18 : 0x19);
        b += properties();
        return packet(0xf0, b);
      }
      case 12: {  // DISCONNECT, v5 with a reason and properties (session expiry after 0)
        Bytes b;
        if (version == 5) {
          put_u8(b, rng_.chance(0.5) ? 0x04 : static_cast<unsigned>(rng_.below(256)));
          b += properties();
        }
        return packet(0xe0, b);
      }
      case 13:
        return packet(static_cast<unsigned>(rng_.below(256)), rng_.bytes(rng_.below(64)));
      case 14:
        return Bytes(1, static_cast<char>(0x30)) + "\xff\xff\xff\xff\x7f";  // 5-byte length
      default:
        return rng_.bytes(1 + rng_.below(32));
    }
  }

  // ------------------------------------------------------------ scenarios

  // RS1_FUZZ_ONLY=<scenario> narrows the stream to one scenario (to find
  // which one a failure or a growth comes from); the others are drawn and
  // skipped, so the seed still names the stream.
  void step() {
    static const char* only = std::getenv("RS1_FUZZ_ONLY");
    static const char* const kNames[] = {
        "garbage",       "malformed_connect", "malformed_connect", "session",
        "session",       "session",           "bad_password",      "reconnect_storm",
        "broken_length", "subscribe_flood",   "more_on_open",      "more_on_open"};
    const auto pick = rng_.below(12);
    if (only && *only && std::string(only) != kNames[pick]) return;
    switch (pick) {
      case 0:
        garbage();
        break;
      case 1:
      case 2:
        malformed_connect();
        break;
      case 3:
      case 4:
      case 5:
        session();
        break;
      case 6:
        bad_password();
        break;
      case 7:
        reconnect_storm();
        break;
      case 8:
        broken_length();
        break;
      case 9:
        subscribe_flood();
        break;
      default:
        more_on_open_connections();
        break;
    }
  }

  void note(const char* scenario) { ++stats_.scenarios[scenario]; }

  void garbage() {
    note("garbage");
    int fd = open_socket();
    if (fd < 0) return;
    send(fd, rng_.bytes(1 + rng_.below(2048)));
    if (rng_.chance(0.5))
      keep(fd, 4, false);
    else
      ::close(fd);
  }

  void malformed_connect() {
    note("malformed_connect");
    int fd = open_socket();
    if (fd < 0) return;
    ConnectSpec s;
    static const int versions[] = {3, 4, 5, 0, 2, 6, 255};
    s.version = versions[rng_.below(7)];
    s.client_id = client_id();
    if (rng_.chance(0.7))
      s.username = rng_.chance(0.5) ? client_id() : rng_.pick(victims_) + rng_.pick(kBadUtf8);
    if (rng_.chance(0.7)) s.password = rng_.bytes(rng_.below(100));
    s.reserved_flag = rng_.chance(0.3);
    s.clean = rng_.chance(0.5);
    if (rng_.chance(0.4)) {
      s.will_topic = topic();
      s.will_payload = json_payload();
      s.will_qos = static_cast<int>(rng_.below(4));  // 3 is invalid
      s.will_retain = rng_.chance(0.5);
    }
    Bytes p = connect_packet(s);
    if (rng_.chance(0.3) && p.size() > 4) {
      // Cut somewhere inside, or a byte flipped.
      if (rng_.chance(0.5))
        p.resize(2 + rng_.below(p.size() - 2));
      else
        p[2 + rng_.below(p.size() - 2)] ^= static_cast<char>(1 + rng_.below(255));
    }
    send(fd, p);
    for (int i = 0, n = static_cast<int>(rng_.below(4)); i < n; ++i)
      send(fd, any_packet(s.version));
    if (rng_.chance(0.3))
      keep(fd, s.version, false);
    else
      ::close(fd);
  }

  // Logs in as an own device and sends a burst of packets, then keeps the
  // connection (for later packets) or drops it, often without DISCONNECT
  // so that its will fires.
  void session() {
    note("session");
    int fd = open_socket();
    if (fd < 0) return;
    // Drawn before anything is sent: a socket the broker closes early does
    // not change what the seed draws next.
    ConnectSpec s = good_login();
    std::vector<Bytes> burst{connect_packet(s)};
    for (auto n = rng_.below(30); n > 0; --n) burst.push_back(wellformed_packet(s.version));
    if (rng_.chance(0.3)) burst.push_back(any_packet(s.version));  // and maybe one that is not
    const bool keep_it = rng_.chance(0.6);
    ++stats_.logins;
    bool open = true;
    for (const auto& p : burst) {
      if (!(open = send(fd, p))) break;
    }
    if (open && keep_it)
      keep(fd, s.version, true);
    else
      ::close(fd);
  }

  // CONNECTs with passwords that must not work, many of them with the
  // client id of a legitimate device that is online right now.
  void bad_password() {
    note("bad_password");
    int fd = open_socket();
    if (fd < 0) return;
    ConnectSpec s;
    s.version = rng_.chance(0.5) ? 5 : 4;
    const bool victim = rng_.chance(0.6);
    const Identity& me = rng_.pick(own_);
    s.client_id = victim ? rng_.pick(victims_) : me.id;
    s.username = s.client_id;
    switch (rng_.below(9)) {
      case 0:
        s.password = "";
        break;
      case 1:
        s.password = Bytes(64, '0');
        break;
      case 2:
        s.password = Bytes(65535, 'f');
        break;
      case 3:
        s.password = rng_.bytes(64);
        break;
      case 4:
        s.password = Bytes("\0\0\0\0", 4);
        break;
      case 5:  // an own device's password, three hours old, or for the victim's id
        s.password = password_for_hour(me.secret_hash, victim ? s.client_id : me.id,
                                       hour_of(unix_s()) - (victim ? 0 : 3));
        break;
      case 6:
        s.password.reset();
        break;  // no password at all
      case 7:   // a password flag without a username (3.1.1 forbids it)
        s.username.reset();
        s.password = "x";
        break;
      default:  // the right password with a NUL after it
        s.password = password_for_hour(me.secret_hash, me.id, hour_of(unix_s())) + Bytes(1, '\0');
        break;
    }
    send(fd, connect_packet(s));
    if (rng_.chance(0.5)) send(fd, publish_packet(s.version));
    if (rng_.chance(0.3))
      keep(fd, s.version, false);
    else
      ::close(fd);
  }

  // One own device logs in again and again on overlapping sockets: each
  // login takes the session over from the one before.
  void reconnect_storm() {
    note("reconnect_storm");
    const Identity& me = rng_.pick(own_);
    std::vector<int> fds;
    for (int i = 0, n = 5 + static_cast<int>(rng_.below(20)); i < n; ++i) {
      int fd = open_socket();
      if (fd < 0) break;
      ConnectSpec s;
      s.version = rng_.chance(0.5) ? 5 : 4;
      s.client_id = s.username.emplace(me.id);
      s.password = password_for_hour(me.secret_hash, me.id, hour_of(unix_s()));
      s.clean = rng_.chance(0.5);
      ++stats_.logins;
      send(fd, connect_packet(s));
      if (rng_.chance(0.3)) send(fd, publish_packet(s.version));
      fds.push_back(fd);
      if (rng_.chance(0.5)) {
        const std::size_t k = rng_.below(fds.size());
        ::close(fds[k]);
        fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(k));
      }
    }
    for (int fd : fds) {
      if (rng_.chance(0.2))
        keep(fd, 4, true);
      else
        ::close(fd);
    }
  }

  // Remaining lengths that lie: huge, 5 bytes long, or longer than what
  // follows (and then silence or a close).
  void broken_length() {
    note("broken_length");
    int fd = open_socket();
    if (fd < 0) return;
    Bytes p;
    if (rng_.chance(0.5)) {
      ConnectSpec s = good_login();
      ++stats_.logins;
      send(fd, connect_packet(s));
    }
    static const unsigned headers[] = {0x10, 0x30, 0x32, 0x82, 0xa2, 0xc0, 0xe0, 0xf0};
    p.push_back(static_cast<char>(headers[rng_.below(8)]));
    switch (rng_.below(4)) {
      case 0:
        p += "\xff\xff\xff\x7f";
        break;  // 268435455 bytes announced
      case 1:
        p += "\xff\xff\xff\xff\x01";
        break;  // a fifth length byte
      case 2:
        p += varint(70000 + static_cast<std::uint32_t>(rng_.below(1000000)));
        break;
      default:
        p += varint(static_cast<std::uint32_t>(100 + rng_.below(1000)));
        break;
    }
    p += rng_.bytes(rng_.below(64));
    send(fd, p);
    if (rng_.chance(0.5))
      keep(fd, 4, false);  // a half-sent packet left hanging
    else
      ::close(fd);
  }

  void subscribe_flood() {
    note("subscribe_flood");
    int fd = open_socket();
    if (fd < 0) return;
    ConnectSpec s = good_login();
    s.will_topic.reset();
    ++stats_.logins;
    send(fd, connect_packet(s));
    std::vector<Bytes> burst(50 + rng_.below(150));
    for (auto& p : burst) {
      const bool unsubscribe = rng_.chance(0.4);
      p = rng_.chance(0.95) ? wellformed_subscribe(s.version, unsubscribe)
                            : subscribe_packet(s.version, unsubscribe);
    }
    for (const auto& p : burst) {
      if (!send(fd, p)) break;
    }
    if (rng_.chance(0.5))
      keep(fd, s.version, true);
    else
      ::close(fd);
  }

  // Which connections are still open depends on the broker's timing: what
  // goes to them is drawn from pool_rng_, so that rng_'s stream, and with
  // it everything else the fuzzer sends, stays the seed's.
  void more_on_open_connections() {
    note("more_on_open");
    if (conns_.empty()) return;
    Conn& c = conns_[pool_rng_.below(conns_.size())];
    std::swap(rng_, pool_rng_);  // the generators draw from rng_
    std::vector<Bytes> burst(1 + rng_.below(10));
    for (auto& p : burst) {
      p = c.authenticated && rng_.chance(0.9) ? wellformed_packet(c.version)
                                              : any_packet(c.version);
    }
    std::swap(rng_, pool_rng_);
    for (const auto& p : burst) {
      if (!send(c.fd, p)) break;
    }
  }

  int port_;
  // The seed's stream: every draw but those that depend on which sockets
  // the broker has closed, which come from pool_rng_.
  Rng rng_;
  Rng pool_rng_;
  std::vector<Identity> own_;
  std::vector<std::string> victims_;
  std::vector<Bytes> topics_;      // names and filters, well-formed or not
  std::vector<Bytes> filters_;     // well-formed topic filters
  std::vector<Bytes> pub_topics_;  // well-formed topic names (no wildcard)
  std::vector<Conn> conns_;
  FuzzStats stats_;
};

// ---------------------------------------------------------------- the broker's side

std::size_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_CASE(
    "mqtt fuzz: adversarial packets beside a legitimate fleet leave it delivered, stored and "
    "connected",
    "[fuzz]") {
  const std::uint64_t seed = env_u64("RS1_FUZZ_SEED", std::random_device{}());
  const auto seconds = static_cast<int>(env_u64("RS1_FUZZ_SECONDS", 30));
  std::cout << "mqtt-fuzz: seed " << seed << " (RS1_FUZZ_SEED=" << seed << " replays it), "
            << seconds << " s" << std::endl;
  INFO("seed " << seed);

  BrokerRunner broker(opts({{"ingest_flush_ms", "50"}}));
  Fleet fleet(broker.db_path());
  const Account svc = fleet.add_account("backend", Role::service);
  std::vector<Device> legit;
  std::vector<std::string> victims;
  for (int i = 0; i < 4; ++i) {
    legit.push_back(fleet.add_device("legit-" + std::to_string(i)));
    victims.push_back(legit.back().id);
  }
  std::vector<Identity> own;
  for (int i = 0; i < 4; ++i) {
    Device d = fleet.add_device("fz-" + std::to_string(i));
    own.push_back({d.id, d.secret_hash});
  }
  broker.sync_changes();

  auto service = connect_account(broker, svc, Protocol::v5);
  REQUIRE(service->subscribe("opticworks/+/telemetry/#", 1) == 1);
  std::vector<std::unique_ptr<MqttClient>> clients;
  for (std::size_t i = 0; i < legit.size(); ++i) {
    clients.push_back(connect_device(broker, legit[i], i % 2 ? Protocol::v5 : Protocol::v311));
  }

  std::uint64_t rss_start = rss_kib(broker.pid());
  MqttFuzzer fuzzer(broker.port(), seed, own, victims);
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::seconds(seconds);
  std::thread fuzz_thread([&] { fuzzer.run(until); });

  // The legitimate fleet: each device one QoS 1 row every 200 ms (300 a
  // minute, under the 600 rate limit), each answered with a PUBACK.
  std::map<std::string, std::set<std::string>> sent;  // device -> payloads
  std::map<std::string, int> bad_acks;
  std::uint64_t rss_warm = 0, rss_peak = 0;
  std::int64_t seq = 0;
  while (Clock::now() < until) {
    for (std::size_t i = 0; i < legit.size(); ++i) {
      const std::string payload = json{{"seq", ++seq}, {"t", 20 + seq % 10}}.dump();
      const int rc = clients[i]->publish("opticworks/" + legit[i].id + "/telemetry/temp", payload,
                                         1, false, 10s);
      if (rc == 0)
        sent[legit[i].id].insert(payload);
      else
        ++bad_acks[legit[i].id];
    }
    std::this_thread::sleep_for(200ms);
    if (!rss_warm && Clock::now() - t0 >= 5s) rss_warm = rss_kib(broker.pid());
    rss_peak = std::max<std::uint64_t>(rss_peak, rss_kib(broker.pid()));
  }
  fuzz_thread.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();

  REQUIRE(broker.running());
  const FuzzStats& st = fuzzer.stats();
  std::ostringstream scen;
  for (const auto& [name, n] : st.scenarios) scen << " " << name << "=" << n;

  // Every legitimate message arrives once at the service, nothing else on
  // the legitimate devices' topics does, and each is stored once.
  std::size_t legit_sent = 0;
  for (const auto& [id, payloads] : sent) legit_sent += payloads.size();
  std::map<std::string, std::multiset<std::string>> delivered;
  std::size_t delivered_legit = 0;
  auto collect = [&] {
    while (auto m = service->wait_for_message(0ms)) {
      const std::string prefix = "opticworks/legit-";
      if (m->topic.rfind(prefix, 0) != 0) continue;
      const std::string id = m->topic.substr(11, m->topic.find('/', 11) - 11);
      delivered[id].insert(m->payload);
      ++delivered_legit;
    }
    return delivered_legit >= legit_sent;
  };
  wait_until(collect, 20s, 50ms);
  std::this_thread::sleep_for(500ms);  // anything extra would show up now
  collect();
  bool stored_all = wait_until(
      [&] {
        for (const auto& d : legit) {
          if (fleet.telemetry_count(d.id) != sent[d.id].size()) return false;
        }
        return true;
      },
      20s, 100ms);

  for (std::size_t i = 0; i < legit.size(); ++i) {
    const std::string& id = legit[i].id;
    CAPTURE(id);
    CHECK(bad_acks[id] == 0);
    CHECK(sent[id].size() > 0);
    CHECK(std::multiset<std::string>(sent[id].begin(), sent[id].end()) == delivered[id]);
    CHECK(clients[i]->connected());
    std::multiset<std::string> rows;
    for (const auto& r : fleet.telemetry(id)) rows.insert(r.payload);
    CHECK(std::multiset<std::string>(sent[id].begin(), sent[id].end()) == rows);
    CHECK(fleet.online(id));
  }
  CHECK(stored_all);
  CHECK(service->connected());

  // Every fuzzer socket is closed: its devices end offline.
  for (const auto& o : own) {
    CAPTURE(o.id);
    CHECK(wait_until([&] { return !fleet.online(o.id); }, 5s, 50ms));
  }

  std::this_thread::sleep_for(1s);
  const std::uint64_t rss_end = rss_kib(broker.pid());
  std::cout << "mqtt-fuzz: " << st.packets << " packets (" << st.bytes / 1024 << " KiB) on "
            << st.connections << " connections (" << st.logins << " good logins, "
            << st.closed_by_broker << " closed by the broker) in " << elapsed << " s;" << scen.str()
            << "\n"
            << "mqtt-fuzz: legitimate: " << legit_sent << " sent, " << delivered_legit
            << " delivered, "
            << fleet.telemetry_count(legit[0].id) + fleet.telemetry_count(legit[1].id) +
                   fleet.telemetry_count(legit[2].id) + fleet.telemetry_count(legit[3].id)
            << " stored\n"
            << "mqtt-fuzz: broker VmRSS " << rss_start << " KiB at start, " << rss_warm
            << " KiB after 5 s, peak " << rss_peak << " KiB, " << rss_end << " KiB at the end"
            << std::endl;
  CHECK(st.packets > 1000);
  CHECK(broker.running());
  // Bounded memory: after the warm-up (sessions, subscriptions, SQLite's
  // cache) the broker may keep what it holds, but not keep growing with the
  // stream. The sanitizer runtimes keep memory of their own (TSan a history
  // per thread and shadow memory): more room there.
#ifdef RS1_TSAN_RUNTIME
  constexpr std::uint64_t kMaxGrowthKiB = 96 * 1024;
#elif defined(RS1_ASAN_RUNTIME)
  // AddressSanitizer keeps up to 256 MiB of freed memory in quarantine.
  constexpr std::uint64_t kMaxGrowthKiB = 320 * 1024;
#else
  constexpr std::uint64_t kMaxGrowthKiB = 24 * 1024;
#endif
  CHECK(rss_end < rss_warm + kMaxGrowthKiB);
  CHECK(rss_warm > 0);
}
