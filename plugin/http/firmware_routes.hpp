// GET /firmware/<sha256> (SPEC §7): signed downloads of firmware images.
// The signature, the device and the expiry are checked (in constant time)
// before anything is read from disk; the image is streamed from
// <data_dir>/firmware/<sha256> in 64 KiB pieces (bounded memory whatever
// the image size), with one Range (206, 416), an ETag and
// Accept-Ranges, so a device can resume a broken download.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "features/ota/signing.hpp"

namespace rs1 {

class Routes;

struct FirmwareRouteConfig {
  std::shared_ptr<const SigningKeySet> keys;  // every key verifies; replaced on rollover
  std::string data_dir;
  std::function<std::int64_t()> now_s;  // the clock (tests may set it)
};

void mount_firmware_routes(Routes& routes, FirmwareRouteConfig config);

}  // namespace rs1
