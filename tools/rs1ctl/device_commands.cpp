// rs1ctl device ...: provisioning, status and the password a device would send.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/identity.hpp"
#include "documents/devices.hpp"
#include "features/devices/provisioning.hpp"
#include "output.hpp"
#include "validators.hpp"

namespace rs1ctl {
namespace {

// Only one device command runs per process, so they share one set of values.
struct DeviceArgs {
  std::string device_id;
  std::optional<std::string> model;
  std::string secret;
  std::optional<std::string> secret_file;
  std::int64_t at = 0;
};

// A secret file holds one line of 64 hex characters; anything much longer is
// not one, and /dev/zero must not fill the memory.
constexpr std::size_t kMaxSecretFileBytes = 4096;

std::string not_found(const std::string& device_id) { return "device " + device_id + " not found"; }

std::string text_or_dash(const std::optional<std::string>& text) { return text ? *text : "-"; }

std::string time_or_dash(const std::optional<std::int64_t>& t) { return t ? format_time(*t) : "-"; }

// A device command whose first argument is the device id.
CLI::App* add_id_command(Cli& cli, CLI::App& group, DeviceArgs& args, const std::string& name,
                         const std::string& description, Handler handler) {
  CLI::App* command = cli.add_command(group, name, description, std::move(handler));
  command->add_option("ID", args.device_id, "Device id")->required()->check(device_id_check());
  return command;
}

Outcome add_device(Session& session, const DeviceArgs& args) {
  rs1::DeviceSecret secret;
  try {
    secret =
        rs1::provision_device(session.store().devices(), args.device_id, args.model, session.now());
  } catch (const rs1::DeviceIdTaken& e) {
    throw CommandError(e.what());
  }
  return Outcome{rs1::doc::device_added_json(args.device_id, secret.secret),
                 "device " + args.device_id + " added\nsecret: " + secret.secret +
                     "\n(shown only this once: store it on the device)\n"};
}

Outcome list_devices(Session& session) {
  const std::vector<rs1::DeviceRecord> devices = session.store().devices().list();
  Table table({"DEVICE", "MODEL", "STATUS", "ONLINE", "LAST SEEN", "FIRMWARE", "CREATED"});
  for (const rs1::DeviceRecord& d : devices) {
    table.add_row({d.device_id, text_or_dash(d.model), d.status, d.online ? "yes" : "no",
                   time_or_dash(d.last_seen), text_or_dash(d.firmware_version),
                   format_time(d.created_at)});
  }
  return Outcome{rs1::doc::device_list_json(devices), table.str("no devices")};
}

Outcome show_device(Session& session, const DeviceArgs& args) {
  std::optional<rs1::DeviceRecord> d = session.store().devices().get(args.device_id);
  if (!d) throw CommandError(not_found(args.device_id));
  Json document = rs1::doc::device_json(*d);
  Table table;
  table.add_row({"device_id", d->device_id});
  table.add_row({"model", text_or_dash(d->model)});
  table.add_row({"status", d->status});
  table.add_row({"online", d->online ? "yes" : "no"});
  table.add_row({"last_seen", time_or_dash(d->last_seen)});
  table.add_row({"firmware_version", text_or_dash(d->firmware_version)});
  table.add_row({"created_at", format_time(d->created_at)});
  table.add_row({"state", is_raw_json(document["state"])
                              ? std::string(raw_json_text(document["state"]))
                              : std::string("-")});
  return Outcome{document, table.str()};
}

Outcome set_status(Session& session, const DeviceArgs& args, const std::string& status,
                   const std::string& done) {
  if (!session.store().devices().set_status(args.device_id, status)) {
    throw CommandError(not_found(args.device_id));
  }
  return Outcome{{{"device_id", args.device_id}, {"status", status}},
                 "device " + args.device_id + " " + done + "\n"};
}

Outcome delete_device(Session& session, const DeviceArgs& args) {
  if (!session.store().devices().remove(args.device_id)) throw CommandError(not_found(args.device_id));
  return Outcome{{{"device_id", args.device_id}, {"deleted", true}},
                 "device " + args.device_id + " deleted with its telemetry\n"};
}

// The secret from --secret-file: FILE, or standard input for "-", with the
// line end trimmed. Errors name the file, never what it holds.
std::string read_secret_file(const std::string& path) {
  Input input = read_input(path, "secret file", kMaxSecretFileBytes,
                           "is too long to hold a device secret");
  const std::string& name = input.name;
  std::string& text = input.text;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!normalize_device_secret(text)) {
    throw CommandError(name + " does not hold a device secret (64 hex characters)");
  }
  return text;
}

// Needs no database: the password follows from the secret alone (SPEC §4).
Outcome device_password(const DeviceArgs& args) {
  const std::string secret = args.secret_file ? read_secret_file(*args.secret_file) : args.secret;
  std::int64_t hour = rs1::hour_of(args.at);
  std::string password = rs1::password_for_hour(rs1::sha256_hex(secret), args.device_id, hour);
  // Bare, so that it can be used as $(rs1ctl device password ...).
  return Outcome{{{"device_id", args.device_id}, {"hour", hour}, {"password", password}},
                 password + "\n"};
}

}  // namespace

void add_device_commands(Cli& cli) {
  auto args = std::make_shared<DeviceArgs>();
  CLI::App* device = cli.add_group("device", "Provision and manage devices");

  CLI::App* add =
      add_id_command(cli, *device, *args, "add", "Provision a device; prints its secret once",
                     [args](Session& s) { return add_device(s, *args); });
  add->add_option_function<std::string>(
         "--model", [args](const std::string& model) { args->model = model; }, "Device model")
      ->type_name("M");

  cli.add_command(*device, "list", "List devices", [](Session& s) { return list_devices(s); });
  add_id_command(cli, *device, *args, "show", "Show one device",
                 [args](Session& s) { return show_device(s, *args); });
  add_id_command(cli, *device, *args, "revoke", "Refuse the device's logins and disconnect it",
                 [args](Session& s) { return set_status(s, *args, "revoked", "revoked"); });
  add_id_command(cli, *device, *args, "enable", "Accept a revoked device's logins again",
                 [args](Session& s) { return set_status(s, *args, "active", "enabled"); });
  add_id_command(cli, *device, *args, "delete", "Delete a device and its telemetry",
                 [args](Session& s) { return delete_device(s, *args); });

  CLI::App* password =
      add_id_command(cli, *device, *args, "password", "Print the MQTT password a device would send",
                     [args](Session&) { return device_password(*args); });
  CLI::Option* secret =
      password->add_option("--secret", args->secret, "The device secret (64 hex characters)")
          ->type_name("S")
          ->transform(device_secret_transform());
  cli.mark_secret(secret);
  // A secret on the command line shows in ps and in the shell's history.
  CLI::Option* secret_file =
      password
          ->add_option_function<std::string>(
              "--secret-file", [args](const std::string& path) { args->secret_file = path; },
              "Read the secret from FILE (- for standard input) instead")
          ->type_name("FILE");
  secret->excludes(secret_file);
  secret_file->excludes(secret);
  password->callback([secret, secret_file] {
    if (secret->count() == 0 && secret_file->count() == 0) {
      throw CLI::RequiredError("--secret or --secret-file");
    }
  });
  args->at = cli.now();  // --at defaults to now
  password->add_option("--at", args->at, "Unix time the password is for (default: now)")
      ->type_name("UNIX");
}

}  // namespace rs1ctl
