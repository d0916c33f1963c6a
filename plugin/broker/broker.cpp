// Broker start and stop, and the bridge from other threads to this one.
#include "broker/broker.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

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

void broker_log(LogLevel level, const std::string& line) {
  mosquitto_log_printf(mosquitto_level(level), "%s", line.c_str());
}

void Inbox::post(LogLevel level, std::string line) {
  std::lock_guard<std::mutex> lock(mu_);
  logs_.emplace_back(level, std::move(line));
}

void Inbox::post(DirectoryUpdate update) {
  std::lock_guard<std::mutex> lock(mu_);
  updates_.push_back(std::move(update));
}

void Inbox::drain(std::vector<std::pair<LogLevel, std::string>>& logs,
                  std::vector<DirectoryUpdate>& updates) {
  std::lock_guard<std::mutex> lock(mu_);
  logs.swap(logs_);
  updates.swap(updates_);
}

Broker::Broker(Options options)
    : options_(std::move(options)),
      broker_thread_(std::this_thread::get_id()),
      rate_limiter_(options_.rate_limit_per_min),
      auth_failures_(options_.auth_fail_limit, options_.auth_ban_s),
      denial_throttle_(60) {
  // Mosquitto's functions may only be called from its own thread: lines from
  // the writer and the watcher wait in the inbox for the next TICK.
  log_ = [this](LogLevel level, const std::string& line) {
    if (std::this_thread::get_id() == broker_thread_) {
      broker_log(level, line);
    } else {
      inbox_.post(level, line);
    }
  };
  started_s_ = std::time(nullptr);
  make_dirs(parent_of(options_.db_path));
  make_dirs(options_.data_dir);

  auto writer_store = open_sqlite_store(options_.db_path, StoreRole::writer);
  writer_store->migrate();
  // A real write: mosquitto may have dropped to a user that can open the
  // database but not write it, and that must stop the broker now.
  try {
    writer_store->begin_serving(started_s_);
  } catch (const StoreError& e) {
    throw std::runtime_error("database " + options_.db_path + " is not writable: " + e.what());
  }

  reader_ = open_sqlite_store(options_.db_path, StoreRole::reader);
  std::int64_t seq = reader_->latest_change();
  directory_.replace(reader_->load_devices(), reader_->load_accounts());

  IngestWriter::Config wc;
  wc.flush_interval = std::chrono::milliseconds(options_.ingest_flush_ms);
  wc.queue_max = options_.ingest_queue_max;
  writer_ = std::make_unique<IngestWriter>(std::move(writer_store), wc, metrics_, log_);
  watcher_ = std::make_unique<ChangeWatcher>(
      open_sqlite_store(options_.db_path, StoreRole::reader), seq, std::chrono::milliseconds(250),
      [this](DirectoryUpdate u) { inbox_.post(std::move(u)); }, log_);

  if (options_.http_listen) {
    health_store_ = open_sqlite_store(options_.db_path, StoreRole::reader);
    http_ = std::make_unique<HttpListener>(*options_.http_listen, metrics_, [this](std::string& detail) {
      try {
        health_store_->schema_version();
      } catch (const std::exception& e) {
        detail = std::string("database: ") + e.what();
        return false;
      }
      if (!writer_->keeping_up()) {
        detail = "writer: commits failing or behind; " + std::to_string(writer_->depth()) + " queued";
        return false;
      }
      return true;
    });
  }

  broker_log(LogLevel::info, "rs1: serving " + std::to_string(directory_.device_count()) +
                                 " device(s) from " + options_.db_path);
}

Broker::~Broker() {
  http_.reset();
  watcher_.reset();
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
  if (std::uint64_t lost = metrics_.rows_lost_total.load()) {
    broker_log(LogLevel::error, "rs1: " + std::to_string(lost) + " telemetry row(s) could not be written");
  }
  std::vector<std::pair<LogLevel, std::string>> logs;
  std::vector<DirectoryUpdate> updates;
  inbox_.drain(logs, updates);
  for (auto& [level, line] : logs) broker_log(level, line);
  std::string dropped;
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    auto reason = static_cast<DropReason>(i);
    if (auto n = metrics_.dropped(reason)) {
      dropped += std::string(dropped.empty() ? "" : ", ") + drop_reason_name(reason) + " " +
                 std::to_string(n);
    }
  }
  broker_log(LogLevel::info, "rs1: stopped; " +
                                 std::to_string(metrics_.telemetry_rows_written_total.load()) +
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
