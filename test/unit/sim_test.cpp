// rs1-sim's pure parts: the devices file and the bench's telemetry payload.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/json_scan.hpp"
#include "rs1-sim/bench.hpp"
#include "rs1-sim/devices_file.hpp"

using rs1::sim::DevicesFileError;
using rs1::sim::parse_devices;

namespace {

const std::string kSecretA(64, 'a');
const std::string kSecretB = std::string(32, '0') + std::string(32, 'f');

std::vector<rs1::sim::SimDevice> parse(const std::string& text) {
  std::istringstream in(text);
  return parse_devices(in);
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const DevicesFileError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("sim devices file: rs1ctl's pretty-printed output, one document after another", "[sim]") {
  // Exactly what `rs1ctl device add ID --json` prints, twice.
  std::string text = "{\n  \"device_id\": \"sim-1\",\n  \"secret\": \"" + kSecretA + "\"\n}\n" +
                     "{\n  \"device_id\": \"sim-2\",\n  \"secret\": \"" + kSecretB + "\"\n}\n";
  auto devices = parse(text);
  REQUIRE(devices.size() == 2);
  CHECK(devices[0].device_id == "sim-1");
  CHECK(devices[0].secret == kSecretA);
  CHECK(devices[1].device_id == "sim-2");
  CHECK(devices[1].secret == kSecretB);
}

TEST_CASE("sim devices file: one object a line, blank lines, extra fields, arrays", "[sim]") {
  std::string text = "{\"device_id\":\"a\",\"secret\":\"" + kSecretA +
                     "\",\"model\":\"RS-1\"}\n\n" + "[{\"device_id\":\"b\",\"secret\":\"" +
                     kSecretA + "\"},{\"device_id\":\"c\",\"secret\":\"" + kSecretB + "\"}]\n";
  auto devices = parse(text);
  REQUIRE(devices.size() == 3);
  CHECK(devices[2].device_id == "c");
  // A brace inside a string does not end the document early.
  auto tricky = parse("{\"note\":\"} {\",\"device_id\":\"d\",\"secret\":\"" + kSecretA + "\"}");
  CHECK(tricky.at(0).device_id == "d");
}

TEST_CASE("sim devices file: every defect is refused naming its line", "[sim]") {
  const std::string ok = "{\"device_id\":\"a\",\"secret\":\"" + kSecretA + "\"}\n";
  using Row = std::tuple<std::string, std::string>;
  auto [text, expected] = GENERATE_COPY(table<std::string, std::string>({
      Row{ok + "{\"device_id\":\"b\"}\n", "line 2: no \"secret\" string"},
      Row{ok + "{\"secret\":\"" + kSecretA + "\"}\n", "line 2: no \"device_id\" string"},
      Row{ok + "{\"device_id\":\"b\",\"secret\":\"" + kSecretA + "\",}\n", "line 2: invalid JSON"},
      Row{ok + "{\"device_id\":\"b\",\"secret\":\"" + kSecretA + "\"\n",
          "line 2: the JSON document does not end"},
      Row{ok + "sim-2 " + kSecretA + "\n", "line 2: expected a JSON object or array"},
      Row{ok + "{\"device_id\":\"b/c\",\"secret\":\"" + kSecretA + "\"}\n",
          "line 2: invalid device id \"b/c\""},
      Row{ok + "{\"device_id\":\"b\",\"secret\":\"" + std::string(64, 'A') + "\"}\n",
          "line 2: the secret of b is not 64 lowercase hex characters"},
      Row{ok + "{\"device_id\":\"b\",\"secret\":\"abc\"}\n",
          "line 2: the secret of b is not 64 lowercase hex characters"},
      Row{ok + "\n\n" + ok, "line 4: device a appears twice"},
      Row{ok + "[1]\n", "line 2: not a JSON object"},
      Row{"\n  \n", "no devices in the file"},
  }));
  CAPTURE(text);
  CHECK(error_of(text) == expected);
}

TEST_CASE("sim devices file: a missing file is named", "[sim]") {
  try {
    rs1::sim::read_devices_file("/nonexistent/devices.ndjson");
    FAIL("no error");
  } catch (const DevicesFileError& e) {
    CHECK(std::string(e.what()) == "cannot read /nonexistent/devices.ndjson");
  }
}

TEST_CASE("sim bench: the telemetry payload is 200 bytes of valid telemetry", "[sim]") {
  for (std::uint64_t seq : {0ULL, 1ULL, 99999ULL, 18446744073709551615ULL}) {
    CAPTURE(seq);
    std::string p = rs1::sim::bench_telemetry_payload(seq);
    CHECK(p.size() == 200);
    CHECK(rs1::is_json_object(p));
    auto j = nlohmann::json::parse(p);
    CHECK(j["seq"].get<std::uint64_t>() == seq);
  }
}
