// The Device API's zone endpoints (SPEC §10): a device's zone config with
// its ETag (the desired version), conditional saves, history and rollback.
#pragma once

#include "api/api_app.hpp"

namespace rs1 {

void add_zone_routes(ApiApp& app);

}  // namespace rs1
