#include "bench.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/identity.hpp"
#include "features/ota/firmware.hpp"
#include "features/ota/rollout.hpp"
#include "rs1-sim/broker_process.hpp"
#include "rs1-sim/client_loop.hpp"
#include "rs1-sim/command.hpp"
#include "rs1-sim/fleet.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include "store/sqlite.hpp"

namespace rs1::sim {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

constexpr int kPubackNoSubscribers = 0x10;  // v5: accepted, nobody subscribed
// Devices per worker process in (e): 3 descriptors each, under 20,000.
constexpr int kDevicesPerWorker = 5000;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

// A client identity: anonymous (vanilla) or a provisioned device.
struct Identity {
  std::string client_id;
  std::string secret_hash;  // empty: anonymous
  ClientOptions options(std::int64_t now_s) const {
    ClientOptions o;
    o.client_id = client_id;
    if (!secret_hash.empty()) {
      o.username = client_id;
      o.password = password_for_hour(secret_hash, client_id, hour_of(now_s));
    }
    return o;
  }
};

// The devices of one run, provisioned on the plugin broker's database before
// it starts; the vanilla broker gets the same client ids, anonymous.
class DeviceSet {
 public:
  DeviceSet(const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "%s-%05d", prefix.c_str(), i);
      // Any 64-hex secret will do; a real random one costs an RNG call each.
      std::string secret = sha256_hex(std::string(id) + "-bench-secret");
      devices_.push_back({id, sha256_hex(secret)});
      secrets_.push_back(SimDevice{id, secret});
    }
  }
  // As rs1-sim fleet takes them: id and secret.
  const std::vector<SimDevice>& sim_devices() const { return secrets_; }
  Identity identity(int i, bool with_plugin) const {
    return {devices_[static_cast<std::size_t>(i)].first,
            with_plugin ? devices_[static_cast<std::size_t>(i)].second : std::string()};
  }
  void provision(const std::string& db_path) const {
    auto store = open_sqlite(db_path, SqliteTuning::interactive);
    store->migrate();
    std::vector<NewDevice> batch;
    for (const auto& [id, hash] : devices_)
      batch.push_back(NewDevice{id, std::string("bench"), hash});
    store->devices().add(batch, unix_now());
  }
  int size() const { return static_cast<int>(devices_.size()); }

 private:
  std::vector<std::pair<std::string, std::string>> devices_;
  std::vector<SimDevice> secrets_;
};

std::string telemetry_topic(const std::string& id) { return "opticworks/" + id + "/telemetry/env"; }

// Holds the publishers until all are connected, so the clock starts when
// every one of them can send.
class StartGate {
 public:
  explicit StartGate(int parties) : waiting_(parties) {}
  void arrive() {
    std::unique_lock<std::mutex> lock(m_);
    if (--waiting_ == 0) {
      start_ = Clock::now();
      cv_.notify_all();
    }
    cv_.wait(lock, [&] { return waiting_ <= 0; });
  }
  // For a publisher that failed before arriving: nobody waits for it.
  void withdraw() { arrive(); }
  Clock::time_point start() {
    std::lock_guard<std::mutex> lock(m_);
    return start_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int waiting_;
  Clock::time_point start_;
};

struct FloodResult {
  std::int64_t sent = 0;
  std::int64_t acknowledged = 0;  // QoS 0: sent before an acknowledged barrier
  std::int64_t refused = 0;       // QoS 1 PUBACK with a failure reason
  Clock::time_point finished;
  std::string error;
};

// One publisher on its own thread and loop: `count` telemetry messages as
// fast as the broker takes them. QoS 0 ends with a QoS 1 barrier: the broker
// handles one connection's packets in order, so its PUBACK means every
// message before it was handled. (Message ids are no use for QoS 0: they wrap
// at 65,535 and libmosquitto reports QoS 0 "published" when written.)
class Flood : public ClientHandler {
 public:
  Flood(int port, Identity id, int count, int qos, StartGate& gate)
      : port_(port), id_(std::move(id)), count_(count), qos_(qos), gate_(gate) {}

  FloodResult run() {
    bool arrived = false;
    try {
      Client& c = loop_.add(id_.options(unix_now()), *this);
      if (loop_.connect(c, "127.0.0.1", port_) != MOSQ_ERR_SUCCESS) fail("cannot connect");
      if (!loop_.run_until([&] { return connack_ >= 0 || lost_; }, 10s) || connack_ != 0) {
        fail("login refused or timed out (CONNACK " + std::to_string(connack_) + ")");
      }
      gate_.arrive();
      arrived = true;
      if (qos_ == 0) {
        run_qos0(c);
      } else {
        run_qos1(c);
      }
      result_.finished = Clock::now();
      c.disconnect();
      loop_.run_until([&] { return !c.open(); }, 5s);
    } catch (const std::exception& e) {
      result_.error = id_.client_id + ": " + e.what();
      if (!arrived) gate_.withdraw();
    }
    return result_;
  }

  void on_connect(Client&, int rc) override { connack_ = rc; }
  void on_disconnect(Client&, int) override { lost_ = true; }
  void on_publish(Client&, int mid, int reason) override {
    if (qos_ == 0) {
      if (barrier_mid_ >= 0 && mid == barrier_mid_) barrier_reason_ = reason;
      return;
    }
    if (reason == 0 || reason == kPubackNoSubscribers) {
      ++result_.acknowledged;
    } else {
      ++result_.refused;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) { throw std::runtime_error(why); }

  void drain(Client& c) {
    while (c.backlogged()) {
      if (lost_) fail("connection lost after " + std::to_string(result_.sent) + " messages");
      loop_.run_once(50ms);
    }
  }

  void run_qos0(Client& c) {
    const std::string topic = telemetry_topic(id_.client_id);
    for (int i = 0; i < count_; ++i) {
      if (c.publish(topic, bench_telemetry_payload(static_cast<std::uint64_t>(i)), 0) !=
          MOSQ_ERR_SUCCESS) {
        fail("publish failed after " + std::to_string(result_.sent) + " messages");
      }
      ++result_.sent;
      if (i % 64 == 63) drain(c);
    }
    drain(c);
    // Every QoS 0 callback has fired now, so the barrier's mid is unambiguous.
    int mid = -1;
    if (c.publish(topic, bench_telemetry_payload(static_cast<std::uint64_t>(count_)), 1, false,
                  &mid) != MOSQ_ERR_SUCCESS) {
      fail("barrier publish failed");
    }
    barrier_mid_ = mid;
    ++result_.sent;
    if (!loop_.run_until([&] { return barrier_reason_ >= 0 || lost_; }, 120s) ||
        barrier_reason_ < 0) {
      fail("no PUBACK for the barrier");
    }
    if (barrier_reason_ != 0 && barrier_reason_ != kPubackNoSubscribers) {
      fail("the barrier was refused (reason " + std::to_string(barrier_reason_) + ")");
    }
    result_.acknowledged = result_.sent;
  }

  void run_qos1(Client& c) {
    const std::string topic = telemetry_topic(id_.client_id);
    // libmosquitto keeps what exceeds the broker's receive maximum queued
    // and sends it as PUBACKs free the window.
    for (int i = 0; i < count_; ++i) {
      if (c.publish(topic, bench_telemetry_payload(static_cast<std::uint64_t>(i)), 1) !=
          MOSQ_ERR_SUCCESS) {
        fail("publish failed after " + std::to_string(result_.sent) + " messages");
      }
      ++result_.sent;
      if (i % 64 == 63) loop_.run_once(0ms);
    }
    if (!loop_.run_until([&] { return result_.acknowledged + result_.refused == count_ || lost_; },
                         300s) ||
        lost_) {
      fail("only " + std::to_string(result_.acknowledged + result_.refused) + " of " +
           std::to_string(count_) + " PUBACKs arrived");
    }
  }

  int port_;
  Identity id_;
  int count_;
  int qos_;
  StartGate& gate_;
  ClientLoop loop_;
  FloodResult result_;
  int connack_ = -1;
  bool lost_ = false;
  int barrier_mid_ = -1;
  int barrier_reason_ = -1;
};

// Busy and total CPU time of the whole machine so far (/proc/stat), to show
// whether a run had idle cores left or was bound by the CPU it shares with
// the load generator.
struct CpuTimes {
  std::uint64_t busy = 0;
  std::uint64_t stolen = 0;  // taken by other guests of the host
  std::uint64_t total = 0;
  static CpuTimes now() {
    // cpu user nice system idle iowait irq softirq steal
    std::ifstream stat("/proc/stat");
    std::string cpu;
    CpuTimes t;
    stat >> cpu;
    for (int i = 0; i < 8; ++i) {
      std::uint64_t v = 0;
      stat >> v;
      t.total += v;
      if (i == 7) {
        t.stolen += v;
      } else if (i != 3 && i != 4) {
        t.busy += v;
      }
    }
    return t;
  }
};

// What a broker process has used, from /proc/PID/task: CPU seconds of its
// main thread (mosquitto's loop and every plugin callback), of the plugin's
// ingest writer (the thread named rs1-writer) and of all its other threads;
// the main thread's minor page faults and context switches (voluntary and
// not), as perf stat -t would count them.
struct BrokerCpu {
  double main_s = 0;
  double writer_s = 0;
  double others_s = 0;  // every thread but the main one, the writer included
  double main_faults = 0;
  double main_switches = 0;
  double main_preempted = 0;  // the involuntary share of main_switches
  bool has_writer = false;  // a thread named rs1-writer was found
  static BrokerCpu of(pid_t pid) {
    BrokerCpu cpu;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::ifstream stat(entry.path() / "stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      auto open = text.find('(');
      auto paren = text.rfind(')');  // the thread name may hold spaces
      if (open == std::string::npos || paren == std::string::npos) continue;
      const std::string name = text.substr(open + 1, paren - open - 1);
      std::istringstream fields(text.substr(paren + 2));
      std::string field;
      double utime = 0, stime = 0, minflt = 0;
      // Fields 3..13 precede utime (14) and stime (15); minflt is 10.
      for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 10) minflt = std::stod(field);
        if (i == 14) utime = std::stod(field);
        if (i == 15) stime = std::stod(field);
      }
      double seconds = (utime + stime) / tick;
      if (entry.path().filename() != std::to_string(pid)) {
        cpu.others_s += seconds;
        if (name == "rs1-writer") {
          cpu.writer_s += seconds;
          cpu.has_writer = true;
        }
        continue;
      }
      cpu.main_s += seconds;
      cpu.main_faults = minflt;
      std::ifstream status(entry.path() / "status");
      for (std::string line; std::getline(status, line);) {
        const bool voluntary = line.rfind("voluntary_ctxt_switches:", 0) == 0;
        if (voluntary || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
          const double n = std::stod(line.substr(line.find(':') + 1));
          cpu.main_switches += n;
          if (!voluntary) cpu.main_preempted += n;
        }
      }
    }
    return cpu;
  }
};

