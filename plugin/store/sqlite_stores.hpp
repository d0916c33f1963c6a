// The SQLite implementation of each domain's store interface, all on one
// Connection. One file per domain holds its SQL (sqlite_<domain>.cpp).
#pragma once

#include "store/database.hpp"
#include "store/sqlite_db.hpp"

namespace rs1::sqlite {

class Devices final : public DeviceStore {
 public:
  explicit Devices(Connection& c) : c_(c) {}
  void add(const std::vector<NewDevice>& devices, std::int64_t now_s) override;
  std::vector<DeviceRecord> list() override;
  std::optional<DeviceRecord> get(const std::string& device_id) override;
  std::vector<DeviceRecord> page(const DevicePageQuery& q) override;
  FleetCounts fleet_counts() override;
  bool set_status(const std::string& device_id, const std::string& status) override;
  bool remove(const std::string& device_id) override;
  std::vector<DeviceCredentials> load_credentials() override;
  std::optional<DeviceCredentials> find_credentials(const std::string& device_id) override;

  // Rows deleted per transaction by a bulk delete.
  static constexpr std::size_t kDeleteChunkRows = 5000;

 private:
  Connection& c_;
};

// Deletes the telemetry of one device_ref in chunks of kDeleteChunkRows
// with a pause after each; returns the rows deleted.
std::size_t delete_rows_of(Connection& c, std::int64_t device_ref);
// Deletes, the same way, the telemetry and hourly aggregates of every
// device_ref whose device is gone (an interrupted delete, rows queued for a
// device as it was deleted); returns the rows deleted.
std::size_t sweep_deleted_devices(Connection& c);

class Accounts final : public AccountStore {
 public:
  explicit Accounts(Connection& c) : c_(c) {}
  void add(const std::string& username, Role role, const std::string& salt,
           const std::string& hash, std::int64_t now_s) override;
  std::vector<AccountRecord> list() override;
  bool remove(const std::string& username) override;
  std::vector<AccountCredentials> load_credentials() override;
  std::optional<AccountCredentials> find_credentials(const std::string& username) override;
  void add_session(const ApiSession& s) override;
  std::optional<ApiSession> find_session(const std::string& jti, std::int64_t now_s) override;
  bool remove_session(const std::string& jti) override;

 private:
  Connection& c_;
};

class Telemetry final : public TelemetryStore {
 public:
  explicit Telemetry(Connection& c) : c_(c) {}
  std::vector<TelemetryRecord> query(const TelemetryQuery& q) override;
  std::int64_t count() override;
  // The statement a query runs (tests check its plan).
  static std::string sql_for(const TelemetryQuery& q);

 private:
  Connection& c_;
};

class SecurityLog final : public SecurityLogStore {
 public:
  explicit SecurityLog(Connection& c) : c_(c) {}
  std::vector<SecurityEvent> query(const SecurityLogQuery& q) override;
  void append(const SecurityEvent& event) override;
  // Inside the caller's transaction.
  static void insert(Connection& c, const SecurityEvent& event);

 private:
  Connection& c_;
};

class Diag final : public DiagStore {
 public:
  explicit Diag(Connection& c) : c_(c) {}
  void add(const DiagRequest& request) override;
  std::optional<DiagRequest> get(const std::string& request_id) override;
  std::vector<DiagRequest> pending(std::int64_t now_s) override;
  // Inside the caller's transaction.
  static void mark_sent(Connection& c, const DiagSent& sent);

 private:
  Connection& c_;
};

class Zones final : public ZoneStore {
 public:
  explicit Zones(Connection& c) : c_(c) {}
  ZoneVersion add_version(const std::string& device_id, const std::string& config,
                          std::int64_t now_s) override;
  std::optional<ZoneVersion> add_version_if(const std::string& device_id, std::int64_t expected,
                                            const std::string& config, std::int64_t now_s) override;
  ZoneVersion roll_back(const std::string& device_id, std::int64_t version,
                        std::int64_t now_s) override;
  std::optional<ZoneSummary> summary(const std::string& device_id) override;
  std::optional<std::vector<ZoneVersion>> history(const std::string& device_id) override;
  std::optional<ZoneDesired> desired(const std::string& device_id) override;
  std::vector<ZoneDesired> pending() override;
  // Inside the caller's transaction (the ingest writer's).
  static void record_ack(Connection& c, const ZoneAck& ack);

