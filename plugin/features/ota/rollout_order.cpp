#include "features/ota/rollout_order.hpp"

#include <set>

#include "core/identity.hpp"

namespace rs1 {

std::int64_t create_rollout(RolloutStore& rollouts, FirmwareStore& firmware,
                            const RolloutOrder& order, std::int64_t now_s) {
  using Part = RolloutOrderError::Part;
  if (auto problem = check_policy(order.policy)) throw RolloutOrderError(Part::policy, *problem);
  if (!firmware.by_version(order.version)) {
    throw RolloutOrderError(Part::version, "no firmware version " + order.version);
  }
  Rollout r;
  r.version = order.version;
  r.all = order.all;
  r.policy = order.policy;
  r.created_at = now_s;
  if (!order.all) {
    std::set<std::string> seen;
    for (const std::string& id : order.devices) {
      if (!is_valid_device_id(id)) {
        throw RolloutOrderError(Part::devices, "invalid device id '" + id + "'");
      }
      if (!seen.insert(id).second) continue;
      RolloutDevice d;
      d.device_id = id;
      r.devices.push_back(d);
    }
    if (r.devices.empty()) throw RolloutOrderError(Part::devices, "no device given");
  }
  return rollouts.create(r);
}

RolloutChangeResult change_rollout_state(RolloutStore& rollouts, std::int64_t id, RolloutState to,
                                         std::int64_t now_s) {
  RolloutChangeResult result;
  if (!rollouts.get(id)) return result;
  result.found = true;
  using S = RolloutState;
  std::vector<S> from;
  std::optional<std::string> reason;
  switch (to) {
    case S::paused:
      from = {S::running};
      reason = "paused by an operator";
      break;
    case S::running:
      from = {S::paused};
      break;
    default:
      from = {S::running, S::paused};
      reason = "cancelled by an operator";
      break;
  }
  if (rollouts.command(id, from, to, reason, now_s)) return result;
  auto r = rollouts.get(id);
  if (!r) {
    result.found = false;
    return result;
  }
  result.refused = "rollout " + std::to_string(id) + " is " + state_name(r->state) +
                   (to == S::paused    ? ": only a running rollout can be paused"
                    : to == S::running ? ": only a paused rollout can be resumed"
                                       : ": it has ended already");
  return result;
}

}  // namespace rs1