struct Throughput {
  double rate = 0;        // messages/s
  double cpu_busy = 0;    // share of the machine's CPU in use during the run
  double cpu_stolen = 0;  // share the host gave to other guests
  std::int64_t acknowledged = 0;
  std::int64_t refused = 0;
};

Throughput run_flood(int port, const DeviceSet& devices, bool with_plugin, int publishers,
                     int count, int qos, std::vector<std::string>& errors) {
  StartGate gate(publishers);
  std::vector<FloodResult> results(static_cast<std::size_t>(publishers));
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p) {
    threads.emplace_back([&, p] {
      Flood flood(port, devices.identity(p, with_plugin), count, qos, gate);
      results[static_cast<std::size_t>(p)] = flood.run();
    });
  }
  CpuTimes cpu_before = CpuTimes::now();
  for (auto& t : threads) t.join();
  Throughput out;
  CpuTimes cpu_after = CpuTimes::now();
  if (auto dt = cpu_after.total - cpu_before.total) {
    out.cpu_busy = static_cast<double>(cpu_after.busy - cpu_before.busy) / static_cast<double>(dt);
    out.cpu_stolen =
        static_cast<double>(cpu_after.stolen - cpu_before.stolen) / static_cast<double>(dt);
  }
  Clock::time_point end = gate.start();
  std::int64_t sent = 0;
  for (const auto& r : results) {
    if (!r.error.empty()) errors.push_back((with_plugin ? "plugin: " : "vanilla: ") + r.error);
    end = std::max(end, r.finished);
    sent += r.sent;
    out.acknowledged += r.acknowledged;
    out.refused += r.refused;
  }
  double s = seconds_between(gate.start(), end);
  out.rate = s > 0 ? static_cast<double>(out.acknowledged + out.refused) / s : 0;
  return out;
}

// ---------------------------------------------------------------- logins

// `lanes` clients log in one after another each: connect, CONNACK,
// DISCONNECT, next; every login a different device.
class LoginLanes : public ClientHandler {
 public:
  LoginLanes(int port, std::vector<ClientOptions> logins, int lanes)
      : port_(port), logins_(std::move(logins)), lanes_(lanes) {}

  // Logins per second; errors name what failed.
  double run(std::vector<std::string>& errors, const std::string& who) {
    auto start = Clock::now();
    for (int l = 0; l < lanes_; ++l) start_next();
    bool done = loop_.run_until([&] { return finished_ == static_cast<int>(logins_.size()); },
                                std::chrono::seconds(30 + logins_.size() / 50));
    auto end = Clock::now();
    if (!done) {
      errors.push_back(who + ": only " + std::to_string(finished_) + " of " +
                       std::to_string(logins_.size()) + " logins finished");
    }
    if (refused_ > 0) errors.push_back(who + ": " + std::to_string(refused_) + " logins refused");
    return static_cast<double>(accepted_) / seconds_between(start, end);
  }

  void on_connect(Client& c, int rc) override {
    if (rc == 0) {
      ++accepted_;
      c.disconnect();  // on_disconnect follows once DISCONNECT is written
    } else {
      ++refused_;
      // The broker closes the connection; on_disconnect follows.
    }
  }
  void on_disconnect(Client& c, int) override {
    ++finished_;
    loop_.remove(c);
    loop_.post([this] { start_next(); });
  }

 private:
  void start_next() {
    if (next_ >= logins_.size()) return;
    Client& c = loop_.add(logins_[next_++], *this);
    if (loop_.connect(c, "127.0.0.1", port_) != MOSQ_ERR_SUCCESS) {
      ++refused_;
      ++finished_;
      loop_.remove(c);
      loop_.post([this] { start_next(); });
    }
  }

  int port_;
  std::vector<ClientOptions> logins_;
  int lanes_;
  ClientLoop loop_;
  std::size_t next_ = 0;
  int accepted_ = 0;
  int refused_ = 0;
  int finished_ = 0;
};

// ---------------------------------------------------------------- connections

// Connects `count` devices the way RS-1 firmware does (CONNECT, subscribe its
// three downlinks, publish its state with QoS 1) and keeps them connected.
class ConnectedFleet : public ClientHandler {
 public:
  // Devices [first, first + count) of `devices`.
  ConnectedFleet(int port, const DeviceSet& devices, bool with_plugin, int first, int count)
      : port_(port), devices_(devices), with_plugin_(with_plugin), first_(first), count_(count) {}

  // Empty when every device is connected, subscribed and has its state
  // acknowledged; else what went wrong.
  std::string connect_all() {
    auto now = unix_now();
    bool done = loop_.run_until(
        [&] {
          while (next_ < count_ && pending_ < kConnectWindow && failed_ == 0) {
            Client& c =
                loop_.add(devices_.identity(first_ + next_, with_plugin_).options(now), *this);
            ++next_;
            ++pending_;
            int rc = loop_.connect(c, "127.0.0.1", port_);
            if (rc != MOSQ_ERR_SUCCESS) {
              fail(c, std::string("connect: ") + mosquitto_strerror(rc));
              break;
            }
          }
          return ready_ == count_ || failed_ > 0;
        },
        std::chrono::seconds(60 + count_ / 100));
    if (!done || failed_ > 0) {
      return std::to_string(ready_) + " of " + std::to_string(count_) + " devices connected; " +
             (failed_ ? first_failure_ : "timed out");
    }
    return {};
  }

  // Keeps the connections serviced (keepalives) until `done()` holds.
  void hold(const std::function<bool()>& done) { loop_.run_until(done, std::chrono::hours(1)); }

  void on_connect(Client& c, int rc) override {
    --pending_;
    if (rc != 0) {
      fail(c, "CONNACK " + std::to_string(rc));
      return;
    }
    const std::string base = "opticworks/" + c.id();
    for (const char* downlink : {"/ota/trigger", "/config/update", "/diag/request"}) {
      c.subscribe(base + downlink, 1);
    }
    c.publish(base + "/state", R"({"firmware_version":"1.0.0","uptime_s":1})", 1);
  }
  void on_disconnect(Client& c, int rc) override {
    fail(c, std::string("connection lost: ") + mosquitto_strerror(rc));
  }
  void on_subscribe(Client& c, int) override { progress(c, 1); }
  void on_publish(Client& c, int, int) override { progress(c, 1); }

 private:
  void fail(Client& c, const std::string& why) {
    if (failed_++ == 0) first_failure_ = c.id() + ": " + why;
  }

  void progress(Client& c, int step) {
    c.tag += static_cast<std::size_t>(step);
    if (c.tag == 4) ++ready_;  // three SUBACKs and the state's PUBACK
  }

  int port_;
  const DeviceSet& devices_;
  bool with_plugin_;
  int first_;
  int count_;
  ClientLoop loop_;
  int next_ = 0;
  int pending_ = 0;
  int ready_ = 0;
  int failed_ = 0;
  std::string first_failure_;
};

// The devices are spread over worker processes, a few thousand each, so no
// process needs more descriptors than an unprivileged container's hard limit
// (20,000 here) allows, whatever the count asked for. Each worker
// process holds a slice of the devices on its own loop, says "ok" (or what
// failed) on its pipe once all of its devices are up, and keeps them
// connected until its control pipe closes.
class FleetWorkers {
 public:
  FleetWorkers(int port, const DeviceSet& devices, bool with_plugin, int count, int per_worker) {
    for (int first = 0; first < count; first += per_worker) {
      int n = std::min(per_worker, count - first);
      int status_pipe[2], control_pipe[2];
      if (::pipe2(status_pipe, O_CLOEXEC) != 0 || ::pipe2(control_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
      }
      std::cout.flush();
      std::cerr.flush();
      pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::close(status_pipe[0]);
        ::close(control_pipe[1]);
        int code = 0;
        try {
          ConnectedFleet fleet(port, devices, with_plugin, first, n);
          std::string failure = fleet.connect_all();
          std::string line = failure.empty() ? "ok\n" : failure + "\n";
          (void)!::write(status_pipe[1], line.data(), line.size());
          if (failure.empty()) {
            fleet.hold([fd = control_pipe[0]] {
              pollfd p{fd, POLLIN, 0};
              return ::poll(&p, 1, 0) != 0;  // data or EOF: the parent is done
            });
          }
        } catch (const std::exception& e) {
          std::string line = std::string(e.what()) + "\n";
          (void)!::write(status_pipe[1], line.data(), line.size());
          code = 1;
        }
        ::_exit(code);  // no parent destructors in the child
      }
      ::close(status_pipe[1]);
      ::close(control_pipe[0]);
      workers_.push_back({pid, status_pipe[0], control_pipe[1]});
    }
  }

  ~FleetWorkers() {
    for (auto& w : workers_) {
      ::close(w.control);
      ::close(w.status);
    }
    for (auto& w : workers_) {
      int status = 0;
      ::waitpid(w.pid, &status, 0);
    }
  }

  // Empty once every worker said "ok"; else the first failure.
  std::string wait_ready(Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    for (auto& w : workers_) {
      std::string line;
      char ch = 0;
      while (line.empty() || line.back() != '\n') {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd p{w.status, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
          return "timed out waiting for the connections";
        }
        if (::read(w.status, &ch, 1) != 1) return "a worker process died";
        line += ch;
      }
      line.pop_back();
      if (line != "ok") return line;
    }
    return {};
  }

 private:
  struct Worker {
    pid_t pid;
    int status;
    int control;
  };
  std::vector<Worker> workers_;
};

// ---------------------------------------------------------------- latency

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::int64_t acknowledged = 0;
};

