// Firmware images (SPEC §7, §8 `firmware`): the model, the narrow store
// interface, and storing an image under <data_dir>/firmware/<sha256> so that
// either both the file and the row exist, or neither.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
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

// Where an image's bytes come from: hands every chunk to the sink in turn
// and returns true at its end, or false (with `why`) when it broke off. The
// sink returns false once it cannot take more (the source then stops).
using ImageSink = std::function<bool(const char* data, std::size_t size)>;
using ImageSource = std::function<bool(const ImageSink& sink, std::string& why)>;

// The source broke off (an unreadable file, an upload cut short): nothing
// was stored.
struct ImageSourceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The disk was full (ENOSPC, EDQUOT) while storing the image: nothing was
// stored. Other disk failures are plain std::runtime_error.
struct ImageStoreFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Streams `source` (never held whole) to a temporary file in
// firmware_dir(data_dir), hashing as it goes, fsyncs it, renames it to its
// sha256 and fsyncs the directory. Throws ImageSourceError when the source
// broke off, ImageStoreFull on a full disk and std::runtime_error with one
// clear line otherwise (an I/O error, …), leaving no temporary file behind.
StoredImage store_image(const ImageSource& source, const std::string& data_dir);

// A file as an ImageSource, read in 64 KiB chunks (ImageSourceError when
// it cannot be opened or is not a regular file).
ImageSource image_file_source(const std::string& path);
// store_image of image_file_source(source).
StoredImage store_image_file(const std::string& source, const std::string& data_dir);

// `rs1ctl firmware add` and POST /api/v1/firmware: stores the image from
// `source` and then its row, so that both exist or neither. Throws
// StoreError(conflict) "firmware version V already exists" (checked before
// the image is read, and again by the row), ImageSourceError,
// ImageStoreFull and std::runtime_error as store_image. `version` must be valid.
FirmwareRecord add_firmware(FirmwareStore& store, const std::string& version,
                            const ImageSource& source, const std::string& data_dir,
                            std::int64_t now_s);

}  // namespace rs1
