#include "features/ops/ops_options.hpp"

namespace rs1 {

void declare_options(OptionRegistry& r, OpsOptions& o) {
  r.integer("hot_days", o.hot_days, 1, 36500);
  r.integer("archive_retention_days", o.archive_retention_days, 1, 36500);
  r.integer("backup_retention_days", o.backup_retention_days, 1, 36500);
  r.integer("backup_hour_utc", o.backup_hour_utc, 0, 23);
  r.integer("db_check_interval_s", o.db_check_interval_s, 1, 86400);
}

}  // namespace rs1