// One device publishes at a steady rate; a reader polls the database (it
// sees each commit through data_version) and times every row from its
// publish to the commit that made it visible. One connection and one FIFO
// writer: row n is message n.
Latency run_latency(BrokerProcess& broker, const Identity& id, int messages, int rate,
                    std::vector<std::string>& errors) {
  std::vector<std::atomic<std::int64_t>> sent_ns(static_cast<std::size_t>(messages));
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(messages));
  std::string reader_error;  // the poller's own: `errors` belongs to this thread
  auto ns_now = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  };

  std::thread poller([&] {
    try {
      auto store = open_sqlite(broker.db_path(), SqliteTuning::background);
      std::int64_t seen = store->telemetry().count();
      auto deadline = Clock::now() + std::chrono::seconds(30 + messages / std::max(rate, 1));
      while (seen < messages && Clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
        if (!store->change_feed().may_have_changed()) continue;
        std::int64_t n = std::min<std::int64_t>(store->telemetry().count(), messages);
        auto now = ns_now();
        for (; seen < n; ++seen) {
          auto t = sent_ns[static_cast<std::size_t>(seen)].load(std::memory_order_acquire);
          latencies.push_back(static_cast<double>(now - t) / 1e6);
        }
      }
    } catch (const std::exception& e) {
      reader_error = std::string("latency reader: ") + e.what();
    }
  });

  struct Pacer : ClientHandler {
    int connack = -1;
    void on_connect(Client&, int rc) override { connack = rc; }
  } pacer;
  Latency out;
  {
    ClientLoop loop;
    Client& c = loop.add(id.options(unix_now()), pacer);
    if (loop.connect(c, "127.0.0.1", broker.port()) == MOSQ_ERR_SUCCESS &&
        loop.run_until([&] { return pacer.connack >= 0; }, 10s) && pacer.connack == 0) {
      const std::string topic = telemetry_topic(id.client_id);
      auto start = Clock::now();
      for (int i = 0; i < messages; ++i) {
        auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * i / rate));
        while (Clock::now() < due)
          loop.run_once(
              std::chrono::ceil<std::chrono::milliseconds>(due - Clock::now()));  // 0 would spin
        sent_ns[static_cast<std::size_t>(i)].store(ns_now(), std::memory_order_release);
        if (c.publish(topic, bench_telemetry_payload(static_cast<std::uint64_t>(i)), 0) !=
            MOSQ_ERR_SUCCESS) {
          errors.push_back("latency: publish failed at message " + std::to_string(i));
          break;
        }
        ++out.acknowledged;
      }
      while (c.backlogged()) loop.run_once(10ms);
      c.disconnect();
      loop.run_until([&] { return !c.open(); }, 5s);
    } else {
      errors.push_back("latency: login refused or timed out");
    }
  }
  poller.join();
  if (!reader_error.empty()) errors.push_back(reader_error);
  if (static_cast<std::int64_t>(latencies.size()) < out.acknowledged) {
    errors.push_back("latency: only " + std::to_string(latencies.size()) + " of " +
                     std::to_string(out.acknowledged) + " rows were committed within the wait");
  }
  out.p50_ms = percentile(latencies, 0.50);
  out.p99_ms = percentile(latencies, 0.99);
  out.max_ms = latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end());
  return out;
}

// ---------------------------------------------------------------- the run

std::string machine_description(const std::string& mosquitto_bin) {
  std::string cpu;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::string version = "mosquitto";
  if (FILE* p = ::popen((mosquitto_bin + " -h 2>&1").c_str(), "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, p)) {
      version = buf;
      while (!version.empty() && (version.back() == '\n' || version.back() == '\r'))
        version.pop_back();
    }
    ::pclose(p);
  }
  long mem_gib = sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) / (1024L * 1024 * 1024);
  return std::to_string(std::thread::hardware_concurrency()) + " cores (" + cpu + "), " +
         std::to_string(mem_gib) + " GiB; " + version;
}

// ---------------------------------------------------------------- rollout (f)

// rs1ctl beside this program (build/tools/), empty when there is none.
std::string rs1ctl_path() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  fs::path ctl = self.parent_path() / "rs1ctl";
  return fs::exists(ctl, ec) ? ctl.string() : std::string();
}

int run_program(const std::string& path, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string p = path;
  argv.push_back(p.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, 1);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// An admin client that counts ota/trigger downlinks, and a second
// connection of the same admin that probes the broker thread with publish
// -> receive round trips on its own topic. The probe has a connection of
// its own so that its echo never waits behind the triggers still queued
// for the first one: its round trip is the broker thread's delay.
class TriggerWatch {
 public:
  TriggerWatch(int port, const std::string& user, const std::string& password, int expected)
      : expected_(expected) {
    mosq_ = connect_client(port, user, password, "bench-ota-watch");
    try {
      probe_ = connect_client(port, user, password, "bench-ota-probe");
    } catch (...) {
      shutdown();
      throw;
    }
    mosquitto_subscribe(mosq_, nullptr, "opticworks/+/ota/trigger", 0);
    mosquitto_subscribe(probe_, nullptr, "bench/probe", 0);
  }
  ~TriggerWatch() { shutdown(); }

  void start_probing() {
    probing_ = true;
    prober_ = std::thread([this] {
      while (probing_) {
        const auto sent = Clock::now();
        {
          std::lock_guard<std::mutex> lock(mu_);
          echoed_ = false;
        }
        mosquitto_publish(probe_, nullptr, "bench/probe", 1, "p", 0, false);
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, 10s, [&] { return echoed_ || !probing_; });
        if (!echoed_) break;
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
        // A probe sent before the last trigger counts, even when its echo
        // comes after it: the longest stall is often that very one.
        if (!done_ || sent < last_at_) {
          longest_ = std::max(longest_, ms);
          ++probes_;
        }
        lock.unlock();
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  double stop_probing() {
    probing_ = false;
    cv_.notify_all();
    if (prober_.joinable()) prober_.join();
    std::lock_guard<std::mutex> lock(mu_);
    return longest_;
  }
  bool wait_all(Clock::duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return received_ >= expected_; });
  }
  int received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  Clock::time_point last_at() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_at_;
  }
  std::int64_t probes() {
    std::lock_guard<std::mutex> lock(mu_);
    return probes_;
  }

 private:
  void on_message(const mosquitto_message* m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::string(m->topic) == "bench/probe") {
      echoed_ = true;
    } else if (++received_ >= expected_) {
      last_at_ = Clock::now();
      done_ = true;  // the stall counts up to the last trigger
    }
    cv_.notify_all();
  }
  void shutdown() {
    stop_probing();
    for (mosquitto** m : {&probe_, &mosq_}) {
      if (!*m) continue;
      mosquitto_disconnect(*m);
      mosquitto_loop_stop(*m, true);
      mosquitto_destroy(*m);
      *m = nullptr;
    }
  }
  // Connected (CONNACK 0) with its network thread running, or throws.
  mosquitto* connect_client(int port, const std::string& user, const std::string& password,
                            const char* client_id) {
    mosquitto* m = mosquitto_new(client_id, true, this);
    if (!m) throw std::runtime_error("mosquitto_new failed");
    mosquitto_username_pw_set(m, user.c_str(), password.c_str());
    mosquitto_message_callback_set(m, [](mosquitto*, void* self, const mosquitto_message* msg) {
      static_cast<TriggerWatch*>(self)->on_message(msg);
    });
    mosquitto_connect_callback_set(m, [](mosquitto*, void* self, int rc) {
      auto* w = static_cast<TriggerWatch*>(self);
      std::lock_guard<std::mutex> lock(w->mu_);
      w->connack_ = rc;
      w->cv_.notify_all();
    });
    {
      std::lock_guard<std::mutex> lock(mu_);
      connack_ = -1;
    }
    if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
      mosquitto_destroy(m);
      throw std::runtime_error(std::string("cannot connect ") + client_id);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, 10s, [&] { return connack_ >= 0; }) || connack_ != 0) {
      lock.unlock();
      mosquitto_disconnect(m);
      mosquitto_loop_stop(m, true);
      mosquitto_destroy(m);
      throw std::runtime_error(std::string(client_id) + " was refused");
    }
    return m;
  }

  int expected_;
  mosquitto* mosq_ = nullptr;
  mosquitto* probe_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  int connack_ = -1;
  int received_ = 0;
  bool echoed_ = false;
  bool done_ = false;
  Clock::time_point last_at_{};
  double longest_ = 0;
  std::int64_t probes_ = 0;
  std::atomic<bool> probing_{false};
  std::thread prober_;
};

std::string fmt(double v, int precision = 0);  // below, with the table

// API clients on their own threads, each looping on one request kind with
// a keep-alive connection until stopped: GET /api/v1/devices/{id} over the
// devices in turn, or PUT /api/v1/devices/{id}/zones on a device of its own
// with the ETag of its previous answer as If-Match.
class ApiLoad {
 public:
  enum class Kind { none, get_device, put_zones };
  ApiLoad(int port, std::string token, std::vector<std::string> device_ids, Kind kind, int clients)
      : port_(port), token_(std::move(token)), ids_(std::move(device_ids)), kind_(kind) {
    if (kind_ == Kind::none) return;
    started_ = Clock::now();
    for (int c = 0; c < clients; ++c) threads_.emplace_back([this, c] { loop(c); });
  }
  ~ApiLoad() { stop(); }
  // Requests per second answered as expected; failures in `errors`.
  double stop() {
    if (threads_.empty()) return 0;
    stopping_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    const double s = seconds_between(started_, Clock::now());
    return s > 0 ? static_cast<double>(ok_.load()) / s : 0;
  }
  std::int64_t failed() const { return failed_.load(); }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

