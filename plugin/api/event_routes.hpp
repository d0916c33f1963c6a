// GET /api/v1/events (SPEC §10): server-sent events from the broker's
// event hub (runtime/event_hub.hpp), role service.
#pragma once

#include "api/api_app.hpp"
#include "runtime/event_hub.hpp"

namespace rs1 {

void add_event_routes(ApiApp& app, EventHub& hub);

}  // namespace rs1
