// The SQLite store: the only file that holds SQL beyond schema/.
#include <sqlite3.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/migrations.hpp"
#include "core/store.hpp"

namespace rs1 {
namespace {

struct DbClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbHandle = std::unique_ptr<sqlite3, DbClose>;
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

StoreError::Kind kind_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return StoreError::Kind::transient;
    case SQLITE_CONSTRAINT:
      return StoreError::Kind::conflict;
    default:
      return StoreError::Kind::fatal;
  }
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& context) {
  std::string msg = context + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  throw StoreError(kind_of(rc), msg);
}

Role role_from(const std::string& s) { return s == "admin" ? Role::admin : Role::service; }

// A statement bound for one use: reset and unbound again when it goes out of
// scope, so a cached statement never holds a read transaction open.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Query& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
    return *this;
  }
  Query& bind(int i, const char* v) {
    check(sqlite3_bind_text(stmt_, i, v, -1, SQLITE_STATIC));
    return *this;
  }
  template <typename T>
  Query& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    check(sqlite3_bind_null(stmt_, i));
    return *this;
  }
  Query& bind(int i, const std::optional<bool>& v) {
    if (v) return bind(i, static_cast<std::int64_t>(*v ? 1 : 0));
    check(sqlite3_bind_null(stmt_, i));
    return *this;
  }

  // True while there is a row.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, rc, "query failed");
  }
  void run() {
    while (step()) {
    }
  }

  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::optional<std::string> opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }
  std::optional<std::int64_t> opt_integer(int col) const {
    if (is_null(col)) return std::nullopt;
    return integer(col);
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind failed");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, StoreRole role) : role_(role) {
    sqlite3* raw = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) throw_sqlite(raw, rc, "cannot open database " + path);
    sqlite3_extended_result_codes(db_.get(), 1);
    // The CLI waits longer for the broker's writer than the broker's own
    // connections wait for the CLI: the writer retries a busy batch anyway.
    int busy_ms = role == StoreRole::admin ? 10000 : role == StoreRole::writer ? 2000 : 200;
    sqlite3_busy_timeout(db_.get(), busy_ms);
    exec("PRAGMA journal_mode=WAL", "cannot switch database " + path + " to WAL");
    exec("PRAGMA foreign_keys=ON");
    // FULL: each commit is fsynced, so a committed row survives power loss.
    exec("PRAGMA synchronous=FULL");
    if (role == StoreRole::writer) {
      exec("PRAGMA cache_size=-65536");
      exec("PRAGMA wal_autocheckpoint=10000");
      exec("PRAGMA journal_size_limit=67108864");
    }
  }

  void migrate() override {
    // Most opens find the schema current: check without taking the write
    // lock, so a read-only command never waits behind the broker's writer.
    if (!migrations().empty() && schema_version() >= migrations().back().version) return;
    Transaction tx(*this);
    int current = schema_version();
    for (const auto& m : migrations()) {
      if (m.version <= current) continue;
      exec(m.sql, std::string("migration ") + m.name + " failed");
      exec("PRAGMA user_version=" + std::to_string(m.version));
    }
    tx.commit();
  }

  int schema_version() override {
    Query q = prepare("PRAGMA user_version");
    return q.step() ? static_cast<int>(q.integer(0)) : 0;
  }

  void begin_serving(std::int64_t now_s) override {
    Transaction tx(*this);
    prepare("UPDATE devices SET online = 0 WHERE online <> 0").run();
    prepare("INSERT INTO meta (key, value) VALUES ('broker_started_at', ?1) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(1, std::to_string(now_s))
        .run();
    tx.commit();
  }

  void write_batch(const WriteBatch& batch) override {
    Transaction tx(*this);
    sqlite3_stmt* insert_row = cached(
        "INSERT INTO telemetry (device_ref, metric, received_at_ms, payload) VALUES (?1, ?2, ?3, ?4)");
    for (const auto& row : batch.telemetry) {
      Query(db_.get(), insert_row)
          .bind(1, row.device_ref)
          .bind(2, row.metric)
          .bind(3, row.received_at_ms)
          .bind(4, row.payload)
          .run();
    }
    sqlite3_stmt* update_device = cached(
        "UPDATE devices SET last_seen = max(coalesce(last_seen, 0), ?2), "
        "online = coalesce(?3, online), state = coalesce(?4, state), "
        "firmware_version = coalesce(?5, firmware_version) WHERE id = ?1");
    for (const auto& u : batch.devices) {
      Query(db_.get(), update_device)
          .bind(1, u.device_ref)
          .bind(2, u.last_seen)
          .bind(3, u.online)
          .bind(4, u.state)
          .bind(5, u.firmware_version)
          .run();
    }
    for (const auto& e : batch.events) insert_event(e);
    tx.commit();
  }

  std::vector<DeviceCredentials> load_devices() override {
    std::vector<DeviceCredentials> out;
    Query q = prepare("SELECT id, device_id, device_secret_hash, status FROM devices");
    while (q.step()) out.push_back(credentials_of(q));
    return out;
  }

  std::optional<DeviceCredentials> find_device(const std::string& device_id) override {
    Query q = prepare("SELECT id, device_id, device_secret_hash, status FROM devices WHERE device_id = ?1");
    q.bind(1, device_id);
    if (!q.step()) return std::nullopt;
    return credentials_of(q);
  }

  std::vector<AccountCredentials> load_accounts() override {
    std::vector<AccountCredentials> out;
    Query q = prepare("SELECT username, role, password_salt, password_hash FROM accounts");
    while (q.step()) out.push_back(account_of(q));
    return out;
  }

  std::optional<AccountCredentials> find_account(const std::string& username) override {
    Query q = prepare(
        "SELECT username, role, password_salt, password_hash FROM accounts WHERE username = ?1");
    q.bind(1, username);
    if (!q.step()) return std::nullopt;
    return account_of(q);
  }

  bool changed_elsewhere() override {
    Query q = prepare("PRAGMA data_version");
    std::int64_t v = q.step() ? q.integer(0) : 0;
    bool changed = v != data_version_;
    data_version_ = v;
    return changed;
  }

  std::int64_t latest_change() override {
    Query q = prepare("SELECT coalesce(max(seq), 0) FROM change_feed");
    return q.step() ? q.integer(0) : 0;
  }

  std::vector<Change> changes_since(std::int64_t seq) override {
    std::vector<Change> out;
    Query q = prepare("SELECT seq, entity, key FROM change_feed WHERE seq > ?1 ORDER BY seq");
    q.bind(1, seq);
    while (q.step()) out.push_back(Change{q.integer(0), q.text(1), q.text(2)});
    return out;
  }

  void add_devices(const std::vector<NewDevice>& devices, std::int64_t now_s) override {
    Transaction tx(*this);
    for (const auto& d : devices) {
      prepare("INSERT INTO devices (device_id, model, device_secret_hash, created_at) "
              "VALUES (?1, ?2, ?3, ?4)")
          .bind(1, d.device_id)
          .bind(2, d.model)
          .bind(3, d.secret_hash)
          .bind(4, now_s)
          .run();
    }
    tx.commit();
  }

  std::vector<DeviceRecord> list_devices() override {
    std::vector<DeviceRecord> out;
    Query q = prepare(std::string(kDeviceColumns) + " ORDER BY device_id");
    while (q.step()) out.push_back(record_of(q));
    return out;
  }

  std::optional<DeviceRecord> get_device(const std::string& device_id) override {
    Query q = prepare(std::string(kDeviceColumns) + " WHERE device_id = ?1");
    q.bind(1, device_id);
    if (!q.step()) return std::nullopt;
    return record_of(q);
  }

  bool set_device_status(const std::string& device_id, const std::string& status) override {
    Transaction tx(*this);
    prepare("UPDATE devices SET status = ?2 WHERE device_id = ?1").bind(1, device_id).bind(2, status).run();
    bool found = sqlite3_changes(db_.get()) > 0;
    tx.commit();
    return found;
  }

  bool delete_device(const std::string& device_id) override {
    Transaction tx(*this);
    prepare("DELETE FROM telemetry WHERE device_ref = (SELECT id FROM devices WHERE device_id = ?1)")
        .bind(1, device_id)
        .run();
    prepare("DELETE FROM devices WHERE device_id = ?1").bind(1, device_id).run();
    bool found = sqlite3_changes(db_.get()) > 0;
    tx.commit();
    return found;
  }

  void add_account(const std::string& username, Role role, const std::string& salt,
                   const std::string& hash, std::int64_t now_s) override {
    Transaction tx(*this);
    prepare("INSERT INTO accounts (username, role, password_salt, password_hash, created_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(1, username)
        .bind(2, role_name(role))
        .bind(3, salt)
        .bind(4, hash)
        .bind(5, now_s)
        .run();
    tx.commit();
  }

  std::vector<AccountRecord> list_accounts() override {
    std::vector<AccountRecord> out;
    Query q = prepare("SELECT username, role, created_at FROM accounts ORDER BY username");
    while (q.step()) out.push_back(AccountRecord{q.text(0), role_from(q.text(1)), q.integer(2)});
    return out;
  }

  bool delete_account(const std::string& username) override {
    Transaction tx(*this);
    prepare("DELETE FROM accounts WHERE username = ?1").bind(1, username).run();
    bool found = sqlite3_changes(db_.get()) > 0;
    tx.commit();
    return found;
  }

  std::vector<TelemetryRecord> query_telemetry(const TelemetryQuery& tq) override {
    // Only the conditions asked for, so SQLite can use the (device, time) index.
    std::string sql =
        "SELECT d.device_id, t.metric, t.received_at_ms, t.payload FROM telemetry t "
        "JOIN devices d ON d.id = t.device_ref WHERE 1";
    if (tq.device_id) sql += " AND d.device_id = ?1";
    if (tq.metric) sql += " AND t.metric = ?2";
    if (tq.since_ms) sql += " AND t.received_at_ms >= ?3";
    if (tq.until_ms) sql += " AND t.received_at_ms <= ?4";
    sql += " ORDER BY t.received_at_ms, t.rowid LIMIT ?5";
    StmtHandle stmt = prepare_once(sql);
    Query q(db_.get(), stmt.get());
    if (tq.device_id) q.bind(1, *tq.device_id);
    if (tq.metric) q.bind(2, *tq.metric);
    if (tq.since_ms) q.bind(3, *tq.since_ms);
    if (tq.until_ms) q.bind(4, *tq.until_ms);
    q.bind(5, tq.limit);
    std::vector<TelemetryRecord> out;
    while (q.step()) out.push_back(TelemetryRecord{q.text(0), q.text(1), q.integer(2), q.text(3)});
    return out;
  }

  std::int64_t count_telemetry() override {
    Query q = prepare("SELECT count(*) FROM telemetry");
    q.step();
    return q.integer(0);
  }

  std::vector<SecurityEvent> query_security_log(const SecurityLogQuery& sq) override {
    Query q = prepare(
        "SELECT event_type, severity, coalesce(ip, ''), details, time FROM security_log "
        "WHERE (?1 IS NULL OR time >= ?1) AND (?2 IS NULL OR event_type = ?2) "
        "ORDER BY time DESC, id DESC LIMIT ?3");
    q.bind(1, sq.since).bind(2, sq.event_type).bind(3, sq.limit);
    std::vector<SecurityEvent> out;
    while (q.step()) {
      out.push_back(SecurityEvent{q.text(0), q.text(1), q.text(2), q.text(3), q.integer(4)});
    }
    return out;
  }

  void log_event(const SecurityEvent& event) override {
    Transaction tx(*this);
    insert_event(event);
    tx.commit();
  }

 private:
  static constexpr const char* kDeviceColumns =
      "SELECT device_id, model, status, online, last_seen, state, firmware_version, created_at "
      "FROM devices";

  // BEGIN IMMEDIATE, so a write never fails half-way with SQLITE_BUSY_SNAPSHOT;
  // rolls back unless committed, and only if SQLite has not already done so.
  class Transaction {
   public:
    explicit Transaction(SqliteStore& s) : s_(s) { s_.exec("BEGIN IMMEDIATE", "cannot begin a write"); }
    ~Transaction() {
      if (!committed_ && !sqlite3_get_autocommit(s_.db_.get())) {
        sqlite3_exec(s_.db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      }
    }
    void commit() {
      s_.exec("COMMIT", "commit failed");
      committed_ = true;
    }

   private:
    SqliteStore& s_;
    bool committed_ = false;
  };

  void exec(const std::string& sql, const std::string& context = "statement failed") {
    char* err = nullptr;
    int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = context + ": " + (err ? err : sqlite3_errstr(rc));
      sqlite3_free(err);
      throw StoreError(kind_of(sqlite3_extended_errcode(db_.get())), msg);
    }
  }

  StmtHandle prepare_once(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
    if (rc != SQLITE_OK) throw_sqlite(db_.get(), rc, "cannot prepare statement");
    return StmtHandle(raw);
  }

  // Statements are prepared once per connection and reused.
  sqlite3_stmt* cached(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second.get();
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) throw_sqlite(db_.get(), rc, "cannot prepare statement");
    return statements_.emplace(sql, StmtHandle(raw)).first->second.get();
  }

  Query prepare(const std::string& sql) { return Query(db_.get(), cached(sql)); }

  void insert_event(const SecurityEvent& e) {
    prepare("INSERT INTO security_log (event_type, severity, ip, details, time) "
            "VALUES (?1, ?2, nullif(?3, ''), ?4, ?5)")
        .bind(1, e.event_type)
        .bind(2, e.severity)
        .bind(3, e.ip)
        .bind(4, e.details)
        .bind(5, e.time)
        .run();
  }

  static DeviceCredentials credentials_of(const Query& q) {
    return DeviceCredentials{q.integer(0), q.text(1), q.text(2), q.text(3) == "active"};
  }
  static AccountCredentials account_of(const Query& q) {
    return AccountCredentials{q.text(0), role_from(q.text(1)), q.text(2), q.text(3)};
  }
  static DeviceRecord record_of(const Query& q) {
    DeviceRecord r;
    r.device_id = q.text(0);
    r.model = q.opt_text(1);
    r.status = q.text(2);
    r.online = q.integer(3) != 0;
    r.last_seen = q.opt_integer(4);
    r.state = q.opt_text(5);
    r.firmware_version = q.opt_text(6);
    r.created_at = q.integer(7);
    return r;
  }

  StoreRole role_;
  DbHandle db_;
  std::unordered_map<std::string, StmtHandle> statements_;
  std::int64_t data_version_ = -1;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, StoreRole role) {
  return std::make_unique<SqliteStore>(path, role);
}

}  // namespace rs1
