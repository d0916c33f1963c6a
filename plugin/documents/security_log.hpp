// SPEC §8 `security log`, also the Device API's security log (SPEC §10).
#pragma once

#include <vector>

#include "documents/json.hpp"
#include "features/security_log/security_log.hpp"

namespace rs1::doc {

// {"event_type","severity","ip","details","time"}: no address gives a null
// "ip", details that are not one JSON object a null "details".
Json security_event_json(const SecurityEvent& event);
// An array of security_event_json, in the given order (newest first).
Json security_log_json(const std::vector<SecurityEvent>& events);

}  // namespace rs1::doc
