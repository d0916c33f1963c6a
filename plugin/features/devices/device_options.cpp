#include "features/devices/device_options.hpp"

namespace rs1 {

void declare_options(OptionRegistry& r, DeviceOptions& o) {
  constexpr std::int64_t kMaxInt = 2147483647;
  r.boolean("clock_skew_ahead", o.clock_skew_ahead);
  r.integer("rate_limit_per_min", o.rate_limit_per_min, 0, kMaxInt);
  r.integer("max_payload_bytes", o.max_payload_bytes, 2, 256 * 1024 * 1024);
  r.integer("auth_fail_limit", o.auth_fail_limit, 1, kMaxInt);
  r.integer("auth_ban_s", o.auth_ban_s, 0, 30 * 86400);
}

}  // namespace rs1
