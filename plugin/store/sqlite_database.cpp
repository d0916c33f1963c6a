// Opening a SQLite database: pragmas per tuning, migrations, and the domain
// stores on the one connection.
#include "store/migrations.hpp"
#include "store/sqlite.hpp"
#include "store/sqlite_stores.hpp"

namespace rs1 {
namespace {

using namespace rs1::sqlite;

int busy_timeout_for(SqliteTuning tuning) {
  // The CLI waits longer for the broker's writer than the broker's own
  // connections wait for the CLI: the writer retries a busy batch anyway.
  switch (tuning) {
    case SqliteTuning::interactive:
      return 10000;
    case SqliteTuning::ingest:
      return 2000;
    case SqliteTuning::background:
      return 200;
  }
  return 200;
}

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(const std::string& path, SqliteTuning tuning)
      : c_(path, busy_timeout_for(tuning)),
        devices_(c_),
        accounts_(c_),
        telemetry_(c_),
        security_log_(c_),
        diag_(c_),
        zones_(c_),
        firmware_(c_),
        rollouts_(c_),
        change_feed_(c_),
        ingest_(c_),
        ops_(c_) {
    c_.exec("PRAGMA journal_mode=WAL", "cannot switch database " + path + " to WAL");
    c_.exec("PRAGMA foreign_keys=ON");
    // FULL: each commit is fsynced, so a committed row survives power loss.
    c_.exec("PRAGMA synchronous=FULL");
    if (tuning == SqliteTuning::ingest) {
      c_.exec("PRAGMA cache_size=-65536");
      // Never inside the writer's commits: the broker's checkpoint job copies
      // the WAL back every second on a connection of its own (broker/ops.cpp).
      c_.exec("PRAGMA wal_autocheckpoint=0");
      c_.exec("PRAGMA journal_size_limit=67108864");
    }
  }

  void migrate() override {
    const auto& all = migrations();
    const int newest = all.empty() ? 0 : all.back().version;
    // Most opens find the schema current: check without taking the write
    // lock, so a read-only command never waits behind the broker's writer.
    int current = schema_version();
    if (current == newest) return;
    if (current > newest) throw too_new(current, newest);
    Transaction tx(c_);
    current = schema_version();
    if (current > newest) throw too_new(current, newest);
    for (const auto& m : all) {
      if (m.version <= current) continue;
      c_.exec(m.sql, std::string("migration ") + m.name + " failed");
      c_.exec("PRAGMA user_version=" + std::to_string(m.version));
    }
    tx.commit();
  }

  int schema_version() override {
    Query q = c_.query("PRAGMA user_version");
    return q.step() ? static_cast<int>(q.integer(0)) : 0;
  }

  DeviceStore& devices() override { return devices_; }
  AccountStore& accounts() override { return accounts_; }
  TelemetryStore& telemetry() override { return telemetry_; }
  std::int64_t engine_memory_bytes() override { return sqlite3_memory_used(); }
  SecurityLogStore& security_log() override { return security_log_; }
  DiagStore& diag() override { return diag_; }
  ZoneStore& zones() override { return zones_; }
  FirmwareStore& firmware() override { return firmware_; }
  RolloutStore& rollouts() override { return rollouts_; }
  ChangeFeedStore& change_feed() override { return change_feed_; }
  IngestStore& ingest() override { return ingest_; }
  OpsStore& ops() override { return ops_; }

 private:
  static StoreError too_new(int current, int newest) {
    // A downgrade must not touch data it does not understand.
    return StoreError(StoreError::Kind::fatal,
                      "database schema version " + std::to_string(current) +
                          " is newer than this build's " + std::to_string(newest) +
                          " (a newer rs1 wrote it; upgrade, or restore a backup taken before)");
  }

  Connection c_;
  Devices devices_;
  Accounts accounts_;
  Telemetry telemetry_;
  SecurityLog security_log_;
  Diag diag_;
  Zones zones_;
  Firmware firmware_;
  Rollouts rollouts_;
  ChangeFeed change_feed_;
  Ingest ingest_;
  Ops ops_;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path, SqliteTuning tuning) {
  return std::make_unique<SqliteDatabase>(path, tuning);
}

}  // namespace rs1
