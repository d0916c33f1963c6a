// SPEC §8 `telemetry query` and `telemetry hourly`, also the Device API's
// telemetry answers and the `telemetry` event (SPEC §10).
#pragma once

#include <vector>

#include "documents/json.hpp"
#include "features/ops/ops_store.hpp"
#include "features/telemetry/telemetry.hpp"

namespace rs1::doc {

// {"device_id","metric","received_at_ms","payload"}, the payload exactly as
// the device sent it.
Json telemetry_row_json(const TelemetryRecord& row);
// An array of telemetry_row_json, in the given order (oldest first).
Json telemetry_rows_json(const std::vector<TelemetryRecord>& rows);
// {"device_id","metric","hour","count","fields":{"NAME":{"min","max","avg"}}};
// stored fields that are not one JSON object give {}.
Json hourly_row_json(const HourlyAggregate& row);
// An array of hourly_row_json, in the given order (oldest hour first).
Json hourly_rows_json(const std::vector<HourlyAggregate>& rows);

}  // namespace rs1::doc
