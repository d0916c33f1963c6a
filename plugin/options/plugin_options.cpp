#include "options/plugin_options.hpp"

namespace rs1 {

Options parse_options(const std::vector<std::pair<std::string, std::string>>& raw) {
  Options o;
  OptionRegistry registry;
  declare_options(registry, o.storage);
  declare_options(registry, o.devices);
  declare_options(registry, o.ingest);
  declare_options(registry, o.http);
  declare_options(registry, o.ota);
  declare_options(registry, o.ops);
  declare_options(registry, o.api);
  registry.parse(raw);
  complete(o.storage);
  tls_of(o.http);  // both or neither
  if (o.ota.signing_key_file.empty()) o.ota.signing_key_file = o.storage.data_dir + "/signing.key";
  if (o.api.key_file.empty()) o.api.key_file = o.storage.data_dir + "/api.key";
  return o;
}

}  // namespace rs1
