// Broker start and stop, and the bridge from other threads to this one.
#include "broker/broker.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "api/device_routes.hpp"
#include "api/event_routes.hpp"
#include "api/ota_routes.hpp"
#include "api/zone_routes.hpp"
#include "http/console_routes.hpp"
#include "http/firmware_routes.hpp"
#include "broker/ops.hpp"

namespace rs1 {
namespace {

int mosquitto_level(LogLevel level) {
  switch (level) {
    case LogLevel::info:
      return MOSQ_LOG_INFO;
    case LogLevel::warning:
      return MOSQ_LOG_WARNING;
    case LogLevel::error:
      return MOSQ_LOG_ERR;
  }
  return MOSQ_LOG_INFO;
}

// mkdir -p, for data_dir and the database's directory.
void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
      throw std::runtime_error("cannot create directory " + partial + ": " + std::strerror(errno));
    }
  }
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

ClientView client_view(const mosquitto* client) {
  ClientView view;
  view.handle = client;
  if (const char* u = mosquitto_client_username(client)) view.username = u;
  if (const char* id = mosquitto_client_id(client)) view.client_id = id;
  return view;
}

void broker_log(LogLevel level, const std::string& line) {
  mosquitto_log_printf(mosquitto_level(level), "%s", line.c_str());
}

BrokerMetrics::BrokerMetrics(MetricRegistry& r)
    : devices_online(r.gauge("rs1_devices_online", "Devices connected now.")),
      connections_total(r.counter("rs1_connections_total", "Successful logins.")),
      auth_failures_total(r.counter("rs1_auth_failures_total", "Refused logins.")),
      acl_denials_total(r.counter("rs1_acl_denials_total",
                                  "Denied publishes, subscriptions and deliveries.")),
      messages_received_total(r.counter("rs1_messages_received_total", "Messages devices published.")),
      messages_dropped_total(r.counter_family("rs1_messages_dropped_total",
                                              "Device messages dropped, by reason.", "reason",
                                              drop_reason_names())),
      ota_triggers_total(r.counter("rs1_ota_triggers_total", "OTA triggers sent.")),
      downlinks_sent_total(r.counter("rs1_downlinks_sent_total",
                                     "Downlinks (diagnostics, triggers, configs) published to devices.")),
      downlinks_expired_total(r.counter("rs1_downlinks_expired_total",
                                        "Downlinks dropped because they expired before the device subscribed.")),
      ota_rollout_devices(r.gauge_family("rs1_ota_rollout_devices",
                                         "Devices of running rollouts, by status.", "status",
                                         {"pending", "triggered", "in_progress", "success", "failed",
                                          "timed_out", "skipped"})) {}

