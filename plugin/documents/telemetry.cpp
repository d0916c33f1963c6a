#include "documents/telemetry.hpp"

namespace rs1::doc {

Json telemetry_row_json(const TelemetryRecord& row) {
  return {{"device_id", row.device_id},
          {"metric", row.metric},
          {"received_at_ms", row.received_at_ms},
          {"payload", raw_object_or_null(row.payload)}};
}

Json telemetry_rows_json(const std::vector<TelemetryRecord>& rows) {
  Json list = Json::array();
  for (const TelemetryRecord& row : rows) list.push_back(telemetry_row_json(row));
  return list;
}

Json hourly_row_json(const HourlyAggregate& row) {
  Json fields = object_or_null(row.fields);
  if (fields.is_null()) fields = Json::object();
  return {{"device_id", row.device_id},
          {"metric", row.metric},
          {"hour", row.hour},
          {"count", row.count},
          {"fields", std::move(fields)}};
}

Json hourly_rows_json(const std::vector<HourlyAggregate>& rows) {
  Json list = Json::array();
  for (const HourlyAggregate& row : rows) list.push_back(hourly_row_json(row));
  return list;
}

}  // namespace rs1::doc
