// rs1ctl firmware add FILE --version V | list (SPEC §7, §8): an image is
// streamed to <data_dir>/firmware/<sha256> (temporary file, fsync, rename,
// directory fsync) before its row is committed; a failure leaves neither.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "documents/ota.hpp"
#include "features/ota/firmware.hpp"
#include "output.hpp"

namespace rs1ctl {
namespace {

struct FirmwareArgs {
  std::string file;
  std::string version;
  std::optional<std::string> data_dir;
};

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Outcome add_firmware(Session& session, const FirmwareArgs& args) {
  rs1::Database& store = session.store();
  const std::string data_dir = args.data_dir ? *args.data_dir : dir_of(session.db_path());
  rs1::FirmwareRecord record;
  try {
    // The same atomic store as POST /api/v1/firmware, from the file.
    record = rs1::add_firmware(store.firmware(), args.version, rs1::image_file_source(args.file),
                               data_dir, session.now());
  } catch (const rs1::StoreError& e) {
    if (e.kind() != rs1::StoreError::Kind::conflict) throw;
    throw CommandError(e.what());
  } catch (const std::runtime_error& e) {
    throw CommandError(e.what());
  }
  return Outcome{rs1::doc::firmware_json(record), "firmware " + record.version +
                                                      " added: " + record.sha256 + ", " +
                                                      std::to_string(record.size) + " bytes\n"};
}

Outcome list_firmware(Session& session) {
  const std::vector<rs1::FirmwareRecord> firmware = session.store().firmware().list();
  Table table({"VERSION", "SHA256", "SIZE", "CREATED"});
  for (const auto& f : firmware) {
    table.add_row({f.version, f.sha256, std::to_string(f.size), format_time(f.created_at)});
  }
  return Outcome{rs1::doc::firmware_list_json(firmware), table.str("no firmware\n")};
}

}  // namespace

void add_firmware_commands(Cli& cli) {
  auto args = std::make_shared<FirmwareArgs>();
  CLI::App* group = cli.add_group("firmware", "Firmware images for rollouts");
  CLI::App* add = cli.add_command(*group, "add", "Store a firmware image under a version",
                                  [args](Session& s) { return add_firmware(s, *args); });
  add->add_option("FILE", args->file, "The image")->required();
  add->add_option("--version", args->version, "Its version (one version, one image)")
      ->required()
      ->check(CLI::Validator(
          [](std::string& v) {
            return rs1::is_valid_firmware_version(v) ? std::string()
                                                     : std::string("1-64 of [A-Za-z0-9._+-]");
          },
          "", ""));
  add->add_option_function<std::string>(
         "--data-dir", [args](const std::string& d) { args->data_dir = d; },
         "The broker's data_dir (default: the database's directory)")
      ->type_name("DIR");
  cli.add_command(*group, "list", "List firmware images",
                  [](Session& s) { return list_firmware(s); });
}

}  // namespace rs1ctl
