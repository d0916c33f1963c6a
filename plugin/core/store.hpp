// The store: every read and write of persistent state goes through this one
// interface, so the broker and rs1ctl never see SQL and another backend
// (PostgreSQL) can take SQLite's place. One Store object is one connection:
// use it from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/topic_rules.hpp"

namespace rs1 {

// kind says whether retrying can help: a full disk, an I/O error or a lock
// may pass; a constraint violation will not.
class StoreError : public std::runtime_error {
 public:
  enum class Kind { transient, conflict, fatal };
  StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// What a login needs, kept in memory by the broker.
struct DeviceCredentials {
  std::int64_t ref = 0;  // compact key, used by telemetry rows
  std::string device_id;
  std::string secret_hash;
  bool active = true;
};

struct AccountCredentials {
  std::string username;
  Role role = Role::service;
  std::string password_salt;
  std::string password_hash;
};

// SPEC §8 `device show`.
struct DeviceRecord {
  std::string device_id;
  std::optional<std::string> model;
  std::string status;  // active | revoked
  bool online = false;
  std::optional<std::int64_t> last_seen;
  std::optional<std::string> state;  // JSON object text
  std::optional<std::string> firmware_version;
  std::int64_t created_at = 0;
};

// A device to provision.
struct NewDevice {
  std::string device_id;
  std::optional<std::string> model;
  std::string secret_hash;
};

struct AccountRecord {
  std::string username;
  Role role = Role::service;
  std::int64_t created_at = 0;
};

// Rows and updates the ingest writer applies in batches.
struct TelemetryRow {
  std::int64_t device_ref = 0;
  std::string metric;
  std::int64_t received_at_ms = 0;
  std::string payload;
};

struct DeviceUpdate {
  std::int64_t device_ref = 0;
  std::int64_t last_seen = 0;
  std::optional<bool> online;
  std::optional<std::string> state;  // JSON object text
  std::optional<std::string> firmware_version;
};

struct SecurityEvent {
  std::string event_type;  // auth_failure_repeated | acl_violation | rate_limit_exceeded | admin_api_access
  std::string severity;    // info | warning | critical
  std::string ip;
  std::string details;  // JSON object text
  std::int64_t time = 0;
};

struct WriteBatch {
  std::vector<TelemetryRow> telemetry;
  std::vector<DeviceUpdate> devices;
  std::vector<SecurityEvent> events;

  std::size_t size() const { return telemetry.size() + devices.size() + events.size(); }
  bool empty() const { return size() == 0; }
  void clear() {
    telemetry.clear();
    devices.clear();
    events.clear();
  }
};

// A CLI change the broker must act on (see change_feed in schema/).
struct Change {
  std::int64_t seq = 0;
  std::string entity;  // device | account
  std::string key;
};

struct TelemetryQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> until_ms;
  std::int64_t limit = 1000;
};

struct TelemetryRecord {
  std::string device_id;
  std::string metric;
  std::int64_t received_at_ms = 0;
  std::string payload;  // JSON object text
};

struct SecurityLogQuery {
  std::optional<std::int64_t> since;
  std::optional<std::string> event_type;
  std::int64_t limit = 1000;
};

class Store {
 public:
  virtual ~Store() = default;

  // Brings the schema to the newest migration; a no-op when it is there.
  virtual void migrate() = 0;
  virtual int schema_version() = 0;

  // --- broker ---
  // At start: proves with a real write that the database is writable, and
  // marks every device offline.
  virtual void begin_serving(std::int64_t now_s) = 0;
  // One transaction: all of the batch or, on StoreError, none of it.
  virtual void write_batch(const WriteBatch& batch) = 0;
  virtual std::vector<DeviceCredentials> load_devices() = 0;
  virtual std::optional<DeviceCredentials> find_device(const std::string& device_id) = 0;
  virtual std::vector<AccountCredentials> load_accounts() = 0;
  virtual std::optional<AccountCredentials> find_account(const std::string& username) = 0;
  // True when another connection committed since the last call (cheap: no I/O).
  virtual bool changed_elsewhere() = 0;
  virtual std::int64_t latest_change() = 0;
  virtual std::vector<Change> changes_since(std::int64_t seq) = 0;

  // --- rs1ctl ---
  // All of them in one transaction, or none: throws StoreError(conflict) when
  // an id is taken by a device or an account.
  virtual void add_devices(const std::vector<NewDevice>& devices, std::int64_t now_s) = 0;
  void add_device(const std::string& device_id, const std::optional<std::string>& model,
                  const std::string& secret_hash, std::int64_t now_s) {
    add_devices({NewDevice{device_id, model, secret_hash}}, now_s);
  }
  virtual std::vector<DeviceRecord> list_devices() = 0;
  virtual std::optional<DeviceRecord> get_device(const std::string& device_id) = 0;
  // False when there is no such device.
  virtual bool set_device_status(const std::string& device_id, const std::string& status) = 0;
  // Removes the device with its telemetry; false when there is no such device.
  virtual bool delete_device(const std::string& device_id) = 0;
  virtual void add_account(const std::string& username, Role role, const std::string& salt,
                           const std::string& hash, std::int64_t now_s) = 0;
  virtual std::vector<AccountRecord> list_accounts() = 0;
  virtual bool delete_account(const std::string& username) = 0;
  virtual std::vector<TelemetryRecord> query_telemetry(const TelemetryQuery& q) = 0;
  // Every telemetry row held (the bench checks that none was lost).
  virtual std::int64_t count_telemetry() = 0;
  virtual std::vector<SecurityEvent> query_security_log(const SecurityLogQuery& q) = 0;
  virtual void log_event(const SecurityEvent& event) = 0;
};

enum class StoreRole {
  admin,   // rs1ctl: ordinary cache, waits on the broker's writer
  writer,  // the broker's ingest writer: large cache, batched durable commits
  reader,  // the broker's other connections: read mostly
};

// Opens (creating when missing) the SQLite database at `path` with WAL,
// foreign keys, a busy timeout and synchronous=FULL. Throws StoreError.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, StoreRole role);

}  // namespace rs1
