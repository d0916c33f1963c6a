// rs1ctl rollout create/list/status/pause/resume/cancel (SPEC §7, §8). The
// CLI stores the rollout and operators' changes (each bumping its revision);
// the broker's engine takes them from the change feed within 2 s and walks
// the rollout through its stages.
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "documents/ota.hpp"
#include "features/ota/rollout.hpp"
#include "features/ota/rollout_order.hpp"
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
  std::string text = rollout_text(r, counts);
  if (with_devices) {
    Table table({"DEVICE", "STATUS", "ATTEMPTS", "UPDATED", "ERROR"});
    for (const auto& d : r.devices) {
      table.add_row({d.device_id, rs1::status_name(d.status), std::to_string(d.attempts),
                     format_time(d.updated_at), d.error ? *d.error : "-"});
    }
    text += table.str("no devices\n");
  }
  return Outcome{rs1::doc::rollout_status_json(r, counts, with_devices), text};
}

Outcome create_rollout(Session& session, RolloutArgs args) {
  auto stages = rs1::parse_stages(args.stages);
  if (!stages) throw CommandError("--stages: comma-separated percentages, e.g. 10,50,100");
  rs1::RolloutOrder order;
  order.version = args.version;
  order.all = args.all;
  order.policy = args.policy;
  order.policy.stages = *stages;
  if (!args.all) {
    std::stringstream list(args.devices);
    std::string id;
    while (std::getline(list, id, ',')) order.devices.push_back(id);
  }
  rs1::Database& store = session.store();
  std::int64_t id = 0;
  try {
    // The same rules as POST /api/v1/rollouts.
    id = rs1::create_rollout(store.rollouts(), store.firmware(), order, session.now());
  } catch (const rs1::RolloutOrderError& e) {
    using Part = rs1::RolloutOrderError::Part;
    if (e.part == Part::version)
      throw CommandError(std::string(e.what()) + " (rs1ctl firmware add)");
    if (e.part == Part::devices) throw CommandError(std::string("--devices: ") + e.what());
    throw CommandError(e.what());
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
    doc.push_back(rs1::doc::rollout_json(r, counts));
    table.add_row({std::to_string(r.id), r.version, rs1::state_name(r.state),
                   std::to_string(r.stage + 1) + "/" + std::to_string(r.policy.stages.size()),
                   counts_text(counts)});
  }
  return Outcome{doc, table.str("no rollouts\n")};
}

Outcome change_rollout(Session& session, std::int64_t id, rs1::RolloutState to) {
  rs1::Database& store = session.store();
  const rs1::RolloutChangeResult result =
      rs1::change_rollout_state(store.rollouts(), id, to, session.now());
  if (!result.found) throw CommandError("rollout " + std::to_string(id) + " not found");
  if (result.refused) throw CommandError(*result.refused);
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
