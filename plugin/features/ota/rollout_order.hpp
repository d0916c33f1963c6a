// An operator's orders for rollouts, shared by `rs1ctl rollout
// create/pause/resume/cancel` and the Device API's POST /api/v1/rollouts…:
// what a new rollout must satisfy before it is stored, and which state
// changes an operator may make.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "features/ota/firmware.hpp"
#include "features/ota/rollout.hpp"

namespace rs1 {

// A rollout to create: a firmware version for `devices` (in order,
// duplicates dropped) or for all devices.
struct RolloutOrder {
  std::string version;
  std::vector<std::string> devices;  // ignored when `all`
  bool all = false;
  RolloutPolicy policy;
};

// Why an order is refused, and which part of it is at fault.
struct RolloutOrderError : std::runtime_error {
  enum class Part { policy, version, devices };
  RolloutOrderError(Part part, const std::string& what) : std::runtime_error(what), part(part) {}
  Part part;
};

// Checks the order (check_policy; the firmware version exists; every
// device id valid, at least one) and creates the running rollout; returns
// its id. Throws RolloutOrderError ("no firmware version V", "invalid
// device id 'x'", "no device given", or check_policy's sentence) and the
// store's StoreError(conflict) (a device already in a rollout, …).
std::int64_t create_rollout(RolloutStore& rollouts, FirmwareStore& firmware,
                            const RolloutOrder& order, std::int64_t now_s);

// An operator's pause (to paused, from running), resume (to running, from
// paused) or cancel (to cancelled, from running or paused).
struct RolloutChangeResult {
  bool found = false;                  // the rollout exists
  std::optional<std::string> refused;  // why the change is not allowed now
};
RolloutChangeResult change_rollout_state(RolloutStore& rollouts, std::int64_t id, RolloutState to,
                                         std::int64_t now_s);

}  // namespace rs1
