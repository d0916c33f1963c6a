// The broker glue: one Broker per plugin instance, owning the core parts and
// turning Mosquitto events into calls on them. Every handler runs on
// Mosquitto's single thread; the writer and the change watcher run on their
// own threads and reach this one only through the Inbox, drained in TICK.
#pragma once

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/change_watcher.hpp"
#include "core/directory.hpp"
#include "core/http_listener.hpp"
#include "core/ingest_writer.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/options.hpp"
#include "core/store.hpp"

namespace rs1 {

// What other threads hand to the broker thread.
class Inbox {
 public:
  void post(LogLevel level, std::string line);
  void post(DirectoryUpdate update);
  void drain(std::vector<std::pair<LogLevel, std::string>>& logs,
             std::vector<DirectoryUpdate>& updates);

 private:
  std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
  std::vector<DirectoryUpdate> updates_;
};

void broker_log(LogLevel level, const std::string& line);  // broker thread only

class Broker {
 public:
  // Opens and migrates the database, proves it writable, loads the directory
  // and starts the writer and the watcher. Throws with a one-line reason.
  explicit Broker(Options options);
  ~Broker();  // commits every queued row before it returns

  int on_basic_auth(mosquitto_evt_basic_auth& ev);
  int on_acl_check(mosquitto_evt_acl_check& ev);
  int on_message(mosquitto_evt_message& ev);
  int on_tick(mosquitto_evt_tick& ev);
  int on_disconnect(mosquitto_evt_disconnect& ev);

  const Metrics& metrics() const { return metrics_; }

 private:
  // auth.cpp
  bool authenticate(mosquitto* client, const char* username, const char* password,
                    std::int64_t now_s);
  const DeviceCredentials* lookup_device(const std::string& id);
  const AccountCredentials* lookup_account(const std::string& name);
  void record_auth_failure(const std::string& address, const char* username, std::int64_t now_s);
  // acl.cpp
  void record_denial(mosquitto* client, const Session* session, int access, const char* topic,
                     std::int64_t now_s);
  // tick.cpp
  void apply(DirectoryUpdate& update, std::vector<std::string>& kick_clients,
             std::vector<std::string>& kick_users);
  void security_event(const char* type, const char* severity, const char* address,
                      std::string details, std::int64_t now_s);
  void touch(Session& session, std::int64_t now_s);

  Options options_;
  Metrics metrics_;
  Inbox inbox_;
  LogSink log_;
  std::thread::id broker_thread_;

  std::unique_ptr<Store> reader_;  // broker thread: directory misses
  Directory directory_;
  Sessions sessions_;
  RateLimiter rate_limiter_;
  AuthFailureTracker auth_failures_;
  LogThrottle denial_throttle_;
  std::unique_ptr<IngestWriter> writer_;
  std::unique_ptr<ChangeWatcher> watcher_;
  std::unique_ptr<Store> health_store_;  // the HTTP listener's threads, under its lock
  std::unique_ptr<HttpListener> http_;

  std::int64_t started_s_ = 0;
  std::int64_t next_housekeeping_s_ = 0;
  std::uint64_t ticks_ = 0;
  bool warned_no_tick_ = false;
};

}  // namespace rs1
