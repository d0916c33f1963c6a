#include "features/ota/ota_options.hpp"

namespace rs1 {

void declare_options(OptionRegistry& r, OtaOptions& o) {
  r.text("signing_key_file", o.signing_key_file);
  r.url("ota_base_url", o.ota_base_url);
  r.integer("url_ttl_s", o.url_ttl_s, 1, 7 * 86400);
}

}  // namespace rs1
