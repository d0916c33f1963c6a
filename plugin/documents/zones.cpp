#include "documents/zones.hpp"

namespace rs1::doc {

Json zone_summary_json(const std::string& device_id, const ZoneSummary& summary) {
  return {{"device_id", device_id},
          {"desired_version", value_or_null(summary.desired_version)},
          {"applied_version", value_or_null(summary.applied_version)},
          {"status", value_or_null(summary.status)},
          {"config", raw_object_or_null(summary.config)}};
}

Json zone_version_json(const ZoneVersion& version) {
  return {{"version", version.version},
          {"created_at", version.created_at},
          {"status", version.status},
          {"error", value_or_null(version.error)},
          {"acked_at", value_or_null(version.acked_at)},
          {"rollback_of", value_or_null(version.rollback_of)},
          // The console's history previews draw each version from it.
          {"config", raw_object_or_null(version.config)}};
}

Json zone_history_json(const std::vector<ZoneVersion>& versions) {
  Json list = Json::array();
  for (const ZoneVersion& version : versions) list.push_back(zone_version_json(version));
  return list;
}

}  // namespace rs1::doc
