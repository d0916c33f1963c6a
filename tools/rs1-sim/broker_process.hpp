// A mosquitto the bench starts itself: vanilla (anonymous, no plugin) or with
// the RS-1 plugin, each on a free loopback port with its own directory, so
// both are measured the same way on the same machine in the same run.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rs1::sim {

struct BrokerSetup {
  std::string mosquitto_bin;
  std::string plugin_path;  // empty: vanilla
  std::string dir;          // created; holds mosquitto.conf, the log and the database
  // plugin_opt_NAME VALUE lines after db_path.
  std::vector<std::pair<std::string, std::string>> plugin_options;
  // Without the RS-1 plugin: mosquitto's dynamic-security plugin with this
  // configuration file (logins and ACLs), and no anonymous clients.
  std::string dynsec_plugin;
  std::string dynsec_config;
  // Lines appended to mosquitto.conf as they are.
  std::vector<std::string> extra_conf;
};

class BrokerProcess {
 public:
  // Writes the configuration and starts mosquitto; returns once it accepts
  // connections. Throws std::runtime_error with the log's tail otherwise.
  explicit BrokerProcess(BrokerSetup setup);
  ~BrokerProcess();  // stops it (SIGTERM, then SIGKILL after 60 s)
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // SIGTERM and wait: with the plugin, every accepted row is committed by
  // then. Throws when it does not exit cleanly in time.
  void stop(std::chrono::seconds timeout = std::chrono::seconds(60));

  bool with_plugin() const { return !setup_.plugin_path.empty(); }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string db_path() const { return setup_.dir + "/rs1.db"; }
  // Resident memory now (VmRSS), in bytes.
  std::int64_t rss_bytes() const;
  std::string log_tail(std::size_t lines = 20) const;

 private:
  void write_conf();
  void spawn();
  bool wait_exit(std::chrono::milliseconds timeout);

  BrokerSetup setup_;
  std::string conf_path_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The environment for a mosquitto child: this process's without inherited
// preloads, plus, when it loads the plugin of a sanitizer build, the ASan
// or TSan runtime preloaded (see CMakeLists.txt). The integration tests use
// it too.
std::vector<std::string> broker_environment(bool with_plugin);

// A loopback TCP port that nobody listens on now.
int free_port();
// Raises this process's open-file limit to `wanted`, or as near as allowed
// (above the hard limit only for root); returns the new soft limit. Brokers
// started afterwards inherit it. A ClientLoop client holds one descriptor
// (its socket; see socketpair() in client_loop.cpp).
std::uint64_t raise_file_limit(std::uint64_t wanted);

}  // namespace rs1::sim
