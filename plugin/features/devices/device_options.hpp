// The plugin options the device rules use (SPEC §3): logins, message rate
// and size, login abuse.
#pragma once

#include <cstddef>

#include "core/options.hpp"

namespace rs1 {

struct DeviceOptions {
  bool clock_skew_ahead = false;
  int rate_limit_per_min = 600;
  std::size_t max_payload_bytes = 65536;
  int auth_fail_limit = 5;
  int auth_ban_s = 0;
};

void declare_options(OptionRegistry& registry, DeviceOptions& options);

}  // namespace rs1
