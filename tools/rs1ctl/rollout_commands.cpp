// rs1ctl rollout create/list/status/pause/resume/cancel (SPEC §7, §8). The
// CLI stores the rollout and operators' changes (each bumping its revision);
// the broker's engine takes them from the change feed within 2 s and walks
// the rollout through its stages.
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/identity.hpp"
#include "features/ota/rollout.hpp"
#include "output.hpp"
#include "validators.hpp"

namespace rs1ctl {
namespace {

struct RolloutArgs {
  std::string version;
  std::string devices;
  bool all = false;
  std::string stages = "10,50,100";
  rs1::RolloutPolicy policy;
  std::int64_t rollout_id = 0;
  bool with_devices = false;
};

Json counts_json(const rs1::RolloutCounts& c) {
  Json j = Json::object();
  for (std::size_t i = 0; i < rs1::kDeviceOtaStatusCount; ++i) {
    j[rs1::status_name(static_cast<rs1::DeviceOtaStatus>(i))] = c[i];
  }
  return j;
}

Json rollout_json(const rs1::Rollout& r, const rs1::RolloutCounts& counts) {
  return {{"rollout_id", r.id},
          {"version", r.version},
          {"state", rs1::state_name(r.state)},
          {"reason", value_or_null(r.reason)},
          {"stages", r.policy.stages},
          {"stage", r.stage + 1},
          {"counts", counts_json(counts)},
          {"all", r.all},
          {"max_failure_rate", r.policy.max_failure_rate},
          {"min_finished", r.policy.min_finished},
          {"max_per_minute", r.policy.max_per_minute},
          {"timeout_min", r.policy.timeout_min},
          {"retries", r.policy.retries},
          {"created_at", r.created_at},
          {"updated_at", r.updated_at}};
}

std::string stages_text(const std::vector<int>& stages) {
  std::string s;
  for (int v : stages) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

std::string counts_text(const rs1::RolloutCounts& c) {
  std::string s;
  for (std::size_t i = 0; i < rs1::kDeviceOtaStatusCount; ++i) {
    s += (s.empty() ? "" : " ") +
         std::string(rs1::status_name(static_cast<rs1::DeviceOtaStatus>(i))) + "=" +
         std::to_string(c[i]);
  }
  return s;
}

std::string rollout_text(const rs1::Rollout& r, const rs1::RolloutCounts& counts) {
  std::string s = "rollout " + std::to_string(r.id) + ": version " + r.version + ", " +
                  rs1::state_name(r.state) + ", stage " + std::to_string(r.stage + 1) + " of " +
                  std::to_string(r.policy.stages.size()) + " (" + stages_text(r.policy.stages) +
                  ")\n";
  if (r.reason) s += "reason: " + *r.reason + "\n";
  return s + counts_text(counts) + "\n";
}

rs1::Rollout get_rollout(rs1::Database& store, std::int64_t id) {
  auto r = store.rollouts().get(id);
  if (!r) throw CommandError("rollout " + std::to_string(id) + " not found");
  return *r;
}

Outcome status_outcome(rs1::Database& store, std::int64_t id, bool with_devices) {
  rs1::Rollout r = get_rollout(store, id);
  const rs1::RolloutCounts counts = rs1::count_statuses(r);
  Json doc = rollout_json(r, counts);
  std::string text = rollout_text(r, counts);
  if (with_devices) {
    Json devices = Json::array();
    Table table({"DEVICE", "STATUS", "ATTEMPTS", "UPDATED", "ERROR"});
    for (const auto& d : r.devices) {
      devices.push_back({{"device_id", d.device_id},
                         {"status", rs1::status_name(d.status)},
                         {"attempts", d.attempts},
                         {"error", value_or_null(d.error)},
                         {"updated_at", d.updated_at}});
      table.add_row({d.device_id, rs1::status_name(d.status), std::to_string(d.attempts),
                     format_time(d.updated_at), d.error ? *d.error : "-"});
    }
    doc["devices"] = devices;
    text += table.str("no devices\n");
  }
  return Outcome{doc, text};
}

Outcome create_rollout(Session& session, RolloutArgs args) {
  auto stages = rs1::parse_stages(args.stages);
  if (!stages) throw CommandError("--stages: comma-separated percentages, e.g. 10,50,100");
  args.policy.stages = *stages;
  if (auto problem = rs1::check_policy(args.policy)) throw CommandError(*problem);
  rs1::Database& store = session.store();
  auto firmware = store.firmware().by_version(args.version);
  if (!firmware)
    throw CommandError("no firmware version " + args.version + " (rs1ctl firmware add)");
  rs1::Rollout r;
  r.version = args.version;
  r.all = args.all;
  r.policy = args.policy;
  r.created_at = session.now();
  if (!args.all) {
    std::set<std::string> seen;
    std::stringstream list(args.devices);
    std::string id;
    while (std::getline(list, id, ',')) {
      if (!rs1::is_valid_device_id(id))
        throw CommandError("--devices: invalid device id '" + id + "'");
      if (!seen.insert(id).second) continue;
      rs1::RolloutDevice d;
      d.device_id = id;
      r.devices.push_back(d);
    }
    if (r.devices.empty()) throw CommandError("--devices: no device given");
  }
  std::int64_t id = 0;
  try {
    id = store.rollouts().create(r);
  } catch (const rs1::StoreError& e) {
    if (e.kind() != rs1::StoreError::Kind::conflict) throw;
    throw CommandError(e.what());
  }
  return status_outcome(store, id, false);
}

Outcome list_rollouts(Session& session) {
  rs1::Database& store = session.store();
  Json doc = Json::array();
  Table table({"ROLLOUT", "VERSION", "STATE", "STAGE", "COUNTS"});
  for (const auto& r : store.rollouts().list()) {
    const rs1::RolloutCounts counts = store.rollouts().counts(r.id);
    doc.push_back(rollout_json(r, counts));
    table.add_row({std::to_string(r.id), r.version, rs1::state_name(r.state),
                   std::to_string(r.stage + 1) + "/" + std::to_string(r.policy.stages.size()),
                   counts_text(counts)});
  }
  return Outcome{doc, table.str("no rollouts\n")};
}

Outcome change_rollout(Session& session, std::int64_t id, rs1::RolloutState to) {
  rs1::Database& store = session.store();
  rs1::Rollout r = get_rollout(store, id);
  using S = rs1::RolloutState;
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
  if (!store.rollouts().command(id, from, to, reason, session.now())) {
    r = get_rollout(store, id);
    throw CommandError("rollout " + std::to_string(id) + " is " + rs1::state_name(r.state) +
                       (to == S::paused    ? ": only a running rollout can be paused"
                        : to == S::running ? ": only a paused rollout can be resumed"
                                           : ": it has ended already"));
  }
  return status_outcome(store, id, false);
}

}  // namespace

void add_rollout_commands(Cli& cli) {
  auto args = std::make_shared<RolloutArgs>();
  CLI::App* group = cli.add_group("rollout", "Staged firmware rollouts");
  CLI::App* create = cli.add_command(*group, "create", "Start a rollout of a firmware version",
                                     [args](Session& s) { return create_rollout(s, *args); });
  create->add_option("--version", args->version, "Firmware version to roll out")->required();
  auto* devices = create->add_option("--devices", args->devices, "Devices, comma-separated")
                      ->type_name("A,B")
                      ->check(comma_list_check());
  auto* all = create->add_flag("--all", args->all,
                               "Every device, including those provisioned while it runs");
  devices->excludes(all);
  create->require_option(1, 0);
  create->add_option("--stages", args->stages, "Cumulative percentages (default 10,50,100)")
      ->type_name("10,50,100");
  create
      ->add_option("--max-failure-rate", args->policy.max_failure_rate,
                   "Pause when failed and timed out pass this share of the finished (default 0.2)")
      ->check(CLI::Range(0.0, 1.0));
  create
      ->add_option("--min-finished", args->policy.min_finished,
                   "Finished devices before the failure rate counts (default 5)")
      ->check(CLI::Range(1, 100000000));
  create
      ->add_option("--max-per-minute", args->policy.max_per_minute,
                   "Triggers a minute (default 600)")
      ->check(CLI::Range(1, 100000000));
  create
      ->add_option("--timeout-min", args->policy.timeout_min,
                   "Minutes a device has to succeed (default 60)")
      ->check(CLI::Range(1, 10080));
  create
      ->add_option("--retries", args->policy.retries,
                   "Further triggers for failed and timed-out devices (default 1)")
      ->check(CLI::Range(0, 100));

  cli.add_command(*group, "list", "List rollouts", [](Session& s) { return list_rollouts(s); });
  CLI::App* status = cli.add_command(*group, "status", "A rollout's progress", [args](Session& s) {
    return status_outcome(s.store(), args->rollout_id, args->with_devices);
  });
  status->add_option("ROLLOUT", args->rollout_id, "Rollout id")->required();
  status->add_flag("--devices", args->with_devices,
                   "Each device's status, attempts and last error");
  struct Change {
    const char* name;
    const char* description;
    rs1::RolloutState to;
  };
  for (const Change& c :
       {Change{"pause", "Stop triggering until resumed", rs1::RolloutState::paused},
        Change{"resume", "Go on with a paused rollout", rs1::RolloutState::running},
        Change{"cancel", "Stop triggering for good", rs1::RolloutState::cancelled}}) {
    const rs1::RolloutState to = c.to;
    CLI::App* command = cli.add_command(*group, c.name, c.description, [args, to](Session& s) {
      return change_rollout(s, args->rollout_id, to);
    });
    command->add_option("ROLLOUT", args->rollout_id, "Rollout id")->required();
  }
}

}  // namespace rs1ctl
