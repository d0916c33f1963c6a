// SQL for the change feed (filled by triggers, see schema/).
#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {

bool ChangeFeed::may_have_changed() {
  // data_version moves on every commit by another connection: no I/O.
  Query q = c_.query("PRAGMA data_version");
  std::int64_t v = q.step() ? q.integer(0) : 0;
  bool changed = v != data_version_;
  data_version_ = v;
  return changed;
}

std::int64_t ChangeFeed::latest_seq() {
  Query q = c_.query("SELECT coalesce(max(seq), 0) FROM change_feed");
  return q.step() ? q.integer(0) : 0;
}

std::vector<Change> ChangeFeed::since(std::int64_t seq) {
  std::vector<Change> out;
  Query q = c_.query("SELECT seq, entity, key FROM change_feed WHERE seq > ?1 ORDER BY seq");
  q.bind(1, seq);
  while (q.step()) out.push_back(Change{q.integer(0), q.text(1), q.text(2)});
  return out;
}

}  // namespace rs1::sqlite
