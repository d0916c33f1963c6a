// SPEC §8 `firmware` and `rollout`, also the Device API's firmware and
// rollout answers and the `rollout` event (SPEC §10). A rollout's counts are
// a parameter: the caller has them from the rollout's devices
// (count_statuses) or from the store.
#pragma once

#include <vector>

#include "documents/json.hpp"
#include "features/ota/firmware.hpp"
#include "features/ota/rollout.hpp"

namespace rs1::doc {

// {"version","sha256","size","created_at"}: `firmware add`, each of `firmware list`.
Json firmware_json(const FirmwareRecord& firmware);
// An array of firmware_json, in the given order.
Json firmware_list_json(const std::vector<FirmwareRecord>& firmware);

// {"pending","triggered","in_progress","success","failed","timed_out","skipped"}.
Json rollout_counts_json(const RolloutCounts& counts);
// `rollout create` / `rollout status` / each of `rollout list`:
// {"rollout_id","version","state","reason","stages","stage" (1-based),
// "counts","all","max_failure_rate","min_finished","max_per_minute",
// "timeout_min","retries","created_at","updated_at"}.
Json rollout_json(const Rollout& rollout, const RolloutCounts& counts);
// {"device_id","status","attempts","error","updated_at"}.
Json rollout_device_json(const RolloutDevice& device);
// An array of rollout_device_json, in the given order.
Json rollout_devices_json(const std::vector<RolloutDevice>& devices);
// `rollout status`: rollout_json, and with `with_devices` its "devices"
// (rollout_devices_json of rollout.devices).
Json rollout_status_json(const Rollout& rollout, const RolloutCounts& counts, bool with_devices);

}  // namespace rs1::doc
