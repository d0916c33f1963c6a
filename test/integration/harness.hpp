// The integration harness: a real mosquitto with the built plugin on a free
// port (BrokerRunner), real MQTT clients on libmosquitto (MqttClient, plus a
// raw socket client for what libmosquitto will not do), and the core Store
// on the broker's own database to provision devices and to look at what the
// broker wrote (Fleet). Every object is RAII: a test that fails half-way
// leaves no broker running.
#pragma once

#include <mosquitto.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/identity.hpp"
#include "store/sqlite.hpp"

namespace rs1::it {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// Set by the Catch listener in failure_listener.cpp when an assertion of the running test
// fails; BrokerRunner then keeps its directory and prints the broker log.
bool& current_test_failed();

// Polls `pred` every `poll` until it holds or `timeout` passes; returns its
// last value. For effects that have no event to wait on (database rows).
bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis poll = 10ms);

std::int64_t unix_s();
std::int64_t unix_ms();
// A loopback TCP port nobody listens on now (another process may take it
// before you bind it).
int free_port();
bool contains(const std::string& haystack, const std::string& needle);
// A valid zone config (SPEC §6) of `zones` triangles, alternately detect
// and exclude, with this sensitivity: its JSON text.
std::string zone_config(int zones, int sensitivity = 5);
std::size_t count_lines_with(const std::string& text, const std::string& needle);

// ---------------------------------------------------------------- broker

struct BrokerConfig {
  // plugin_opt_NAME VALUE lines after db_path, in this order.
  std::vector<std::pair<std::string, std::string>> plugin_options;
  bool with_db_path = true;
  std::optional<std::string> db_path;  // default <dir>/rs1.db
  // false: no `user` line, so mosquitto started as root drops to `mosquitto`.
  bool keep_user = true;
  // RLIMIT_FSIZE soft limit for the broker, with SIGXFSZ ignored so a write
  // past it fails with EFBIG instead of killing mosquitto.
  std::optional<rlim_t> file_size_limit;
  // As in broker-config/: a full device payload plus topic and headers.
  std::size_t max_packet_size = 69632;
  // NAME=VALUE for mosquitto's environment; LD_PRELOAD=… is appended to the
  // sanitizer runtime's, if any (e.g. libfaketime, to speed up its clock).
  std::vector<std::string> environment;
  // Runs mosquitto with the rs1_faultfs injector (test/faults) preloaded,
  // reading its rules from this control file: see FaultControl.
  std::optional<std::string> fault_control;
};

// A configuration with just these plugin options.
BrokerConfig opts(std::vector<std::pair<std::string, std::string>> plugin_options);

struct ExitStatus {
  bool exited = false;  // normal exit (then code), else killed by signal
  int code = 0;
  int signal = 0;
  std::string describe() const;
};

class BrokerRunner {
 public:
  enum class Start { now, later };
  explicit BrokerRunner(BrokerConfig config = {}, Start start = Start::now);
  ~BrokerRunner();
  BrokerRunner(const BrokerRunner&) = delete;
  BrokerRunner& operator=(const BrokerRunner&) = delete;

  // Starts mosquitto and waits (10 s) until it serves on its port; fails the
  // test with the broker log otherwise. Also restarts after stop()/kill9(),
  // on the same directory and database.
  void start();
  // For configurations that must not start: waits for mosquitto to exit.
  // `exited == false` with signal 0 means it did not exit in time (it is
  // stopped then).
  ExitStatus start_expecting_failure(Millis timeout = 10s);
  ExitStatus stop(Millis timeout = 60s);  // SIGTERM, waits for the exit
  ExitStatus kill9();
  bool running();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& db_path() const { return db_path_; }
  const std::string& conf_path() const { return conf_path_; }
  // Waits (2 s, SPEC §8) until the broker has applied every change committed
  // to the database so far (provisioning, revocations): a login right after
  // provisioning is then answered with the device known.
  void sync_changes();
  std::string log() const;              // the whole broker log (all runs)
  std::string log_of_this_run() const;  // since the last start
  std::string conf() const;

 private:
  void write_conf();
  void spawn();
  enum class Ready { yes, exited, port_in_use, timeout };
  Ready wait_ready(Millis timeout);
  bool reap(bool block, Millis timeout);

  BrokerConfig config_;
  std::string dir_;
  std::string db_path_;
  std::string conf_path_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::size_t log_offset_ = 0;
  ExitStatus last_status_;
};

// ---------------------------------------------------------------- commands

// A program run to its end, as a user at a shell sees it.
struct CommandResult {
  ExitStatus status;
  int exit_code = -1;  // status.code when it exited normally, else -1
  std::string out;     // standard output
  std::string err;     // standard error
};

