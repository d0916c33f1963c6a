// Opening the SQLite implementation of Database.
#pragma once

#include <memory>
#include <string>

#include "store/database.hpp"

namespace rs1 {

// How a connection is tuned: SQLite's concern, so it stays out of the
// interfaces.
enum class SqliteTuning {
  interactive,  // rs1ctl and the HTTP API: ordinary cache, waits on the broker's writer
  ingest,       // the broker's ingest writer: large cache, batched durable commits
  background,   // the broker's other connections: read mostly, short waits
};

// Opens (creating when missing) the database at `path` with WAL, foreign
// keys, a busy timeout and synchronous=FULL. Throws StoreError.
std::unique_ptr<Database> open_sqlite(const std::string& path, SqliteTuning tuning);

}  // namespace rs1
