// Firmware images (SPEC §7, §8 `firmware`): the model, the narrow store
// interface, and storing an image under <data_dir>/firmware/<sha256> so that
// either both the file and the row exist, or neither.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store_error.hpp"

namespace rs1 {

struct FirmwareRecord {
  std::string version;
  std::string sha256;  // lowercase hex
  std::int64_t size = 0;
  std::int64_t created_at = 0;
};

class FirmwareStore {
 public:
  virtual ~FirmwareStore() = default;
  // Throws StoreError(conflict) when the version exists.
  virtual void add(const FirmwareRecord& firmware) = 0;
  virtual std::vector<FirmwareRecord> list() = 0;
  virtual std::optional<FirmwareRecord> by_version(const std::string& version) = 0;
  virtual std::optional<FirmwareRecord> by_sha256(const std::string& sha256) = 0;
};

// 1-64 characters of [A-Za-z0-9._+-] (semver and friends), so a version can
// never carry a path or JSON-hostile byte.
bool is_valid_firmware_version(const std::string& version);
// 64 lowercase hex characters.
bool is_sha256_hex(const std::string& text);

// "<data_dir>/firmware".
std::string firmware_dir(const std::string& data_dir);

// What store_image_file produced: the image's final path, hash and size,
// and whether that file was already there (the same image under another
// version), so a caller undoing it knows not to remove it.
struct StoredImage {
  std::string path;
  std::string sha256;
  std::int64_t size = 0;
  bool existed = false;
};

// Streams `source` (never read whole) to a temporary file in
// firmware_dir(data_dir), fsyncs it, renames it to its sha256 and fsyncs the
// directory. Throws std::runtime_error with one clear line (unreadable
// source, full disk, …), leaving no temporary file behind.
StoredImage store_image_file(const std::string& source, const std::string& data_dir);

}  // namespace rs1