Broker::Broker(Options options)
    : options_(std::move(options)),
      metrics_(registry_),
      ingest_metrics_(registry_),
      broker_thread_(std::this_thread::get_id()),
      rate_limiter_(options_.devices.rate_limit_per_min),
      auth_failures_(options_.devices.auth_fail_limit, options_.devices.auth_ban_s),
      denial_throttle_(60) {
  // Mosquitto's functions may only be called from its own thread: lines from
  // the other threads wait in the mailbox for the next TICK.
  log_ = [this](LogLevel level, const std::string& line) {
    if (std::this_thread::get_id() == broker_thread_) {
      broker_log(level, line);
    } else {
      mailbox_.post(LogLine{level, line});
    }
  };
  started_s_ = std::time(nullptr);
  make_dirs(parent_of(options_.storage.db_path));
  make_dirs(options_.storage.data_dir);

  writer_db_ = open_sqlite(options_.storage.db_path, SqliteTuning::ingest);
  check_database_at_start(*writer_db_, options_.storage.db_path);
  writer_db_->migrate();
  // A real write: mosquitto may have dropped to a user that can open the
  // database but not write it, and that must stop the broker now.
  try {
    writer_db_->ingest().begin_serving(started_s_);
  } catch (const StoreError& e) {
    throw std::runtime_error("database " + options_.storage.db_path + " is not writable: " + e.what());
  }

  // The feed's position first, then what it keeps current: a commit in
  // between is read again by the feed's first poll, never missed.
  feed_db_ = open_sqlite(options_.storage.db_path, SqliteTuning::background);
  const std::int64_t seq = feed_db_->change_feed().latest_seq();
  directory_.replace(feed_db_->devices().load_credentials(), feed_db_->accounts().load_credentials());

  // Diagnostics requests stored while the broker was down still go out.
  for (auto& r : feed_db_->diag().pending(started_s_)) queue_diag(std::move(r));
  // So do zone configs no device has answered: the database is the truth,
  // whatever Mosquitto's retained store kept or lost.
  for (auto& z : feed_db_->zones().pending()) owe_zone(std::move(z));

  IngestWriter::Config wc;
  wc.flush_interval = std::chrono::milliseconds(options_.ingest.flush_ms);
  wc.queue_max = options_.ingest.queue_max;
  wc.queue_max_bytes = options_.ingest.queue_max_bytes;
  writer_ = std::make_unique<IngestWriter>(writer_db_->ingest(), wc, ingest_metrics_, log_);
  events_ = std::make_unique<EventHub>(registry_);

  feed_ = std::make_unique<ChangeFeed>(feed_db_->change_feed(), seq, log_);
  feed_->on("device", {[this](const std::vector<std::string>& ids) {
                         post_directory_changes(ids, {}, false, false);
                       },
                       [this] { post_directory_changes({}, {}, true, false); }});
  feed_->on("account", {[this](const std::vector<std::string>& names) {
                          post_directory_changes({}, names, false, false);
                        },
                        [this] { post_directory_changes({}, {}, false, true); }});
  feed_->on("diag", {[this](const std::vector<std::string>& ids) { post_diag_requests(ids); },
                     [this] {
                       std::vector<std::string> ids;
                       for (auto& r : feed_db_->diag().pending(std::time(nullptr))) ids.push_back(r.request_id);
                       post_diag_requests(ids);
                     }});
  feed_->on("zone", {[this](const std::vector<std::string>& ids) { post_zone_changes(ids, false); },
                     [this] { post_zone_changes({}, true); }});
  start_ota();
  feed_->on_caught_up([this](std::int64_t seq) { mailbox_.post(FeedApplied{seq}); });
  feed_->start(std::chrono::milliseconds(50));  // an idle poll is one PRAGMA data_version

  ops_ = std::make_unique<OpsRuntime>(options_, *writer_, registry_, log_);
  add_key_file_watch(*ops_);  // start_ota set up what it uses; it runs from ops_->start()

  if (options_.http.listen) {
    // One connection per concurrent health check, not one for all of them.
    health_db_ = std::make_unique<Pool<Database>>(4, [this] {
      return open_sqlite(options_.storage.db_path, SqliteTuning::background);
    });
    http_ = std::make_unique<HttpListener>(*options_.http.listen, log_, HttpLimits{},
                                           tls_of(options_.http));
    mount_firmware_routes(http_->routes(), {key_set_, options_.storage.data_dir, {}});
    try {
      auto console = std::make_shared<const ConsoleFiles>(load_console(options_.http.console_dir));
      broker_log(LogLevel::info, "rs1: console from " + console->dir + " at " + console->base +
                                     " (" + std::to_string(console->assets.size()) + " files)");
      mount_console_routes(http_->routes(), std::move(console));
    } catch (const std::exception& e) {
      // The API, metrics and downloads do not need it: say so, serve on.
      broker_log(LogLevel::warning, std::string("rs1: ") + e.what() + "; / answers 503");
      mount_console_routes(http_->routes(), nullptr, e.what());
    }
    // Device API: each request takes a connection of its own; security
    // events (admin_api_access and the rest) go through the ingest writer.
    api_db_ = std::make_unique<Pool<Database>>(8, [this] {
      return open_sqlite(options_.storage.db_path, SqliteTuning::interactive);
    });
    ApiContext api;
    api.options = options_.api;
    api.key = load_api_key(options_.api.key_file);
    api.db = api_db_.get();
    api.security_event = [this](SecurityEvent&& e) { return writer_->add(std::move(e)); };
    api.auth_fail_limit = options_.devices.auth_fail_limit;
    api.auth_ban_s = options_.devices.auth_ban_s;
    api.data_dir = options_.storage.data_dir;
    api.https = !options_.http.certfile.empty();
    api_ = std::make_unique<ApiApp>(std::move(api));
    // Each domain's routes (plugin/api/*_routes.cpp), then the stage.
    add_device_routes(*api_);
    add_zone_routes(*api_);
    add_ota_routes(*api_);
    add_event_routes(*api_, *events_);
    api_->mount(http_->routes());
    mount_ops_routes(http_->routes(), registry_, [this](std::string& detail) {
      try {
        health_db_->acquire()->schema_version();
      } catch (const std::exception& e) {
        detail = std::string("database: ") + e.what();
        return false;
      }
      if (!writer_->keeping_up()) {
        detail = "writer: commits failing or behind; " + std::to_string(writer_->depth()) + " queued";
        return false;
      }
      return ops_->healthy(detail);
    });
    http_->start();
  }
  ops_->start();

  broker_log(LogLevel::info, "rs1: serving " + std::to_string(directory_.device_count()) +
                                 " device(s) from " + options_.storage.db_path);
}