 private:
  void fail(const std::string& what) {
    ++failed_;
    std::lock_guard<std::mutex> lock(mu_);
    if (first_error_.empty()) first_error_ = what;
  }
  void loop(int client) {
    httplib::Client http("127.0.0.1", port_);
    http.set_keep_alive(true);
    http.set_tcp_nodelay(true);  // as curl and browsers do
    http.set_read_timeout(10, 0);
    const httplib::Headers auth = {{"Authorization", "Bearer " + token_}};
    const std::string own = ids_[static_cast<std::size_t>(client) % ids_.size()];
    std::string etag;
    if (kind_ == Kind::put_zones) {
      auto r = http.Get(("/api/v1/devices/" + own + "/zones").c_str(), auth);
      if (!r || r->status != 200) return fail("GET zones: " + (r ? r->body : "no answer"));
      etag = r->get_header_value("ETag");
    }
    for (std::size_t i = static_cast<std::size_t>(client); !stopping_; i += 7) {
      if (kind_ == Kind::get_device) {
        auto r = http.Get(("/api/v1/devices/" + ids_[i % ids_.size()]).c_str(), auth);
        if (!r || r->status != 200) {
          fail("GET device: " + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
          continue;
        }
      } else {
        httplib::Headers h = auth;
        h.emplace("If-Match", etag);
        const std::string body =
            R"({"zones":[{"id":1,"name":"Desk","type":"detect","points":[[-500,500],[500,500],[0,)" +
            std::to_string(1000 + i % 4000) + R"(]]}],"sensitivity":5})";
        auto r =
            http.Put(("/api/v1/devices/" + own + "/zones").c_str(), h, body, "application/json");
        if (!r || r->status != 200) {
          fail("PUT zones: " + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
          continue;
        }
        etag = r->get_header_value("ETag");
      }
      ++ok_;
    }
  }

  int port_;
  std::string token_;
  std::vector<std::string> ids_;
  Kind kind_;
  Clock::time_point started_{};
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> ok_{0}, failed_{0};
  std::mutex mu_;
  std::string first_error_;
  std::vector<std::thread> threads_;
};

// One row of the report, before its figures.
ScenarioResult scenario(const std::string& key, const std::string& title, const std::string& unit,
                        const std::string& target) {
  ScenarioResult s;
  s.key = key;
  s.title = title;
  s.unit = unit;
  s.target = target;
  return s;
}

// ------------------------------------------------------------ (h) the peer

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                  static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// A dynamic-security client as mosquitto 2.0 stores it: PBKDF2-SHA512 of the
// password with a 12-byte salt, base64.
Json dynsec_client(const std::string& username, const std::string& password,
                   const std::string& role) {
  constexpr int kIterations = 101;
  unsigned char salt[12];
  unsigned char hash[64];
  if (RAND_bytes(salt, sizeof salt) != 1 ||
      PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, sizeof salt,
                        kIterations, EVP_sha512(), sizeof hash, hash) != 1) {
    throw std::runtime_error("cannot hash a dynamic-security password");
  }
  return Json{{"username", username},
              {"roles", Json::array({Json{{"rolename", role}}})},
              {"salt", base64(salt, sizeof salt)},
              {"password", base64(hash, sizeof hash)},
              {"iterations", kIterations}};
}

Json dynsec_role(const std::string& name, const std::string& acltype, const std::string& topic) {
  return Json{{"rolename", name},
              {"acls", Json::array({Json{{"acltype", acltype}, {"topic", topic}, {"allow", true}}})}};
}

// Rows in the peer's database, and distinct (device, payload) among them:
// the flood's payloads are numbered, so distinct rows are distinct messages.
struct PeerRows {
  std::int64_t rows = 0;
  std::int64_t distinct = 0;
};
PeerRows peer_rows(const std::string& db_path, bool distinct) {
  PeerRows out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    auto scalar = [&](const char* sql) {
      sqlite3_stmt* st = nullptr;
      std::int64_t v = 0;
      if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
      }
      sqlite3_finalize(st);
      return v;
    };
    out.rows = scalar("SELECT count(*) FROM telemetry");
    if (distinct) {
      out.distinct = scalar("SELECT count(*) FROM (SELECT DISTINCT device_id, payload FROM telemetry)");
    }
  }
  sqlite3_close(db);
  return out;
}

// rs1-ingest-peer as a child process: started, ready once it printed
// "subscribed", stopped with SIGTERM (commits its batch) or killed.
class PeerProcess {
 public:
  PeerProcess(const std::string& bin, int port, const std::string& username,
              const std::string& password, const std::string& db_path, int flush_ms) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {bin,        "--port",     std::to_string(port), "--username",
                                     username,   "--password", password,             "--db",
                                     db_path,    "--flush-ms", std::to_string(flush_ms)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
    std::string seen;
    const auto deadline = Clock::now() + 10s;
    while (seen.find("subscribed\n") == std::string::npos) {
      pollfd p{out_, POLLIN, 0};
      if (Clock::now() > deadline || ::poll(&p, 1, 200) < 0) break;
      char buf[256];
      if (p.revents & (POLLIN | POLLHUP)) {
        ssize_t n = ::read(out_, buf, sizeof buf);
        if (n <= 0) break;
        seen.append(buf, static_cast<std::size_t>(n));
      }
    }
    if (seen.find("subscribed\n") == std::string::npos) {
      kill();
      throw std::runtime_error("rs1-ingest-peer did not subscribe (" + bin + ")");
    }
  }
  ~PeerProcess() {
    if (pid_ > 0) stop();
    if (out_ >= 0) ::close(out_);
  }
  pid_t pid() const { return pid_; }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

class Bench {
 public:
  Bench(const BenchOptions& o, std::ostream& progress) : o_(o), progress_(progress) {}

  BenchReport run() {
    report_.machine = machine_description(o_.mosquitto_bin);
    progress_ << "rs1-sim bench: " << report_.machine << "\n"
              << "work directory " << work_dir_ << "\n";
    auto wanted = [&](char key) { return o_.scenarios.find(key) != std::string::npos; };
    if (wanted('a')) {
      throughput("a",
                 "QoS 0 publish, " + std::to_string(o_.publishers) + " x " +
                     std::to_string(o_.qos0_messages) + " msgs of 200 B",
                 0, o_.qos0_messages);
    }
    if (wanted('b')) {
      throughput("b",
                 "QoS 1 publish, " + std::to_string(o_.publishers) + " x " +
                     std::to_string(o_.qos1_messages) + " msgs of 200 B",
                 1, o_.qos1_messages);
    }
    if (wanted('c')) logins();
    if (wanted('d')) latency();
    if (wanted('e')) memory();
    if (wanted('f')) rollout_trigger();
    if (wanted('g')) fleet_rate();
    if (wanted('h')) external_peer();
    if (wanted('i')) api_load();
    return finish();
  }

  BenchReport finish() {
    if (report_.rows_acknowledged != report_.rows_committed) {
      report_.errors.push_back("rows lost or duplicated: " +
                               std::to_string(report_.rows_acknowledged) + " acknowledged, " +
                               std::to_string(report_.rows_committed) + " in the databases");
    }
    return report_;
  }

  void set_work_dir(std::string dir) { work_dir_ = std::move(dir); }

 private:
  std::string run_dir(const std::string& name) {
    return work_dir_ + "/" + std::to_string(++runs_) + "-" + name;
  }

  std::unique_ptr<BrokerProcess> start(bool with_plugin, const std::string& name,
                                       const DeviceSet* devices) {
    BrokerSetup setup;
    setup.mosquitto_bin = o_.mosquitto_bin;
    setup.dir = run_dir(name + (with_plugin ? "-plugin" : "-vanilla"));
    fs::create_directories(setup.dir);
    if (with_plugin) {
      setup.plugin_path = o_.plugin_path;
      // The bench's devices publish far beyond a real sensor's 600/min.
      setup.plugin_options = {{"rate_limit_per_min", "0"},
                              {"ingest_flush_ms", std::to_string(o_.flush_ms)}};
      if (devices) devices->provision(setup.dir + "/rs1.db");
    }
    return std::make_unique<BrokerProcess>(setup);
  }

