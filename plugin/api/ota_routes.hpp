// The Device API's firmware and rollout endpoints (SPEC §10): firmware
// list and upload, rollouts listed, shown, created, paused, resumed and
// cancelled.
#pragma once

#include "api/api_app.hpp"

namespace rs1 {

void add_ota_routes(ApiApp& app);

}  // namespace rs1
