// The plugin options of operations (SPEC §3, §9): retention and backups,
// validated at start already.
#pragma once

#include "core/options.hpp"

namespace rs1 {

struct OpsOptions {
  int hot_days = 30;
  int archive_retention_days = 365;
  int backup_retention_days = 30;
  int backup_hour_utc = 3;
  // How often the broker runs quick_check for /healthz (it also runs at start).
  int db_check_interval_s = 300;
};

void declare_options(OptionRegistry& registry, OpsOptions& options);

}  // namespace rs1