  // Waits (60 s at most) until the plugin broker has committed `rows`.
  static void wait_for_rows(BrokerProcess& broker, std::int64_t rows) {
    auto store = open_sqlite(broker.db_path(), SqliteTuning::background);
    auto deadline = Clock::now() + 60s;
    while (store->telemetry().count() < rows && Clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }

  // Stops the plugin broker (SIGTERM commits every accepted row) and adds
  // its rows to the check. `unacknowledged` readings were sent but their
  // PUBACK not seen when the load stopped: up to that many rows beyond the
  // acknowledged ones are in flight, not duplicates.
  void settle_rows(BrokerProcess& broker, std::int64_t acknowledged, const std::string& what,
                   std::int64_t unacknowledged = 0) {
    broker.stop();
    auto store = open_sqlite(broker.db_path(), SqliteTuning::interactive);
    const std::int64_t rows = store->telemetry().count();
    const std::int64_t in_flight = std::clamp<std::int64_t>(rows - acknowledged, 0, unacknowledged);
    report_.rows_acknowledged += acknowledged;
    report_.rows_committed += rows - in_flight;
    report_.rows_unacknowledged += in_flight;
    progress_ << "    rows: " << acknowledged << " acknowledged, " << rows << " committed";
    if (unacknowledged > 0) {
      progress_ << " (" << in_flight << " of the " << unacknowledged
                << " sent without a PUBACK when the load stopped)";
    }
    progress_ << " (" << what << ")\n";
  }

  void throughput(const std::string& key, const std::string& title, int qos, int count) {
    ScenarioResult r;
    r.key = key;
    r.title = title;
    r.unit = "msg/s";
    r.target = key == "a" ? ">= 0.90" : ">= 0.95";
    // The headline beside the throughput: what each message costs the broker
    // thread, where a server with the devices on the network is bound; then
    // what the hand-off to the writer costs it in page faults and context
    // switches, and the writer's own CPU per row.
    ScenarioResult cpu =
        scenario(key, "broker thread CPU per message", "us", key == "a" ? "<= 1.10" : "");
    ScenarioResult faults = scenario(key, "broker thread page faults", "per M msgs", "");
    ScenarioResult switches = scenario(key, "broker thread context switches", "per M msgs", "");
    ScenarioResult writer = scenario(key, "writer CPU per row committed", "us", "<= 2 us");
    DeviceSet devices("bench-pub", o_.publishers);
    for (int round = 0; round < o_.rounds; ++round) {
      for (bool with_plugin : {false, true}) {
        try {
          auto broker = start(with_plugin, "qos" + std::to_string(qos), &devices);
          // A warm-up of a quarter of the load, not measured: a fresh process
          // faults in every page its buffers first touch, the broker's and
          // the plugin's, and the figures are for a broker that runs.
          auto warm = run_flood(broker->port(), devices, with_plugin, o_.publishers,
                                std::max(1, count / 4), qos, report_.errors);
          if (with_plugin) wait_for_rows(*broker, warm.acknowledged);
          BrokerCpu cpu_before = BrokerCpu::of(broker->pid());
          auto t = run_flood(broker->port(), devices, with_plugin, o_.publishers, count, qos,
                             report_.errors);
          // The plugin's work ends when its rows are committed, not when the
          // broker acknowledged them.
          if (with_plugin) wait_for_rows(*broker, warm.acknowledged + t.acknowledged);
          BrokerCpu cpu_after = BrokerCpu::of(broker->pid());
          progress_ << "  (" << key << ") round " << round + 1 << " "
                    << (with_plugin ? "plugin " : "vanilla") << ": " << std::fixed
                    << std::setprecision(0) << t.rate << " msg/s; machine CPU " << 100 * t.cpu_busy
                    << "% busy, " << 100 * t.cpu_stolen << "% stolen by the host";
          if (t.refused) progress_ << ", " << t.refused << " refused";
          if (auto messages = static_cast<double>(t.acknowledged + t.refused)) {
            const double main_us = (cpu_after.main_s - cpu_before.main_s) / messages * 1e6;
            const double per_m = 1e6 / messages;
            const double f = (cpu_after.main_faults - cpu_before.main_faults) * per_m;
            const double cs = (cpu_after.main_switches - cpu_before.main_switches) * per_m;
            const double preempted =
                (cpu_after.main_preempted - cpu_before.main_preempted) * per_m;
            (with_plugin ? cpu.plugin_rounds : cpu.vanilla_rounds).push_back(main_us);
            (with_plugin ? faults.plugin_rounds : faults.vanilla_rounds).push_back(f);
            (with_plugin ? switches.plugin_rounds : switches.vanilla_rounds).push_back(cs);
            progress_ << "; broker CPU per message: " << std::setprecision(2) << main_us
                      << " us on its main thread, "
                      << (cpu_after.others_s - cpu_before.others_s) / messages * 1e6
                      << " us on its other threads; main thread " << std::setprecision(0) << f
                      << " page faults and " << cs << " context switches per M messages ("
                      << preempted << " of them preempted)";
            if (with_plugin && cpu_after.has_writer && t.acknowledged > 0) {
              const double w = (cpu_after.writer_s - cpu_before.writer_s) /
                               static_cast<double>(t.acknowledged) * 1e6;
              writer.plugin_rounds.push_back(w);
              progress_ << "; writer " << std::setprecision(2) << w << " us per row";
            }
          }
          progress_ << "\n";
          (with_plugin ? r.plugin_rounds : r.vanilla_rounds).push_back(t.rate);
          if (with_plugin) {
            settle_rows(*broker, warm.acknowledged + t.acknowledged, "(" + key + ")");
          }
        } catch (const std::exception& e) {
          report_.errors.push_back("(" + key + ") " + e.what());
        }
      }
    }
    finish_ratio(r, key == "a" ? 0.90 : 0.95);
    finish_ratio(cpu, key == "a" ? 1.10 : -1, /*at_most=*/true);
    finish_ratio(faults, -1);
    finish_ratio(switches, -1);
    if (!writer.plugin_rounds.empty()) {
      writer.plugin = median(writer.plugin_rounds);
      writer.figure = fmt(*writer.plugin, 2) + " us";
      writer.met = *writer.plugin <= 2.0;
    }
    report_.scenarios.push_back(writer);
  }

  // (i) The Device API beside the devices: the plugin broker's QoS 0
  // throughput alone, while two API clients loop on GET /api/v1/devices/{id},
  // and while they loop on PUT .../zones; and the requests/s they got.
  void api_load() {
    DeviceSet devices("bench-pub", o_.publishers);
    std::vector<std::string> ids;
    for (int i = 0; i < o_.publishers; ++i) ids.push_back(devices.identity(i, true).client_id);
    std::vector<double> alone, with_get, with_put, get_rates, put_rates;
    const std::vector<std::pair<ApiLoad::Kind, const char*>> modes = {
        {ApiLoad::Kind::none, "alone"},
        {ApiLoad::Kind::get_device, "GET device"},
        {ApiLoad::Kind::put_zones, "PUT zones"}};
    for (int round = 0; round < o_.rounds; ++round) {
      for (const auto& [kind, name] : modes) {
        try {
          BrokerSetup setup;
          setup.mosquitto_bin = o_.mosquitto_bin;
          setup.dir = run_dir("api-plugin");
          fs::create_directories(setup.dir);
          setup.plugin_path = o_.plugin_path;
          const int http_port = free_port();
          setup.plugin_options = {{"rate_limit_per_min", "0"},
                                  {"ingest_flush_ms", std::to_string(o_.flush_ms)},
                                  {"http_listen", "127.0.0.1:" + std::to_string(http_port)},
                                  {"api_rate_limit_per_min", "0"}};
          devices.provision(setup.dir + "/rs1.db");
          const std::string password = new_account_password();
          {
            auto store = open_sqlite(setup.dir + "/rs1.db", SqliteTuning::interactive);
            AccountPassword hashed = hash_account_password(password);
            store->accounts().add("bench-admin", Role::admin, hashed.salt_hex, hashed.hash_hex,
                                  std::time(nullptr));
          }
          BrokerProcess broker(setup);
          httplib::Client http("127.0.0.1", http_port);
          auto signed_in = http.Post(
              "/api/v1/session", Json{{"username", "bench-admin"}, {"password", password}}.dump(),
              "application/json");
          if (!signed_in || signed_in->status != 200) {
            throw std::runtime_error("cannot sign in to the API: " +
                                     (signed_in ? signed_in->body : std::string("no answer")));
          }
          const std::string token = Json::parse(signed_in->body)["token"];
          ApiLoad load(http_port, token, ids, kind, 2);
          auto t = run_flood(broker.port(), devices, true, o_.publishers, o_.qos0_messages, 0,
                             report_.errors);
          const double requests = load.stop();
          if (load.failed()) {
            report_.errors.push_back("(i) " + std::to_string(load.failed()) +
                                     " API requests failed, the first: " + load.first_error());
          }
          wait_for_rows(broker, t.acknowledged);
          progress_ << "  (i) round " << round + 1 << " " << name << ": " << std::fixed
                    << std::setprecision(0) << t.rate << " msg/s";
          if (kind != ApiLoad::Kind::none) progress_ << ", " << requests << " API req/s";
          progress_ << "\n";
          if (kind == ApiLoad::Kind::none) alone.push_back(t.rate);
          if (kind == ApiLoad::Kind::get_device) {
            with_get.push_back(t.rate);
            get_rates.push_back(requests);
          }
          if (kind == ApiLoad::Kind::put_zones) {
            with_put.push_back(t.rate);
            put_rates.push_back(requests);
          }
          settle_rows(broker, t.acknowledged, "(i)");
        } catch (const std::exception& e) {
          report_.errors.push_back(std::string("(i) ") + e.what());
        }
      }
    }
    auto row = [&](const std::string& title, const std::vector<double>& loaded,
                   const std::vector<double>& rates) {
      ScenarioResult r;
      r.key = "i";
      r.title = title;
      r.unit = "msg/s";
      r.vanilla_rounds = alone;
      r.plugin_rounds = loaded;
      if (!alone.empty()) r.vanilla = median(alone);
      if (!loaded.empty()) r.plugin = median(loaded);
      std::vector<double> ratios;
      for (std::size_t i = 0; i < std::min(alone.size(), loaded.size()); ++i) {
        if (alone[i] > 0) ratios.push_back(loaded[i] / alone[i]);
      }
      if (!ratios.empty()) r.ratio = median(ratios);
      if (!rates.empty()) {
        r.figure =
            (r.ratio ? fmt(*r.ratio, 2) + "; " : std::string()) + fmt(median(rates)) + " req/s";
      }
      report_.scenarios.push_back(r);
    };
    row("QoS 0, plugin alone / with GET /api/v1/devices/{id}", with_get, get_rates);
    row("QoS 0, plugin alone / with PUT /api/v1/devices/{id}/zones", with_put, put_rates);
  }

  // The ratio plugin / vanilla must be >= target, or <= it when at_most.
  void finish_ratio(ScenarioResult& r, double target, bool at_most = false) {
    if (!r.vanilla_rounds.empty()) r.vanilla = median(r.vanilla_rounds);
    if (!r.plugin_rounds.empty()) r.plugin = median(r.plugin_rounds);
    std::vector<double> ratios;
    for (std::size_t i = 0; i < std::min(r.vanilla_rounds.size(), r.plugin_rounds.size()); ++i) {
      if (r.vanilla_rounds[i] > 0) ratios.push_back(r.plugin_rounds[i] / r.vanilla_rounds[i]);
    }
    if (!ratios.empty()) r.ratio = median(ratios);
    if (target > 0 && r.ratio) r.met = at_most ? *r.ratio <= target : *r.ratio >= target;
    report_.scenarios.push_back(r);
  }

  void logins() {
    ScenarioResult r;
    r.key = "c";
    r.title = "logins, " + std::to_string(o_.login_lanes) + " x " +
              std::to_string(o_.logins_per_lane) + " sequential (HMAC vs anonymous)";
    r.unit = "logins/s";
    r.target = ">= 0.95";
    DeviceSet devices("bench-login", o_.login_lanes * o_.logins_per_lane);
    for (int round = 0; round < o_.rounds; ++round) {
      for (bool with_plugin : {false, true}) {
        try {
          auto broker = start(with_plugin, "login", &devices);
          // Passwords are computed before the clock starts: the device's cost.
          std::vector<ClientOptions> logins;
          auto now = unix_now();
          for (int i = 0; i < devices.size(); ++i)
            logins.push_back(devices.identity(i, with_plugin).options(now));
          LoginLanes lanes(broker->port(), std::move(logins), o_.login_lanes);
          BrokerCpu cpu_before = BrokerCpu::of(broker->pid());
          double rate = lanes.run(report_.errors, with_plugin ? "(c) plugin" : "(c) vanilla");
          BrokerCpu cpu_after = BrokerCpu::of(broker->pid());
          const double n = static_cast<double>(devices.size());
          progress_ << "  (c) round " << round + 1 << " " << (with_plugin ? "plugin " : "vanilla")
                    << ": " << std::fixed << std::setprecision(0) << rate
                    << " logins/s; broker CPU per login: " << std::setprecision(1)
                    << (cpu_after.main_s - cpu_before.main_s) / n * 1e6
                    << " us on its main thread, "
                    << (cpu_after.others_s - cpu_before.others_s) / n * 1e6
                    << " us on its other threads\n";
          (with_plugin ? r.plugin_rounds : r.vanilla_rounds).push_back(rate);
        } catch (const std::exception& e) {
          report_.errors.push_back(std::string("(c) ") + e.what());
        }
      }
    }
    finish_ratio(r, 0.95);
  }

  void latency() {
    ScenarioResult r;
    r.key = "d";
    r.title = "publish -> committed, " + std::to_string(o_.latency_messages) + " msgs at " +
              std::to_string(o_.latency_rate) + "/s";
    r.unit = "ms";
    double limit = o_.flush_ms + 50.0;
    std::ostringstream target;
    target << "p99 <= " << limit << " ms";
    r.target = target.str();
    try {
      DeviceSet devices("bench-latency", 1);
      auto broker = start(true, "latency", &devices);
      auto lat = run_latency(*broker, devices.identity(0, true), o_.latency_messages,
                             o_.latency_rate, report_.errors);
      std::ostringstream fig;
      fig << std::fixed << std::setprecision(1) << "p50 " << lat.p50_ms << " / p99 " << lat.p99_ms
          << " / max " << lat.max_ms << " ms";
      r.figure = fig.str();
      r.plugin = lat.p99_ms;
      r.met = lat.p99_ms <= limit;
      progress_ << "  (d) " << r.figure << "\n";
      settle_rows(*broker, lat.acknowledged, "(d)");
    } catch (const std::exception& e) {
      report_.errors.push_back(std::string("(d) ") + e.what());
    }
    report_.scenarios.push_back(r);
  }

  // (f): `rs1ctl rollout create --all` (the command included) to the last of
  // the triggers for every connected device, as an admin subscribed to
  // opticworks/+/ota/trigger receives them, with a rate that does not
  // throttle. A second connection of the same admin measures the broker
  // thread's longest stall meanwhile: a publish to its own probe topic and
  // back, one after the other, the longest round trip of a probe sent
  // between the command and the last trigger.
  void rollout_trigger() {
    ScenarioResult r;
    r.key = "f";
    r.title = "rollout create -> last trigger, " + std::to_string(o_.connections) + " online";
    r.unit = "ms";
    r.target = "<= 1 s";
    DeviceSet devices("bench-ota", o_.connections);
    try {
      auto broker = start(true, "rollout", &devices);
      auto store = open_sqlite(broker->db_path(), SqliteTuning::interactive);
      const std::string admin_password = new_account_password();
      AccountPassword hashed = hash_account_password(admin_password);
      store->accounts().add("bench-admin", Role::admin, hashed.salt_hex, hashed.hash_hex,
                            unix_now());
      const std::string image = broker->db_path() + ".fw";
      {
        std::ofstream out(image, std::ios::binary);
        out << std::string(4096, 'x');
      }
      StoredImage stored =
          store_image_file(image, fs::path(broker->db_path()).parent_path().string());
      store->firmware().add(FirmwareRecord{"2.0.0", stored.sha256, stored.size, unix_now()});
      FleetWorkers fleet(broker->port(), devices, true, o_.connections, kDevicesPerWorker);
      std::string failure = fleet.wait_ready(std::chrono::seconds(60 + o_.connections / 100));
      if (!failure.empty()) throw std::runtime_error(failure);
      // The account reaches the broker through its change feed (250 ms polls).
      std::unique_ptr<TriggerWatch> watch_owner;
      for (int attempt = 0; !watch_owner; ++attempt) {
        try {
          watch_owner = std::make_unique<TriggerWatch>(broker->port(), "bench-admin",
                                                       admin_password, o_.connections);
        } catch (const std::exception&) {
          if (attempt >= 20) throw;
          std::this_thread::sleep_for(250ms);
        }
      }
      TriggerWatch& watch = *watch_owner;
      std::this_thread::sleep_for(1500ms);  // the presence writes settle
      const auto t0 = Clock::now();
      watch.start_probing();
      std::vector<std::string> args = {
          "--db",  broker->db_path(), "rollout", "create",           "--version", "2.0.0",
          "--all", "--stages",        "100",     "--max-per-minute", "100000000"};
      const std::string ctl = rs1ctl_path();
      if (!ctl.empty()) {
        int rc = run_program(ctl, args);
        if (rc != 0) throw std::runtime_error("rs1ctl rollout create exited " + std::to_string(rc));
      } else {
        Rollout rollout;  // no rs1ctl beside this binary: what it does
        rollout.version = "2.0.0";
        rollout.all = true;
        rollout.policy.stages = {100};
        rollout.policy.max_per_minute = 100000000;
        rollout.created_at = unix_now();
        store->rollouts().create(rollout);
      }
      const double command_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!watch.wait_all(60s)) {
        throw std::runtime_error(std::to_string(watch.received()) + " of " +
                                 std::to_string(o_.connections) + " triggers arrived");
      }
      const double ms = std::chrono::duration<double, std::milli>(watch.last_at() - t0).count();
      const double stall = watch.stop_probing();
      r.plugin_rounds.push_back(ms);
      std::ostringstream fig;
      fig << std::fixed << std::setprecision(0) << ms << " ms (the command " << command_ms
          << " ms); longest probe round trip " << stall << " ms (" << watch.probes() << " probes)";
      r.figure = fig.str();
      r.met = ms <= 1000;
      progress_ << "  (f) " << r.figure << "\n";
    } catch (const std::exception& e) {
      report_.errors.push_back(std::string("(f) ") + e.what());
    }
    report_.scenarios.push_back(r);
  }

