// What the change feed reads: every committed change to an entity the broker
// mirrors (a device, an account, and what later features add) leaves an
// entry naming the entity and its key, in commit order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/store_error.hpp"

namespace rs1 {

struct Change {
  std::int64_t seq = 0;
  std::string entity;  // device | account | diag | ...
  std::string key;
};

class ChangeFeedStore {
 public:
  virtual ~ChangeFeedStore() = default;
  // A cheap hint, no I/O where the backend allows: false only when nothing
  // was committed elsewhere since the last call (true may be a false alarm).
  virtual bool may_have_changed() = 0;
  virtual std::int64_t latest_seq() = 0;
  virtual std::vector<Change> since(std::int64_t seq) = 0;
};

}  // namespace rs1
