// The plugin's options: the one list of the modules whose options
// mosquitto.conf may set, each declared by its module (SPEC §3).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "api/api_options.hpp"
#include "features/devices/device_options.hpp"
#include "features/ops/ops_options.hpp"
#include "features/ota/ota_options.hpp"
#include "http/http_listener.hpp"
#include "runtime/ingest_writer.hpp"
#include "store/storage_options.hpp"

namespace rs1 {

struct Options {
  StorageOptions storage;
  DeviceOptions devices;
  IngestOptions ingest;
  HttpOptions http;
  OtaOptions ota;
  OpsOptions ops;
  ApiOptions api;
};

// Options in the order mosquitto.conf gave them (plugin_opt_NAME VALUE, the
// "plugin_opt_" prefix already removed), with the derived defaults filled
// in. Throws OptionError.
Options parse_options(const std::vector<std::pair<std::string, std::string>>& raw);

}  // namespace rs1
