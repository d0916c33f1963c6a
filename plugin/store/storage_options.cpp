#include "store/storage_options.hpp"

namespace rs1 {
namespace {

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

void declare_options(OptionRegistry& r, StorageOptions& o) {
  r.text("db_path", o.db_path);
  r.text("data_dir", o.data_dir);
}

void complete(StorageOptions& o) {
  if (o.db_path.empty()) throw OptionError("plugin_opt_db_path is required");
  if (o.data_dir.empty()) o.data_dir = parent_dir(o.db_path);
}

}  // namespace rs1
