// rs1-sim's devices file (tools/rs1-sim/devices_file): a sequence of JSON
// documents, each a device or an array of them. Only DevicesFileError may
// come out; every device read has a valid id and secret, and no id twice.
#include <set>
#include <sstream>

#include "core/identity.hpp"
#include "devices_file.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  try {
    const auto devices = rs1::sim::parse_devices(in);
    std::set<std::string> ids;
    for (const auto& d : devices) {
      rs1::fuzz::check(rs1::is_valid_device_id(d.device_id) && ids.insert(d.device_id).second,
                       "a device read", text, d.device_id, "a valid id, once");
      rs1::fuzz::check(d.secret.size() == 64 &&
                           d.secret.find_first_not_of("0123456789abcdef") == std::string::npos,
                       "a device's secret", text, d.secret, "64 lowercase hex");
    }
  } catch (const rs1::sim::DevicesFileError&) {
  }
  return 0;
}