// Runs argv[0] (a path) with argv, this process's environment changed by
// `env` (NAME -> value; std::nullopt removes NAME), in `cwd` when given, and
// `stdin_text` as its standard input (none: /dev/null). Killed after
// `timeout`. Fails the test on a sanitizer report in its stderr. May be
// called from a helper thread of a test: it then uses no Catch2 assertion
// and leaves its failures to report_helper_failures().
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::optional<std::string>>& env = {},
                          const std::string& cwd = {}, Millis timeout = 30s,
                          const std::optional<std::string>& stdin_text = std::nullopt);

// ---------------------------------------------------------------- faults

// The rules of an rs1_faultfs control file (test/faults/rs1_faultfs.c), set
// while the processes it was given to run: "write ENOSPC /dir/rs1.db",
// "fsync EIO /dir/", "open EIO /dir/firmware/", "write EIO /dir/x after=4096".
// Removed with the object.
class FaultControl {
 public:
  explicit FaultControl(std::string path);
  ~FaultControl();
  FaultControl(const FaultControl&) = delete;
  FaultControl& operator=(const FaultControl&) = delete;
  // Replaces the rules (written beside and renamed into place) and waits
  // until every process reading them has had time to notice (the injector
  // looks at most every 2 ms).
  void set(const std::vector<std::string>& rules);
  void clear() { set({}); }
  const std::string& path() const { return path_; }
  // For run_command: LD_PRELOAD and RS1_FAULTFS_CONTROL.
  std::map<std::string, std::optional<std::string>> environment() const;

 private:
  std::string path_;
};

// Fails the test (on its own thread) for what went wrong in run_command on
// a helper thread since the last call. run_command on the test's thread and
// ~BrokerRunner call it.
void report_helper_failures();

// ---------------------------------------------------------------- clients

enum class Protocol { v311, v5 };

struct Message {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
};

// A libmosquitto client with its own network thread and no automatic
// reconnect: a test sees every connection it makes, and no more.
class MqttClient {
 public:
  static constexpr int kNoAnswer = -1;  // timed out, or the connection ended first
  static constexpr int kNotSent = -2;   // libmosquitto refused to send

  // clean_session false: a persistent session (3.1.1), which the broker
  // keeps with its subscriptions and queued QoS 1 messages while offline.
  explicit MqttClient(std::string client_id, Protocol protocol = Protocol::v311,
                      bool clean_session = true);
  ~MqttClient();
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  void credentials(const std::string& username, const std::string& password);
  void will(const std::string& topic, const std::string& payload, int qos = 0, bool retain = false);

  // The CONNACK code: the 3.1.1 return code or the v5 reason code.
  int connect(int port, int keepalive = 30, Millis timeout = 5s,
              const char* bind_address = nullptr);
  // QoS 0: 0 once handed to libmosquitto. QoS 1: the PUBACK (v5 reason code;
  // 0 in 3.1.1).
  int publish(const std::string& topic, const std::string& payload, int qos = 0,
              bool retain = false, Millis timeout = 5s);
  // The SUBACK code: the granted QoS, or 0x80 (3.1.1) / 0x87 (v5) refused.
  int subscribe(const std::string& filter, int qos = 1, Millis timeout = 5s);
  std::optional<Message> wait_for_message(Millis timeout = 5s);
  std::size_t received_count();

  void disconnect();    // clean: DISCONNECT, no will
  void kill_network();  // unclean: stops the network thread and shuts the socket down
  // True once the connection has ended (broker closed it, or we did).
  bool wait_disconnected(Millis timeout);
  bool connected();
  int disconnect_code();  // on_disconnect's rc: v5 DISCONNECT reason, or a MOSQ_ERR_*
  const std::string& client_id() const { return client_id_; }

 private:
  static void on_connect(mosquitto*, void*, int, int, const mosquitto_property*);
  static void on_disconnect(mosquitto*, void*, int, const mosquitto_property*);
  static void on_publish(mosquitto*, void*, int, int, const mosquitto_property*);
  static void on_subscribe(mosquitto*, void*, int, int, const int*, const mosquitto_property*);
  static void on_message(mosquitto*, void*, const mosquitto_message*, const mosquitto_property*);
  void stop_loop();

  std::string client_id_;
  Protocol protocol_;
  mosquitto* mosq_ = nullptr;
  std::thread loop_;
  std::atomic<bool> stop_loop_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<int> connack_;
  bool session_live_ = false;  // connected and not yet ended
  bool ended_ = false;
  int disconnect_rc_ = 0;
  std::map<int, int> acks_;     // mid -> PUBACK reason code
  std::set<int> qos0_mids_;     // QoS 0 publishes nobody waits for
  std::map<int, int> subacks_;  // mid -> granted QoS / reason code
  std::deque<Message> messages_;
  std::size_t received_ = 0;
};

