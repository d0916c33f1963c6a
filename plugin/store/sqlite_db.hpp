// A small RAII layer over SQLite: the connection, statements prepared once
// and reused, a bound query that resets itself, and a transaction that rolls
// back unless committed. Every other store file is written in these terms.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/store_error.hpp"

namespace rs1::sqlite {

[[noreturn]] void throw_error(sqlite3* db, int rc, const std::string& context);
// sqlite3_open_v2 failed on `path`: "cannot open database PATH (the
// system's reason): SQLite's message" ("unable to open database file" alone
// does not say why).
[[noreturn]] void throw_open_error(sqlite3* db, int rc, const std::string& path);
StoreError::Kind kind_of(int rc);

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
  Query& bind(int i, double v) {
    check(sqlite3_bind_double(stmt_, i, v));
    return *this;
  }
  Query& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
    return *this;
  }
  Query& bind(int i, std::string_view v) {
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
    throw_error(db_, rc, "query failed");
  }
  void run() {
    while (step()) {
    }
  }
  // Ready to be bound and run again (the bindings are kept until rebound).
  void reset() { sqlite3_reset(stmt_); }

  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
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
    if (rc != SQLITE_OK) throw_error(db_, rc, "bind failed");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One connection.
class Connection {
 public:
  Connection(const std::string& path, int busy_timeout_ms);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_.get(); }
  void exec(const std::string& sql, const std::string& context = "statement failed");
  // Prepared once per connection (SQLITE_PREPARE_PERSISTENT) and reused.
  Query query(const std::string& sql);
  // For SQL built at run time: prepared for this use only.
  class OneShot;
  int changes() const { return sqlite3_changes(db_.get()); }

  // Whether the file at the path opened is still the file this connection
  // opened (device and inode): an operator's `mv` or `rm` replaces the name,
  // not what SQLite writes. True when the path had no file identity to take
  // (an in-memory database).
  bool same_file() const;
  // Throws StoreError(transient) unless same_file(): every write transaction
  // checks it first, so a connection never writes into a database that is no
  // longer the one at its path.
  void require_same_file() const;
  const std::string& path() const { return path_; }
  // How long a statement waits for a lock before SQLITE_BUSY.
  int busy_timeout_ms() const { return busy_timeout_ms_; }
  void set_busy_timeout_ms(int ms) { busy_timeout_ms_ = ms; }

 private:
  static int on_busy(void* self, int tries);

  struct Close {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
  };
  struct Finalize {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  using StmtHandle = std::unique_ptr<sqlite3_stmt, Finalize>;
  friend class OneShot;

  std::unique_ptr<sqlite3, Close> db_;
  std::unordered_map<std::string, StmtHandle> statements_;
  std::string path_;
  int busy_timeout_ms_ = 0;
  std::chrono::steady_clock::time_point busy_since_;
  bool has_file_id_ = false;
  std::uint64_t file_dev_ = 0;
  std::uint64_t file_ino_ = 0;
};

// A statement for SQL built at run time (a query with optional filters).
class Connection::OneShot {
 public:
  OneShot(Connection& c, const std::string& sql);
  Query& query() { return *query_; }

 private:
  StmtHandle stmt_;
  std::unique_ptr<Query> query_;
};

// BEGIN IMMEDIATE, so a write never fails half-way with SQLITE_BUSY_SNAPSHOT;
// rolls back unless committed, and only if SQLite has not already done so.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(c) {
    c_.require_same_file();
    c_.exec("BEGIN IMMEDIATE", "cannot begin a write");
  }
  ~Transaction() {
    if (!committed_ && !sqlite3_get_autocommit(c_.handle())) {
      sqlite3_exec(c_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    c_.exec("COMMIT", "commit failed");
    committed_ = true;
  }

 private:
  Connection& c_;
  bool committed_ = false;
};

// A savepoint inside an open transaction: released when committed, rolled
// back to (and released) otherwise, leaving the outer transaction usable.
class Savepoint {
 public:
  explicit Savepoint(Connection& c) : c_(c) { c_.exec("SAVEPOINT item", "cannot set a savepoint"); }
  ~Savepoint() {
    if (!released_ && !sqlite3_get_autocommit(c_.handle())) {
      sqlite3_exec(c_.handle(), "ROLLBACK TO item; RELEASE item", nullptr, nullptr, nullptr);
    }
  }
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  void release() {
    c_.exec("RELEASE item", "cannot release a savepoint");
    released_ = true;
  }

 private:
  Connection& c_;
  bool released_ = false;
};

}  // namespace rs1::sqlite