  // (g) A fleet, not four firehoses: fleet_devices connections, each its own
  // client logged in with its HMAC password (anonymous on vanilla), each
  // publishing ~200-byte QoS 1 telemetry at a fixed rate (rs1-sim fleet, in
  // this process), stepped up until the broker cannot keep up. A step is
  // sustained when, over fleet_step_s after every device is online, the
  // broker acknowledged at least 97 % of the readings due and no device had
  // to skip one (a device skips a reading while 50 wait for their PUBACK).
  void fleet_rate() {
    ScenarioResult r = scenario(
        "g", "fleet of " + std::to_string(o_.fleet_devices) + " devices, QoS 1, highest sustained rate",
        "msg/s", ">= 0.90");
    DeviceSet devices("bench-fleet", o_.fleet_devices);
    // Step by step, vanilla then plugin at each rate, so that both meet the
    // same machine: on a shared host its speed drifts over minutes.
    double best[2] = {0, 0};
    bool going[2] = {true, true};
    for (double per_device_s : o_.fleet_rates) {
      for (bool with_plugin : {false, true}) {
        if (!going[with_plugin]) continue;
        try {
          auto broker = start(with_plugin, "fleet", &devices);
          FleetOptions fo;
          fo.port = broker->port();
          fo.telemetry_per_min = per_device_s * 60;
          fo.connects_per_s = 2000;
          fo.status_every_s = 3600;
          std::atomic<bool> stop{false};
          FleetProgress progress;
          std::ostringstream status;
          FleetReport report;
          std::thread fleet([&] {
            report = run_fleet(fo, devices.sim_devices(), stop, status, &progress);
          });
          const auto online_by = Clock::now() + 30s;
          while (progress.latest().connected < o_.fleet_devices && Clock::now() < online_by) {
            std::this_thread::sleep_for(50ms);
          }
          std::this_thread::sleep_for(1s);  // every device past its first reading
          const FleetReport from = progress.latest();
          const auto t0 = Clock::now();
          CpuTimes cpu_before = CpuTimes::now();
          std::this_thread::sleep_for(std::chrono::seconds(o_.fleet_step_s));
          const FleetReport to = progress.latest();
          const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
          CpuTimes cpu_after = CpuTimes::now();
          stop = true;
          fleet.join();
          const double due = per_device_s * o_.fleet_devices;
          const double rate = static_cast<double>(to.telemetry_acked - from.telemetry_acked) / seconds;
          const std::int64_t skipped = to.telemetry_skipped - from.telemetry_skipped;
          const bool online = from.connected == o_.fleet_devices;
          const bool sustained = online && skipped == 0 && rate >= 0.97 * due;
          double busy = 0;
          if (auto dt = cpu_after.total - cpu_before.total) {
            busy = static_cast<double>(cpu_after.busy - cpu_before.busy) / static_cast<double>(dt);
          }
          progress_ << "  (g) " << (with_plugin ? "plugin " : "vanilla") << " at " << std::fixed
                    << std::setprecision(0) << due << " msg/s due (" << std::setprecision(1)
                    << per_device_s << "/s per device): " << std::setprecision(0) << rate
                    << " acknowledged/s, " << skipped << " readings skipped, "
                    << from.connected << " online; machine CPU " << 100 * busy << "% busy; "
                    << (sustained ? "sustained" : "NOT sustained") << "\n";
          if (with_plugin) {
            settle_rows(*broker, report.telemetry_acked, "(g)",
                        report.telemetry_sent - report.telemetry_acked);
          }
          if (sustained) {
            best[with_plugin] = due;
          } else {
            going[with_plugin] = false;
          }
        } catch (const std::exception& e) {
          report_.errors.push_back(std::string("(g) ") + e.what());
          going[with_plugin] = false;
        }
      }
    }
    r.vanilla = best[0];
    r.plugin = best[1];
    if (r.vanilla && r.plugin && *r.vanilla > 0) {
      r.ratio = *r.plugin / *r.vanilla;
      r.met = *r.ratio >= 0.90;
    }
    report_.scenarios.push_back(r);
  }

  // A vanilla mosquitto with the dynamic-security plugin: each publisher a
  // client whose password is its RS-1 password of this hour (so the flood
  // logs in as it does to the plugin) and whose role may publish only its
  // own telemetry, and the ingest client's role that may subscribe to all.
  std::unique_ptr<BrokerProcess> start_dynsec(const DeviceSet& devices, const std::string& name,
                                              const std::string& peer_password) {
    BrokerSetup setup;
    setup.mosquitto_bin = o_.mosquitto_bin;
    setup.dir = run_dir(name);
    fs::create_directories(setup.dir);
    Json clients = Json::array(), roles = Json::array();
    const std::int64_t now = unix_now();
    for (int i = 0; i < devices.size(); ++i) {
      const Identity id = devices.identity(i, true);
      const std::string role = "device-" + id.client_id;
      clients.push_back(dynsec_client(
          id.client_id, password_for_hour(id.secret_hash, id.client_id, hour_of(now)), role));
      roles.push_back(dynsec_role(role, "publishClientSend", telemetry_topic(id.client_id)));
    }
    clients.push_back(dynsec_client("rs1-ingest", peer_password, "ingest"));
    roles.push_back(dynsec_role("ingest", "subscribePattern", "opticworks/+/telemetry/#"));
    Json config = {{"defaultACLAccess",
                    {{"publishClientSend", false},
                     {"publishClientReceive", true},
                     {"subscribe", false},
                     {"unsubscribe", true}}},
                   {"clients", clients},
                   {"groups", Json::array()},
                   {"roles", roles}};
    setup.dynsec_plugin = o_.dynsec_plugin;
    setup.dynsec_config = setup.dir + "/dynamic-security.json";
    std::ofstream(setup.dynsec_config) << config.dump(2) << "\n";
    // The queue for the ingest client's session while it is away: mosquitto's
    // default (1,000) would drop most of a restart's backlog; a user running
    // this would raise it, so the loss measured is the client's own.
    setup.extra_conf = {"max_queued_messages 10000000", "max_inflight_messages 1000"};
    return std::make_unique<BrokerProcess>(setup);
  }

