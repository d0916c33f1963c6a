// The broker glue: one Broker per plugin instance, owning the core parts and
// turning Mosquitto events into calls on them. Every handler runs on
// Mosquitto's single thread; the writer, the change feed, the HTTP listener
// and the operations threads run on their own and reach this one only
// through the Mailbox, drained in TICK.
#pragma once

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/downlinks.hpp"
#include "options/plugin_options.hpp"
#include "core/payload.hpp"
#include "features/devices/access.hpp"
#include "features/devices/directory.hpp"
#include "features/diag/diag.hpp"
#include "features/zones/zones.hpp"
#include "features/ota/rollout.hpp"
#include "features/ota/signing.hpp"
#include "api/api_app.hpp"
#include "http/http_listener.hpp"
#include "http/ops_routes.hpp"
#include "http/pool.hpp"
#include "runtime/change_feed.hpp"
#include "runtime/event_hub.hpp"
#include "runtime/ingest_writer.hpp"
#include "runtime/mailbox.hpp"
#include "runtime/metrics.hpp"
#include "runtime/scheduler.hpp"
#include "store/sqlite.hpp"

namespace rs1 {

// A line another thread wants in mosquitto's log.
struct LogLine {
  LogLevel level;
  std::string text;
};

// The change feed has handed over everything up to `seq`; the broker thread
// has applied it once it takes this message (the mailbox keeps order).
struct FeedApplied {
  std::int64_t seq;
};

// A diagnostics request rs1ctl stored, to be delivered by the broker.
struct DiagQueued {
  DiagRequest request;
};

// Desired zone versions read by the change feed: `desired` as stored now
// (pending or answered), `cleared` devices with none; `complete` replaces
// everything the broker owed.
struct ZonesChanged {
  std::vector<ZoneDesired> desired;
  std::vector<std::string> cleared;
  bool complete = false;
};

// Rollouts as the store has them now (rs1ctl created or changed them).
struct RolloutsLoaded {
  std::vector<Rollout> rollouts;
};

// The signing key file changed: these keys are in force (the first signs).
struct SigningKeysChanged {
  std::vector<SigningKey> keys;
};

// What other threads hand to the broker thread.
using BrokerMailbox = Mailbox<LogLine, DirectoryUpdate, DiagQueued, FeedApplied, ZonesChanged,
                              RolloutsLoaded, SigningKeysChanged>;

// The broker glue's metrics, declared once here.
struct BrokerMetrics {
  explicit BrokerMetrics(MetricRegistry& r);
  Counter& devices_online;
  Counter& connections_total;
  Counter& auth_failures_total;
  Counter& acl_denials_total;
  Counter& messages_received_total;
  std::vector<Counter*> messages_dropped_total;  // by DropReason
  Counter& ota_triggers_total;
  Counter& downlinks_sent_total;
  Counter& downlinks_expired_total;
  std::vector<Counter*> ota_rollout_devices;  // by DeviceOtaStatus, running rollouts
  void count_drop(DropReason reason) {
    messages_dropped_total[static_cast<std::size_t>(reason)]->fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t dropped(DropReason reason) const {
    return messages_dropped_total[static_cast<std::size_t>(reason)]->load(std::memory_order_relaxed);
  }
};

void broker_log(LogLevel level, const std::string& line);  // broker thread only
ClientView client_view(const mosquitto* client);

class OpsRuntime;

class Broker {
 public:
  // Opens and migrates the database, proves it writable, loads the directory
  // and starts the writer, the change feed, the operations threads and the
  // HTTP listener. Throws with a one-line reason.
  explicit Broker(Options options);
  ~Broker();  // commits every queued row before it returns

  int on_basic_auth(mosquitto_evt_basic_auth& ev);
  int on_acl_check(mosquitto_evt_acl_check& ev);
  int on_message(mosquitto_evt_message& ev);
  int on_tick(mosquitto_evt_tick& ev);
  int on_disconnect(mosquitto_evt_disconnect& ev);

  const MetricRegistry& metrics() const { return registry_; }

