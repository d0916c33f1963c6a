// rs1ctl firmware add FILE --version V | list (SPEC §7, §8): an image is
// streamed to <data_dir>/firmware/<sha256> (temporary file, fsync, rename,
// directory fsync) before its row is committed; a failure leaves neither.
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
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

Json firmware_json(const rs1::FirmwareRecord& f) {
  return {
      {"version", f.version}, {"sha256", f.sha256}, {"size", f.size}, {"created_at", f.created_at}};
}

Outcome add_firmware(Session& session, const FirmwareArgs& args) {
  rs1::Database& store = session.store();
  if (store.firmware().by_version(args.version)) {
    throw CommandError("firmware version " + args.version + " already exists");
  }
  const std::string data_dir = args.data_dir ? *args.data_dir : dir_of(session.db_path());
  rs1::StoredImage image;
  try {
    image = rs1::store_image_file(args.file, data_dir);
  } catch (const std::runtime_error& e) {
    throw CommandError(e.what());
  }
  rs1::FirmwareRecord record{args.version, image.sha256, image.size, session.now()};
  try {
    store.firmware().add(record);
  } catch (const std::exception& e) {
    // The image is of no use without its row, unless another version has it.
    if (!image.existed) unlink(image.path.c_str());
    if (auto* se = dynamic_cast<const rs1::StoreError*>(&e);
        se && se->kind() == rs1::StoreError::Kind::conflict) {
      throw CommandError("firmware version " + args.version + " already exists");
    }
    throw;
  }
  return Outcome{firmware_json(record), "firmware " + record.version + " added: " + record.sha256 +
                                            ", " + std::to_string(record.size) + " bytes\n"};
}

Outcome list_firmware(Session& session) {
  Json document = Json::array();
  Table table({"VERSION", "SHA256", "SIZE", "CREATED"});
  for (const auto& f : session.store().firmware().list()) {
    document.push_back(firmware_json(f));
    table.add_row({f.version, f.sha256, std::to_string(f.size), format_time(f.created_at)});
  }
  return Outcome{document, table.str("no firmware\n")};
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