 private:
  Connection& c_;
};

class Firmware final : public FirmwareStore {
 public:
  explicit Firmware(Connection& c) : c_(c) {}
  void add(const FirmwareRecord& firmware) override;
  std::vector<FirmwareRecord> list() override;
  std::optional<FirmwareRecord> by_version(const std::string& version) override;
  std::optional<FirmwareRecord> by_sha256(const std::string& sha256) override;

 private:
  Connection& c_;
};

class Rollouts final : public RolloutStore {
 public:
  explicit Rollouts(Connection& c) : c_(c) {}
  std::int64_t create(const Rollout& rollout) override;
  std::optional<Rollout> get(std::int64_t id) override;
  std::vector<Rollout> list() override;
  RolloutCounts counts(std::int64_t id) override;
  std::vector<Rollout> active() override;
  bool command(std::int64_t id, const std::vector<RolloutState>& from, RolloutState to,
               const std::optional<std::string>& reason, std::int64_t now_s) override;
  // The engine's writes, inside the caller's transaction.
  static void write_progress(Connection& c, const RolloutProgress& progress);
  static void write_device(Connection& c, const RolloutDeviceRow& row);

 private:
  Connection& c_;
};

class ChangeFeed final : public ChangeFeedStore {
 public:
  explicit ChangeFeed(Connection& c) : c_(c) {}
  bool may_have_changed() override;
  std::int64_t latest_seq() override;
  std::vector<Change> since(std::int64_t seq) override;

 private:
  Connection& c_;
  std::int64_t data_version_ = -1;
};

class Ingest final : public IngestStore {
 public:
  explicit Ingest(Connection& c) : c_(c) {}
  void begin_serving(std::int64_t now_s) override;
  void write_batch(const WriteBatch& batch) override;

 private:
  Connection& c_;
};

class Ops final : public OpsStore {
 public:
  explicit Ops(Connection& c) : c_(c) {}
  std::string quick_check() override;
  std::string integrity_check() override;
  std::optional<std::int64_t> aggregated_through_ms() override;
  std::optional<std::int64_t> oldest_telemetry_ms() override;
  void aggregate_hour(std::int64_t hour_ms) override;
  std::vector<HourlyAggregate> hourly(const HourlyQuery& q) override;
  std::size_t delete_hourly_before(std::int64_t before_s, std::size_t max_rows) override;
  std::vector<ArchiveRow> archive_chunk(std::int64_t from_ms, std::int64_t before_ms,
                                        std::size_t max_rows) override;
  std::vector<ArchiveRow> archive_head(std::int64_t before_ms, std::size_t max_rows) override;
  std::size_t delete_archived_range(std::int64_t first_rowid, std::int64_t last_rowid,
                                    std::int64_t from_ms, std::int64_t before_ms) override;
  std::optional<ArchivePending> archive_pending() override;
  void set_archive_pending(const ArchivePending& p) override;
  void delete_archived(const std::vector<std::int64_t>& rowids) override;
  void clear_archive_pending() override;
  void write_heartbeat(const Heartbeat& h) override;
  std::optional<Heartbeat> heartbeat() override;
  void record_job(const std::string& job, const std::string& error, std::int64_t now_ms) override;
  std::optional<std::string> job_error(const std::string& job) override;
  void checkpoint(std::int64_t bound_pages) override;
  void copy_to(const std::string& dest_path, const CopyPacing& pacing) override;
  std::size_t sweep_deleted_devices() override;

 private:
  std::optional<std::string> state(const std::string& key);
  void set_state(const std::string& key, const std::string& value, std::int64_t now_ms);
  Connection& c_;
};

// Role names as stored; an unknown one is an error, never a privilege.
Role role_from_name(const std::string& name);

}  // namespace rs1::sqlite