 private:
  // auth.cpp
  void record_auth_failure(const std::string& address, const char* username, std::int64_t now_s);
  // acl.cpp
  void record_denial(mosquitto* client, const Session* session, int access, const char* topic,
                     std::int64_t now_s);
  void note_subscription(Session& session, const char* filter);
  // tick.cpp
  void apply(DirectoryUpdate update, std::vector<std::string>& kick_clients,
             std::vector<std::string>& kick_users);
  void queue_diag(DiagRequest request);
  void send_downlinks(std::int64_t now_s);
  void clear_retained(const std::string& device_id);
  void post_diag_requests(const std::vector<std::string>& request_ids);  // change feed thread
  void post_directory_changes(const std::vector<std::string>& devices,
                              const std::vector<std::string>& accounts, bool all_devices,
                              bool all_accounts);  // change feed thread
  // ota.cpp
  void start_ota();
  void add_key_file_watch(OpsRuntime& ops);  // after start_ota, before ops.start()
  void watch_key_file();                     // the operations module's light thread
  void post_rollouts(const std::vector<std::string>& ids, bool all);  // change feed thread
  void run_rollouts(std::int64_t now_ms);
  void take_in_provisioned(std::int64_t now_s, EngineOutput& out);
  void carry_out(EngineOutput& out, std::int64_t now_s);
  std::vector<std::string> rollout_events(const EngineOutput& out) const;
  void ota_uplink(const std::string& device_id, const std::optional<std::string>& version,
                  const OtaStatusReport* status, std::int64_t now_s);
  void ota_directory_changed(const std::vector<std::string>& added,
                             const std::vector<std::string>& removed);
  void security_event(const char* type, const char* severity, const char* address,
                      std::string details, std::int64_t now_s);
  void touch(Session& session, std::int64_t now_s);
  // zones.cpp
  void post_zone_changes(const std::vector<std::string>& devices, bool all);  // change feed thread
  void apply_zones(ZonesChanged changed);
  void owe_zone(ZoneDesired desired);
  void queue_zone(const ZoneDesired& desired);
  void zone_subscribed(const std::string& device_id);
  bool zone_status(const Session& session, const ConfigStatusReport& report, std::int64_t now_s);

  Options options_;
  MetricRegistry registry_;
  BrokerMetrics metrics_;
  IngestMetrics ingest_metrics_;
  BrokerMailbox mailbox_;
  LogSink log_;
  std::thread::id broker_thread_;

  Directory directory_;
  Sessions sessions_;
  RateLimiter rate_limiter_;
  AuthFailureTracker auth_failures_;
  LogThrottle denial_throttle_;
  Downlinks downlinks_{kDiagHeldPerDevice};
  // Devices whose desired zone version they have not answered: sent again
  // to each session that subscribes to config/update (the database, not
  // Mosquitto's retained store, is the truth).
  std::unordered_map<std::string, ZoneDesired> zones_owed_;
  std::unique_ptr<Database> writer_db_;  // the writer thread's connection
  std::unique_ptr<IngestWriter> writer_;
  std::unique_ptr<Database> feed_db_;  // the change feed thread's connection
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<Pool<Database>> health_db_;  // the HTTP listener's health checks
  std::unique_ptr<Pool<Database>> api_db_;     // the Device API's requests
  std::unique_ptr<EventHub> events_;           // GET /api/v1/events; before http_
  std::unique_ptr<ApiApp> api_;                // before http_: the listener goes first
  std::unique_ptr<HttpListener> http_;
  RolloutEngine rollouts_;
  std::vector<SigningKey> signing_keys_;
  std::int64_t next_ota_gauges_ms_ = 0;
  // ota.cpp: the signing key file, watched while the broker runs by a job on
  // ops_'s light thread. Before ops_, so that thread stops before they go.
  std::shared_ptr<SigningKeySet> key_set_;  // the HTTP listener's view of the keys
  std::unique_ptr<KeyFileWatch> key_watch_;
  Counter* key_file_refused_ = nullptr;
  std::unique_ptr<OpsRuntime> ops_;  // broker/ops.cpp: heartbeat, aggregation, archive, backups

  std::int64_t started_s_ = 0;
  std::int64_t next_housekeeping_s_ = 0;
  std::uint64_t ticks_ = 0;
  bool warned_no_tick_ = false;
};

}  // namespace rs1