// One MQTT packet as read off the wire: the fixed header's first byte and
// the rest after the remaining length.
struct RawPacket {
  std::uint8_t header = 0;
  std::string body;
  int type() const { return header >> 4; }
  // The packet id of an acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP).
  int ack_mid() const;
};

// A bare MQTT 3.1.1 connection on a socket, for what libmosquitto will not
// send: a keepalive shorter than it allows (5 s), so a keepalive timeout is
// quick to provoke, and a PUBLISH resent with DUP under a packet id of the
// test's choosing.
class RawMqttConnection {
 public:
  RawMqttConnection() = default;
  ~RawMqttConnection();
  RawMqttConnection(const RawMqttConnection&) = delete;
  RawMqttConnection& operator=(const RawMqttConnection&) = delete;
  // Sends CONNECT and returns the CONNACK return code, -1 on no answer.
  int connect(int port, const std::string& client_id, const std::string& username,
              const std::string& password, int keepalive_s, Millis timeout = 5s,
              bool clean_session = true);
  // PUBLISH at QoS 1 or 2 under packet id `mid`, with the DUP flag when `dup`.
  void publish(const std::string& topic, const std::string& payload, int qos, int mid, bool dup);
  void pubrel(int mid);
  // The next packet from the broker; nullopt if none came in time.
  std::optional<RawPacket> read_packet(Millis timeout = 5s);
  // Closes the socket without DISCONNECT (an unclean close).
  void drop();
  // Says nothing and waits for the broker to close the socket.
  bool wait_closed_by_broker(Millis timeout);
  // The CONNACK's session-present flag: the broker resumed a persistent session.
  bool session_present() const { return session_present_; }

 private:
  int fd_ = -1;
  bool session_present_ = false;
};

// ---------------------------------------------------------------- database

struct Device {
  std::string id;
  std::string secret;
  std::string secret_hash;
  // The password for the hour `offset` hours from now.
  std::string password(std::int64_t offset_hours = 0) const;
};

struct Account {
  std::string username;
  std::string password;
};

// Provisioning and inspection through the core Store, on the database the
// broker uses (WAL and the busy timeout let both run at once).
class Fleet {
 public:
  explicit Fleet(const std::string& db_path);  // opens and migrates
  Device add_device(const std::string& id);
  Account add_account(const std::string& username, Role role);
  void revoke(const std::string& id);
  void enable(const std::string& id);
  void set_online_by_hand(const std::string& id, bool online);

  std::optional<DeviceRecord> device(const std::string& id);
  bool online(const std::string& id);
  std::vector<TelemetryRecord> telemetry(const std::string& device_id,
                                         std::optional<std::string> metric = std::nullopt);
  std::size_t telemetry_count(const std::string& device_id);
  std::vector<SecurityEvent> events(const std::string& type);
  Database& store() { return *store_; }

 private:
  std::unique_ptr<Database> store_;
};

// ---------------------------------------------------------------- shortcuts

// The commonest start of a test: a broker with device "dev-a" and service
// account "backend", both already applied by the broker.
struct DeviceAndService {
  explicit DeviceAndService(BrokerConfig config = {});
  BrokerRunner broker;
  Fleet fleet;
  Device dev;
  Account svc;
};

// Logged-in clients (the test fails unless the CONNACK is 0).
std::unique_ptr<MqttClient> connect_device(const BrokerRunner& broker, const Device& device,
                                           Protocol protocol = Protocol::v311);
std::unique_ptr<MqttClient> connect_account(const BrokerRunner& broker, const Account& account,
                                            Protocol protocol = Protocol::v311);

// A telemetry row from `device` on metric "barrier", waited for in the
// database: everything the broker queued for the writer before it has been
// committed once this returns true.
bool writer_barrier(MqttClient& device_client, Fleet& fleet, const std::string& device_id,
                    Millis timeout = 5s);

// Starts a broker that must refuse to start: it exits non-zero within 5 s
// and its log has exactly one rs1: line, which contains every `expected`.
void expect_startup_failure(BrokerRunner& broker, const std::vector<std::string>& expected);

// For a broker started with a BrokerConfig::file_size_limit: publishes 1 kB
// telemetry rows as `device_id` until the broker's writes fail and stay
// failing: a checkpoint can free the WAL while the database file still has
// room, and the writer recovers, so it fills on until both are at the limit.
// Returns how many rows it published (all accepted).
std::size_t fill_until_writes_fail(BrokerRunner& broker, Fleet& fleet, MqttClient& device_client,
                                   const std::string& device_id);

}  // namespace rs1::it