  // Waits until the peer's database holds `rows` (60 s at most) or stops
  // growing for 3 s; returns what it holds.
  static PeerRows wait_for_peer_rows(const std::string& db, std::int64_t rows) {
    const auto deadline = Clock::now() + 60s;
    PeerRows last = peer_rows(db, false);
    auto changed = Clock::now();
    while (last.rows < rows && Clock::now() < deadline && Clock::now() - changed < 3s) {
      std::this_thread::sleep_for(20ms);
      PeerRows now = peer_rows(db, false);
      if (now.rows != last.rows) changed = Clock::now();
      last = now;
    }
    return peer_rows(db, true);
  }

  // (h) The peer a user would build instead of the plugin: vanilla mosquitto
  // with the dynamic-security plugin and rs1-ingest-peer (QoS 1 subscription,
  // SQLite with the same durability and batching). The same QoS 1 flood as
  // (b); the rate is durable: acknowledged messages over the time until the
  // last of them is committed. CPU per row counts every process of the setup
  // (the broker, and the peer). Then once: the peer killed (SIGKILL) under
  // load and started again on its session, and the acknowledged messages
  // missing from its database.
  void external_peer() {
    ScenarioResult r = scenario("h",
                                "durable QoS 1 ingest, " + std::to_string(o_.publishers) + " x " +
                                    std::to_string(o_.qos1_messages) +
                                    " msgs (vanilla: + dynsec + ingest client)",
                                "rows/s", ">= 2.00");
    ScenarioResult cpu = scenario("h", "CPU per row committed, all processes", "us", "");
    ScenarioResult lost = scenario("h", "acknowledged rows lost, ingest killed under load", "", "0");
    if (::access(o_.ingest_peer.c_str(), X_OK) != 0 || ::access(o_.dynsec_plugin.c_str(), R_OK) != 0) {
      r.note = "n/a: no " + (::access(o_.ingest_peer.c_str(), X_OK) != 0 ? o_.ingest_peer : o_.dynsec_plugin);
      report_.scenarios.push_back(r);
      return;
    }
    DeviceSet devices("bench-pub", o_.publishers);
    const std::string peer_password = new_account_password();
    const int count = o_.qos1_messages;
    for (int round = 0; round < o_.rounds; ++round) {
      try {  // the plugin
        auto broker = start(true, "peer", &devices);
        BrokerCpu before = BrokerCpu::of(broker->pid());
        const auto t0 = Clock::now();
        auto t = run_flood(broker->port(), devices, true, o_.publishers, count, 1, report_.errors);
        wait_for_rows(*broker, t.acknowledged);
        const double s = seconds_between(t0, Clock::now());
        BrokerCpu after = BrokerCpu::of(broker->pid());
        const double rate = static_cast<double>(t.acknowledged) / s;
        const double us = (after.main_s + after.others_s - before.main_s - before.others_s) /
                          static_cast<double>(std::max<std::int64_t>(1, t.acknowledged)) * 1e6;
        r.plugin_rounds.push_back(rate);
        cpu.plugin_rounds.push_back(us);
        progress_ << "  (h) round " << round + 1 << " plugin: " << std::fixed << std::setprecision(0)
                  << rate << " rows/s durable; " << std::setprecision(2) << us << " us CPU per row\n";
        settle_rows(*broker, t.acknowledged, "(h)");
      } catch (const std::exception& e) {
        report_.errors.push_back(std::string("(h) plugin: ") + e.what());
      }
      try {  // the peer
        auto broker = start_dynsec(devices, "peer-dynsec", peer_password);
        const std::string db = broker->db_path();
        PeerProcess peer(o_.ingest_peer, broker->port(), "rs1-ingest", peer_password, db, o_.flush_ms);
        BrokerCpu broker_before = BrokerCpu::of(broker->pid());
        BrokerCpu peer_before = BrokerCpu::of(peer.pid());
        const auto t0 = Clock::now();
        auto t = run_flood(broker->port(), devices, true, o_.publishers, count, 1, report_.errors);
        PeerRows rows = wait_for_peer_rows(db, t.acknowledged);
        const double s = seconds_between(t0, Clock::now());
        BrokerCpu broker_after = BrokerCpu::of(broker->pid());
        BrokerCpu peer_after = BrokerCpu::of(peer.pid());
        const double rate = static_cast<double>(rows.distinct) / s;
        const double us = (broker_after.main_s + broker_after.others_s - broker_before.main_s -
                           broker_before.others_s + peer_after.main_s + peer_after.others_s -
                           peer_before.main_s - peer_before.others_s) /
                          static_cast<double>(std::max<std::int64_t>(1, rows.distinct)) * 1e6;
        r.vanilla_rounds.push_back(rate);
        cpu.vanilla_rounds.push_back(us);
        progress_ << "  (h) round " << round + 1 << " peer  : " << std::fixed << std::setprecision(0)
                  << rate << " rows/s durable (" << rows.distinct << " of " << t.acknowledged
                  << " acknowledged); " << std::setprecision(2) << us << " us CPU per row\n";
        if (rows.distinct != t.acknowledged) {
          report_.errors.push_back("(h) peer without a kill: " + std::to_string(rows.distinct) +
                                   " rows of " + std::to_string(t.acknowledged) + " acknowledged");
        }
      } catch (const std::exception& e) {
        report_.errors.push_back(std::string("(h) peer: ") + e.what());
      }
    }
    finish_ratio(r, 2.0);
    finish_ratio(cpu, -1);
    try {  // the peer killed under load
      auto broker = start_dynsec(devices, "peer-kill", peer_password);
      const std::string db = broker->db_path();
      auto peer = std::make_unique<PeerProcess>(o_.ingest_peer, broker->port(), "rs1-ingest",
                                                peer_password, db, o_.flush_ms);
      Throughput t;
      std::thread flood([&] {
        t = run_flood(broker->port(), devices, true, o_.publishers, count, 1, report_.errors);
      });
      // Once a fifth of the load is in, as a crash or an OOM kill would.
      const auto deadline = Clock::now() + 30s;
      while (peer_rows(db, false).rows < o_.publishers * count / 5 && Clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
      }
      peer->kill();
      peer = std::make_unique<PeerProcess>(o_.ingest_peer, broker->port(), "rs1-ingest",
                                           peer_password, db, o_.flush_ms);
      flood.join();
      PeerRows rows = wait_for_peer_rows(db, t.acknowledged);
      peer->stop();
      rows = peer_rows(db, true);
      lost.vanilla = static_cast<double>(t.acknowledged - rows.distinct);
      lost.figure = "peer " + fmt(*lost.vanilla) + " of " + fmt(static_cast<double>(t.acknowledged));
      progress_ << "  (h) peer killed under load: " << t.acknowledged - rows.distinct << " of "
                << t.acknowledged << " acknowledged messages lost, " << rows.rows - rows.distinct
                << " duplicates\n";
    } catch (const std::exception& e) {
      report_.errors.push_back(std::string("(h) peer kill: ") + e.what());
    }
    report_.scenarios.push_back(lost);
  }

  void memory() {
    ScenarioResult r;
    r.key = "e";
    r.title = "memory per connected device, " + std::to_string(o_.connections) + " connections";
    r.unit = "bytes/device";
    r.target = "<= 2048 B above vanilla";
    DeviceSet devices("bench-mem", o_.connections);
    for (bool with_plugin : {false, true}) {
      try {
        auto broker = start(with_plugin, "memory", &devices);
        std::this_thread::sleep_for(500ms);
        std::int64_t before = broker->rss_bytes();
        FleetWorkers fleet(broker->port(), devices, with_plugin, o_.connections, kDevicesPerWorker);
        std::string failure = fleet.wait_ready(std::chrono::seconds(60 + o_.connections / 100));
        if (!failure.empty()) {
          report_.errors.push_back(std::string(with_plugin ? "(e) plugin: " : "(e) vanilla: ") +
                                   failure);
          continue;
        }
        // Let the plugin's writer commit the presence updates.
        std::this_thread::sleep_for(std::chrono::milliseconds(std::max(1000, 4 * o_.flush_ms)));
        std::int64_t after = broker->rss_bytes();
        double per = static_cast<double>(after - before) / o_.connections;
        progress_ << "  (e) " << (with_plugin ? "plugin " : "vanilla") << ": " << before / 1024
                  << " KiB -> " << after / 1024 << " KiB, " << std::fixed << std::setprecision(0)
                  << per << " B/device\n";
        (with_plugin ? r.plugin_rounds : r.vanilla_rounds).push_back(per);
      } catch (const std::exception& e) {
        report_.errors.push_back(std::string("(e) ") + e.what());
      }
    }
    if (!r.vanilla_rounds.empty()) r.vanilla = r.vanilla_rounds.front();
    if (!r.plugin_rounds.empty()) r.plugin = r.plugin_rounds.front();
    if (r.vanilla && r.plugin) {
      double extra = *r.plugin - *r.vanilla;
      std::ostringstream fig;
      fig << std::fixed << std::setprecision(0) << (extra >= 0 ? "+" : "") << extra << " B/device";
      r.figure = fig.str();
      r.met = extra <= 2048;
    }
    report_.scenarios.push_back(r);
  }

  const BenchOptions& o_;
  std::ostream& progress_;
  std::string work_dir_;
  int runs_ = 0;
  BenchReport report_;
};

std::string fmt(double v, int precision) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v;
  std::string out = s.str();
  // Thousands separators for the integer part.
  auto dot = out.find('.');
  std::size_t end = dot == std::string::npos ? out.size() : dot;
  std::size_t begin = out[0] == '-' ? 1 : 0;
  for (std::size_t i = end; i > begin + 3; i -= 3) out.insert(i - 3, ",");
  return out;
}

}  // namespace

