// Where the data lives (SPEC §3): the SQLite database and the directory
// beside it for firmware/, archive/ and backups/.
#pragma once

#include <string>

#include "core/options.hpp"

namespace rs1 {

struct StorageOptions {
  std::string db_path;   // required
  std::string data_dir;  // default: the directory of db_path
};

void declare_options(OptionRegistry& registry, StorageOptions& options);
// After parsing: db_path is required, data_dir defaults. Throws OptionError.
void complete(StorageOptions& options);

}  // namespace rs1
