// SPEC §8 `diag`, also the Device API's diag answer (SPEC §10).
#pragma once

#include <string_view>

#include "documents/json.hpp"
#include "features/diag/diag.hpp"

namespace rs1::doc {

// {"request_id"}: the request is stored.
Json diag_request_json(const DiagRequest& request);
// {"request_id","answer"}: the device's `telemetry/diag` payload exactly as
// it sent it (null if it is not one JSON object).
Json diag_answer_json(const DiagRequest& request, std::string_view answer);

}  // namespace rs1::doc
