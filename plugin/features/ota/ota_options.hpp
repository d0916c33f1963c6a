// The plugin options of OTA (SPEC §3, §7), validated at start already so a
// typo never waits for the first rollout to surface.
#pragma once

#include <string>

#include "core/options.hpp"

namespace rs1 {

struct OtaOptions {
  std::string signing_key_file;  // default <data_dir>/signing.key, set by the caller
  std::string ota_base_url = "http://127.0.0.1:8080";
  int url_ttl_s = 900;
};

void declare_options(OptionRegistry& registry, OtaOptions& options);

}  // namespace rs1