Broker::~Broker() {
  if (events_) events_->shutdown();  // every stream ends; the listener joins at once
  http_.reset();
  if (ops_) ops_->stop();
  feed_.reset();
  // DISCONNECT does not fire at shutdown for clients still connected: mark
  // them offline here, then let the writer commit everything queued.
  std::int64_t now = std::time(nullptr);
  sessions_.for_each_device([&](std::int64_t ref) {
    DeviceUpdate u;
    u.device_ref = ref;
    u.last_seen = now;
    u.online = false;
    writer_->add(std::move(u));
  });
  writer_->stop();
  for (std::size_t k = 0; k < kWriteKindCount; ++k) {
    const auto kind = static_cast<WriteKind>(k);
    if (std::uint64_t lost = ingest_metrics_.lost(kind).load()) {
      broker_log(LogLevel::error, "rs1: " + std::to_string(lost) + " " + write_kind_words(kind) +
                                      " could not be written");
    }
  }
  for (auto& m : mailbox_.take()) {
    if (auto* line = std::get_if<LogLine>(&m)) broker_log(line->level, line->text);
  }
  std::string dropped;
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    auto reason = static_cast<DropReason>(i);
    if (auto n = metrics_.dropped(reason)) {
      dropped += std::string(dropped.empty() ? "" : ", ") + drop_reason_name(reason) + " " +
                 std::to_string(n);
    }
  }
  broker_log(LogLevel::info, "rs1: stopped; " +
                                 std::to_string(ingest_metrics_.rows_written.load()) +
                                 " telemetry row(s) written; messages dropped: " +
                                 (dropped.empty() ? "none" : dropped));
}

void Broker::security_event(const char* type, const char* severity, const char* address,
                            std::string details, std::int64_t now_s) {
  SecurityEvent e;
  e.event_type = type;
  e.severity = severity;
  e.ip = address ? address : "";
  e.details = std::move(details);
  e.time = now_s;
  writer_->add(std::move(e));
}

// On the change feed's thread: read what changed with its own connection
// and hand it to the broker thread.
void Broker::post_directory_changes(const std::vector<std::string>& devices,
                                    const std::vector<std::string>& accounts, bool all_devices,
                                    bool all_accounts) {
  DirectoryUpdate update;
  update.complete_devices = all_devices;
  update.complete_accounts = all_accounts;
  if (all_devices) update.devices = feed_db_->devices().load_credentials();
  if (all_accounts) update.accounts = feed_db_->accounts().load_credentials();
  for (const auto& id : devices) {
    if (auto d = feed_db_->devices().find_credentials(id)) {
      update.devices.push_back(std::move(*d));
    } else {
      update.removed_devices.push_back(id);
    }
  }
  for (const auto& name : accounts) {
    if (auto a = feed_db_->accounts().find_credentials(name)) {
      update.accounts.push_back(std::move(*a));
    } else {
      update.removed_accounts.push_back(name);
    }
  }
  mailbox_.post(std::move(update));
}

void Broker::post_diag_requests(const std::vector<std::string>& request_ids) {
  const std::int64_t now_s = std::time(nullptr);
  for (const auto& id : request_ids) {
    auto r = feed_db_->diag().get(id);
    if (r && !r->sent_at && r->expires_at > now_s) mailbox_.post(DiagQueued{std::move(*r)});
  }
}

void Broker::touch(Session& session, std::int64_t now_s) {
  // last_seen is kept to the second: one update per device per second at
  // most, however fast it publishes.
  if (session.role != Role::device || session.last_seen_written >= now_s) return;
  session.last_seen_written = now_s;
  DeviceUpdate u;
  u.device_ref = session.device_ref;
  u.last_seen = now_s;
  writer_->add(std::move(u));  // when the queue is full, the next message tries again
}

}  // namespace rs1