std::string bench_telemetry_payload(std::uint64_t seq) {
  // Readings of a plausible RS-1 environment report, padded to exactly 200
  // bytes so every run moves the same volume.
  char head[160];
  int n = std::snprintf(
      head, sizeof head,
      "{\"seq\":%llu,\"temp_c\":%.2f,\"humidity\":%.1f,\"pressure_hpa\":%.1f,"
      "\"co2_ppm\":%u,\"lux\":%u,\"presence\":%d,\"pad\":\"",
      static_cast<unsigned long long>(seq), 20.0 + static_cast<double>(seq % 500) / 100,
      40.0 + static_cast<double>(seq % 200) / 10, 1000.0 + static_cast<double>(seq % 300) / 10,
      static_cast<unsigned>(400 + seq % 600), static_cast<unsigned>(seq % 1000),
      static_cast<int>(seq % 2));
  std::string out(head, static_cast<std::size_t>(n));
  out.append(200 - out.size() - 2, 'x');
  out += "\"}";
  return out;
}

void BenchOptions::make_smoke() {
  rounds = 1;
  qos0_messages = 3000;
  qos1_messages = 500;
  logins_per_lane = 50;
  latency_messages = 300;
  latency_rate = 1000;
  connections = 200;
  fleet_devices = 100;
  fleet_rates = {1};
  fleet_step_s = 2;
}

BenchReport run_bench(const BenchOptions& options, std::ostream& progress) {
  if (::access(options.mosquitto_bin.c_str(), X_OK) != 0) {
    throw std::runtime_error("no mosquitto at " + options.mosquitto_bin + " (--mosquitto)");
  }
  if (::access(options.plugin_path.c_str(), R_OK) != 0) {
    throw std::runtime_error("no plugin at " + options.plugin_path + " (--plugin; build it first)");
  }
  // The brokers inherit it: one needs a descriptor per connection.
  const std::uint64_t files_needed = static_cast<std::uint64_t>(options.connections) + 1024;
  std::uint64_t files =
      raise_file_limit(std::max<std::uint64_t>(files_needed, 3 * kDevicesPerWorker + 256));
  if (files < files_needed || files < 3 * kDevicesPerWorker + 256) {
    throw std::runtime_error(
        "the open-file limit is " + std::to_string(files) + "; (e) needs " +
        std::to_string(std::max<std::uint64_t>(files_needed, 3 * kDevicesPerWorker + 256)) +
        ": raise it (ulimit -n) or lower --connections");
  }
  std::string dir = options.work_dir;
  bool temporary = dir.empty();
  if (temporary) {
    char tmpl[] = "/tmp/rs1-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("cannot create a work directory in /tmp");
    dir = tmpl;
  } else {
    fs::create_directories(dir);
  }
  Bench bench(options, progress);
  bench.set_work_dir(dir);
  BenchReport report = bench.run();
  if (temporary && !options.keep_work_dir && report.ok()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    progress << "kept the work directory (broker logs, databases): " << dir << "\n";
  }
  return report;
}

void print_report_table(const BenchReport& report, const BenchOptions& o, std::ostream& out) {
  out << "\nRS-1 bench: plugin against vanilla mosquitto, side by side; (a)-(c): median of "
      << o.rounds << (o.rounds == 1 ? " round" : " rounds")
      << ", ratio = median of the rounds' ratios\n"
      << report.machine << "\n\n";
  out << std::left << std::setw(58) << "scenario" << std::right << std::setw(12) << "vanilla"
      << std::setw(12) << "plugin"
      << "  " << std::setw(16) << "ratio / figure"
      << "  " << std::left << std::setw(24) << "target"
      << "result\n";
  for (const auto& s : report.scenarios) {
    std::string title = "(" + s.key + ") " + s.title + (s.unit.empty() ? "" : ", " + s.unit);
    out << std::left << std::setw(58) << title << std::right;
    if (!s.note.empty()) {
      out << std::setw(42) << s.note << "  " << std::left << std::setw(24) << s.target << "-\n";
      continue;
    }
    bool ratio = s.key == "a" || s.key == "b" || s.key == "c" || s.key == "g" || s.key == "h";
    const int digits = s.unit == "us" ? 2 : 0;
    out << std::setw(12) << (s.vanilla && s.key != "d" ? fmt(*s.vanilla, digits) : "-")
        << std::setw(12) << (s.plugin && s.key != "d" ? fmt(*s.plugin, digits) : "-");
    std::string fig = s.figure;
    if (ratio && s.ratio) fig = fmt(*s.ratio, 2);
    if (s.key == "d") fig = s.figure;
    out << "  " << std::setw(16) << (fig.empty() ? "-" : (s.key == "d" ? "see below" : fig)) << "  "
        << std::left << std::setw(24) << (s.target.empty() ? "-" : s.target)
        << (s.met ? (*s.met ? "met" : "MISSED") : "-") << "\n";
    if (s.key == "d" && !s.figure.empty()) out << "      " << s.figure << "\n";
  }
  out << "\nrows: " << fmt(static_cast<double>(report.rows_acknowledged)) << " acknowledged, "
      << fmt(static_cast<double>(report.rows_committed)) << " committed, "
      << fmt(static_cast<double>(report.rows_acknowledged - report.rows_committed)) << " lost";
  if (report.rows_unacknowledged > 0) {
    out << "; " << fmt(static_cast<double>(report.rows_unacknowledged))
        << " more committed whose PUBACK was in flight when a load stopped";
  }
  out << "\n";
  for (const auto& e : report.errors) out << "error: " << e << "\n";
  out << (report.ok() ? "bench: ok\n" : "bench: FAILED\n");
}

std::string report_json(const BenchReport& report, const BenchOptions& o) {
  Json doc;
  doc["machine"] = report.machine;
  doc["rounds"] = o.rounds;
  doc["rows"] = {{"acknowledged", report.rows_acknowledged},
                 {"committed", report.rows_committed},
                 {"lost", report.rows_acknowledged - report.rows_committed},
                 {"unacknowledged_committed", report.rows_unacknowledged}};
  doc["ok"] = report.ok();
  doc["errors"] = report.errors;
  Json scenarios = Json::array();
  for (const auto& s : report.scenarios) {
    Json j{{"key", s.key},
           {"title", s.title},
           {"unit", s.unit},
           {"target", s.target},
           {"vanilla", nullptr},
           {"plugin", nullptr},
           {"ratio", nullptr},
           {"met", nullptr},
           {"figure", s.figure},
           {"note", s.note},
           {"vanilla_rounds", s.vanilla_rounds},
           {"plugin_rounds", s.plugin_rounds}};
    if (s.vanilla) j["vanilla"] = *s.vanilla;
    if (s.plugin) j["plugin"] = *s.plugin;
    if (s.ratio) j["ratio"] = *s.ratio;
    if (s.met) j["met"] = *s.met;
    scenarios.push_back(j);
  }
  doc["scenarios"] = scenarios;
  return doc.dump(2);
}

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  options->mosquitto_bin = RS1_DEFAULT_MOSQUITTO_BIN;
  options->plugin_path = RS1_DEFAULT_PLUGIN_PATH;
  options->ingest_peer = RS1_DEFAULT_INGEST_PEER;
  options->dynsec_plugin = RS1_DEFAULT_DYNSEC_PLUGIN;
  auto smoke = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Measure the broker with the RS-1 plugin against a vanilla mosquitto, side by side: "
      "throughput, logins, commit latency, memory; and check that no acknowledged row is lost");
  cmd->add_option("--mosquitto", options->mosquitto_bin, "mosquitto binary")->capture_default_str();
  cmd->add_option("--plugin", options->plugin_path, "rs1_plugin.so to load")->capture_default_str();
  cmd->add_option("--work-dir", options->work_dir,
                  "where the brokers' configurations, logs and databases go (default: a fresh "
                  "directory in /tmp, removed after a clean run)");
  cmd->add_flag("--keep", options->keep_work_dir, "keep the work directory");
  cmd->add_option("--rounds", options->rounds, "alternating rounds of (a)-(c); the median counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 50));
  cmd->add_option("--publishers", options->publishers, "(a)(b) publishers")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--qos0-messages", options->qos0_messages, "(a) messages per publisher")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--qos1-messages", options->qos1_messages, "(b) messages per publisher")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--login-lanes", options->login_lanes, "(c) clients logging in one after another")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--logins", options->logins_per_lane, "(c) logins per lane")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--latency-messages", options->latency_messages, "(d) messages")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--latency-rate", options->latency_rate, "(d) messages per second")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--connections", options->connections, "(e) connected devices")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--flush-ms", options->flush_ms, "the plugin's ingest_flush_ms")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  cmd->add_option("--ingest-peer", options->ingest_peer, "(h) the external ingest client")
      ->capture_default_str();
  cmd->add_option("--dynsec-plugin", options->dynsec_plugin,
                  "(h) mosquitto's dynamic-security plugin")
      ->capture_default_str();
  cmd->add_option("--fleet-devices", options->fleet_devices, "(g) devices, each its own client")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--fleet-rates", options->fleet_rates,
                  "(g) the steps: readings per device per second, in increasing order")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--fleet-step", options->fleet_step_s, "(g) seconds measured at each step")
      ->capture_default_str()
      ->check(CLI::Range(1, 600));
  cmd->add_option("--only", options->scenarios, "the scenarios to run, e.g. `ac` (to profile one)")
      ->check([](const std::string& v) {
        if (v.empty() || v.find_first_not_of("abcdefghi") != std::string::npos) {
          return std::string("letters from abcdefghi");
        }
        return std::string();
      });
  cmd->add_flag("--smoke", *smoke,
                "a few seconds in all: small counts, one round (CI checks the row counts with it)");
  cmd->add_flag("--json", *json, "print the report as one JSON document");
  cmd->callback([options, smoke, json] {
    BenchOptions o = *options;
    if (*smoke) o.make_smoke();
    try {
      BenchReport report = run_bench(o, std::cerr);
      if (*json) {
        std::cout << report_json(report, o) << "\n";
      } else {
        print_report_table(report, o, std::cout);
      }
      exit_status() = report.ok() ? 0 : 1;
    } catch (const std::exception& e) {
      std::cerr << "rs1-sim bench: " << e.what() << "\n";
      exit_status() = 1;
    }
  });
}

}  // namespace rs1::sim
