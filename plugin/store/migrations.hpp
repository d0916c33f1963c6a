// The numbered migrations of schema/, compiled in (see schema/embed.cmake).
#pragma once

#include <vector>

namespace rs1 {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Sorted by version; a database at PRAGMA user_version N needs those above N.
const std::vector<Migration>& migrations();

}  // namespace rs1
