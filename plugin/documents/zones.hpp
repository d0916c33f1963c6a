// SPEC §8 `zone show` (also after `zone set` and `zone rollback`) and
// `zone history`, also the Device API's zone answers (SPEC §10).
#pragma once

#include <string>
#include <vector>

#include "documents/json.hpp"
#include "features/zones/zones.hpp"

namespace rs1::doc {

// {"device_id","desired_version","applied_version","status","config"}: all
// but the id null when the device never had a config.
Json zone_summary_json(const std::string& device_id, const ZoneSummary& summary);
// {"version","created_at","status","error","acked_at","rollback_of"}.
Json zone_version_json(const ZoneVersion& version);
// An array of zone_version_json, in the given order (newest first).
Json zone_history_json(const std::vector<ZoneVersion>& versions);

}  // namespace rs1::doc
