// The fleet's devices file: what `rs1ctl device add ID --json` prints
// ({"device_id","secret"}, more fields ignored), one document after another,
// pretty-printed or one a line, or JSON arrays of such objects. A file of
// 10,000 devices is
//   for i in $(seq 1 10000); do rs1ctl device add sim-$i --json; done > devices.ndjson
#pragma once

#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

namespace rs1::sim {

struct SimDevice {
  std::string device_id;
  std::string secret;  // 64 lowercase hex characters, as provisioning showed it
};

// What is wrong with the file, naming the line: "line 3: no \"secret\"".
class DevicesFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::vector<SimDevice> parse_devices(std::istream& in);
// Throws DevicesFileError naming the file when it cannot be read.
std::vector<SimDevice> read_devices_file(const std::string& path);

}  // namespace rs1::sim
