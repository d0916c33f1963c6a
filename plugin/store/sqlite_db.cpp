#include "store/sqlite_db.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace rs1::sqlite {

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

void throw_error(sqlite3* db, int rc, const std::string& context) {
  std::string msg = context + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  throw StoreError(kind_of(db ? sqlite3_extended_errcode(db) : rc), msg);
}

void throw_open_error(sqlite3* db, int rc, const std::string& path) {
  const int sys = db ? sqlite3_system_errno(db) : 0;
  throw_error(db, rc,
              "cannot open database " + path +
                  (sys != 0 ? std::string(" (") + std::strerror(sys) + ")" : std::string()));
}

Connection::Connection(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) throw_open_error(raw, rc, path);
  sqlite3_extended_result_codes(db_.get(), 1);
  busy_timeout_ms_ = busy_timeout_ms;
  sqlite3_busy_handler(db_.get(), &Connection::on_busy, this);
  // Taken right after the open: the name is resolved once, by the open. An
  // absolute name, so a later chdir (a daemon's) changes nothing.
  path_ = path;
  if (!path_.empty() && path_[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) != nullptr) path_ = std::string(cwd) + "/" + path_;
  }
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    has_file_id_ = true;
    file_dev_ = static_cast<std::uint64_t>(st.st_dev);
    file_ino_ = static_cast<std::uint64_t>(st.st_ino);
  }
}

// SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50
// and then 100 ms between tries, so a waiter may try again up to 100 ms after
// the lock was released (behind a lock held 240 ms: 88 ms late), and the
// ingest writer waiting on a heartbeat's or rs1ctl's commit would overshoot
// its flush window by that much. Trying again every millisecond keeps the
// wait within a millisecond of the holder's commit.
int Connection::on_busy(void* self, int tries) {
  auto* c = static_cast<Connection*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (tries == 0) c->busy_since_ = now;
  if (now - c->busy_since_ >= std::chrono::milliseconds(c->busy_timeout_ms_)) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return 1;
}

bool Connection::same_file() const {
  if (!has_file_id_) return true;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;
  return static_cast<std::uint64_t>(st.st_dev) == file_dev_ &&
         static_cast<std::uint64_t>(st.st_ino) == file_ino_;
}

void Connection::require_same_file() const {
  if (same_file()) return;
  throw StoreError(StoreError::Kind::transient,
                   "database file " + path_ +
                       " was replaced or deleted after it was opened; not writing into it");
}

void Connection::exec(const std::string& sql, const std::string& context) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = context + ": " + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    throw StoreError(kind_of(sqlite3_extended_errcode(db_.get())), msg);
  }
}

Query Connection::query(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) throw_error(db_.get(), rc, "cannot prepare statement");
    it = statements_.emplace(sql, StmtHandle(raw)).first;
  }
  return Query(db_.get(), it->second.get());
}

Connection::OneShot::OneShot(Connection& c, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(c.handle(), sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) throw_error(c.handle(), rc, "cannot prepare statement");
  stmt_.reset(raw);
  query_ = std::make_unique<Query>(c.handle(), raw);
}

}  // namespace rs1::sqlite
