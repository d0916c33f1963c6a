// Helpers shared by the unit tests: a fresh temporary directory per test, a
// migrated SQLite store in it, readable names for the core's enums in failure
// messages, and polling with a deadline for what another thread does.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/time_parse.hpp"
#include "core/topic_rules.hpp"
#include "store/sqlite.hpp"

namespace rs1 {

inline std::ostream& operator<<(std::ostream& os, Role role) { return os << role_name(role); }

inline std::ostream& operator<<(std::ostream& os, Access access) {
  switch (access) {
    case Access::read:
      return os << "READ";
    case Access::write:
      return os << "WRITE";
    case Access::subscribe:
      return os << "SUBSCRIBE";
    case Access::unsubscribe:
      return os << "UNSUBSCRIBE";
  }
  return os << "access?";
}

inline std::ostream& operator<<(std::ostream& os, StoreError::Kind kind) {
  switch (kind) {
    case StoreError::Kind::transient:
      return os << "transient";
    case StoreError::Kind::conflict:
      return os << "conflict";
    case StoreError::Kind::fatal:
      return os << "fatal";
  }
  return os << "kind?";
}

}  // namespace rs1

namespace rs1_test {

// An ISO 8601 UTC time in milliseconds since the epoch ("2026-03-01T10:00:00Z").
inline std::int64_t at(const std::string& iso) {
  auto s = rs1::parse_time(iso, 0);
  if (!s) throw std::invalid_argument("bad time in test: " + iso);
  return *s * 1000;
}

// A directory of its own under $TMPDIR (or /tmp), removed with everything in
// it when the test ends: tests never share files, so ctest -j is safe.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rs1-unit-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A migrated database in a fresh directory, with an admin (rs1ctl) connection.
struct TestDb {
  TempDir dir;
  std::string path = dir.file("rs1.db");
  std::unique_ptr<rs1::Database> admin = open_migrated(path);

  static std::unique_ptr<rs1::Database> open_migrated(const std::string& path) {
    auto store = rs1::open_sqlite(path, rs1::SqliteTuning::interactive);
    store->migrate();
    return store;
  }
};

// A plain SQLite connection, for what the Store interface deliberately does
// not offer (counting rows, holding a lock, adding a trigger).
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db_);
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw std::runtime_error(sql + ": " + msg);
    }
  }

  // Every row's text of the statement's column `col`, joined by newlines.
  std::string texts(const std::string& sql, int col) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
      out += std::string(p ? p : "") + "\n";
    }
    sqlite3_finalize(stmt);
    return out;
  }

  std::int64_t scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::int64_t value = -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) throw std::runtime_error(sql + ": no row");
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

// The kind of StoreError `fn` throws, or nothing when it does not throw one.
template <typename Fn>
std::optional<rs1::StoreError::Kind> store_error_kind(Fn&& fn) {
  try {
    fn();
  } catch (const rs1::StoreError& e) {
    return e.kind();
  }
  return std::nullopt;
}

// Polls `done` until it holds or `timeout` passes; the result of the last
// poll. The timeouts are generous: a slow CI machine makes a passing test
// slower, never a failing one.
template <typename Pred>
bool eventually(Pred&& done, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace rs1_test
