// rs1ctl zone ...: a device's zone configs (SPEC §6, §8 `zone`). `set`
// validates with the same rules the API uses (features/zones/zone_config)
// and stores nothing unless the whole config is valid; the broker pushes the
// new desired version on config/update within 2 s.
#include <limits>
#include <memory>
#include <string>

#include "commands.hpp"
#include "documents/zones.hpp"
#include "features/zones/zone_config.hpp"
#include "features/zones/zones.hpp"
#include "output.hpp"
#include "validators.hpp"

namespace rs1ctl {
namespace {

struct ZoneArgs {
  std::string device_id;
  std::string file;
  std::int64_t version = 0;
};

std::string not_found(const std::string& device_id) { return "device " + device_id + " not found"; }

std::string int_or_dash(const std::optional<std::int64_t>& v) {
  return v ? std::to_string(*v) : std::string("-");
}

// What `show` prints, also after set and rollback.
Outcome show_outcome(Session& session, const std::string& device_id, std::string headline) {
  std::optional<rs1::ZoneSummary> s = session.store().zones().summary(device_id);
  if (!s) throw CommandError(not_found(device_id));
  Table table;
  table.add_row({"device_id", device_id});
  table.add_row({"desired_version", int_or_dash(s->desired_version)});
  table.add_row({"applied_version", int_or_dash(s->applied_version)});
  table.add_row({"status", s->status ? *s->status : "-"});
  table.add_row({"config", s->config ? *s->config : "-"});
  return Outcome{rs1::doc::zone_summary_json(device_id, *s), headline + table.str()};
}

Outcome set_zones(Session& session, const ZoneArgs& args) {
  // Opened first, so a refused config is in the security log too; nothing
  // is stored unless the whole config is valid.
  rs1::Database& store = session.store();
  const std::string text =
      read_input(args.file, "zone file", rs1::kMaxZoneConfigBytes,
                 "is larger than " + std::to_string(rs1::kMaxZoneConfigBytes / 1024) +
                     " KiB: not a zone config")
          .text;
  const std::string source = args.file == "-" ? "standard input" : args.file;
  rs1::ZoneConfigCheck check = rs1::check_zone_config(text);
  if (check.malformed) throw CommandError(source + " is " + *check.malformed);
  if (!check.errors.empty()) {
    throw CommandError("invalid zone config in " + source + ": " +
                       rs1::describe_field_errors(check.errors));
  }
  rs1::ZoneVersion v;
  try {
    v = store.zones().add_version(args.device_id, rs1::canonical_zone_config(check.config),
                                  session.now());
  } catch (const rs1::StoreError& e) {
    if (e.kind() != rs1::StoreError::Kind::conflict) throw;
    throw CommandError(e.what());
  }
  return show_outcome(
      session, args.device_id,
      "zone version " + std::to_string(v.version) + " stored for " + args.device_id + "\n");
}

Outcome roll_back(Session& session, const ZoneArgs& args) {
  rs1::ZoneVersion v;
  try {
    v = session.store().zones().roll_back(args.device_id, args.version, session.now());
  } catch (const rs1::StoreError& e) {
    if (e.kind() != rs1::StoreError::Kind::conflict) throw;
    throw CommandError(e.what());
  }
  return show_outcome(session, args.device_id,
                      "zone version " + std::to_string(args.version) + " stored again as version " +
                          std::to_string(v.version) + " for " + args.device_id + "\n");
}

Outcome history(Session& session, const ZoneArgs& args) {
  auto versions = session.store().zones().history(args.device_id);
  if (!versions) throw CommandError(not_found(args.device_id));
  Table table({"VERSION", "CREATED", "STATUS", "ACKED", "ROLLBACK OF", "ERROR"});
  for (const auto& v : *versions) {
    table.add_row({std::to_string(v.version), format_time(v.created_at), v.status,
                   v.acked_at ? format_time(*v.acked_at) : "-", int_or_dash(v.rollback_of),
                   v.error ? *v.error : "-"});
  }
  return Outcome{rs1::doc::zone_history_json(*versions), table.str("no zone versions")};
}

CLI::App* add_id_command(Cli& cli, CLI::App& group, ZoneArgs& args, const std::string& name,
                         const std::string& description, Handler handler) {
  CLI::App* command = cli.add_command(group, name, description, std::move(handler));
  command->add_option("ID", args.device_id, "Device id")->required()->check(device_id_check());
  return command;
}

}  // namespace

void add_zone_commands(Cli& cli) {
  auto args = std::make_shared<ZoneArgs>();
  CLI::App* zone = cli.add_group("zone", "Zone configs: versions pushed to devices");
  CLI::App* set = add_id_command(cli, *zone, *args, "set",
                                 "Validate and store a zone config as the device's next version",
                                 [args](Session& s) { return set_zones(s, *args); });
  set->add_option("--file", args->file, "The zone config, JSON (- for standard input)")
      ->type_name("F")
      ->required();
  add_id_command(cli, *zone, *args, "show", "The desired and the applied version",
                 [args](Session& s) { return show_outcome(s, args->device_id, ""); });
  add_id_command(cli, *zone, *args, "history", "The kept versions, newest first",
                 [args](Session& s) { return history(s, *args); });
  CLI::App* rollback =
      add_id_command(cli, *zone, *args, "rollback", "Store version N's config as a new version",
                     [args](Session& s) { return roll_back(s, *args); });
  rollback->add_option("--version", args->version, "The version to re-publish")
      ->type_name("N")
      ->required()
      ->check(
          CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()).description(""));
}

}  // namespace rs1ctl
