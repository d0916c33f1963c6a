// The fleet's devices file (tools/rs1-sim/devices_file.hpp): what rs1ctl
// prints, in every shape it comes in, and every defect named by its line.
#include <catch2/catch.hpp>
#include <sstream>

#include "rs1-sim/devices_file.hpp"

using rs1::sim::DevicesFileError;
using rs1::sim::parse_devices;

namespace {

const std::string kSecretA(64, 'a');
const std::string kSecretB = std::string(32, '0') + std::string(32, 'f');

std::string device_line(const std::string& id, const std::string& secret) {
  return "{\"device_id\":\"" + id + "\",\"secret\":\"" + secret + "\"}";
}

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
                     "\",\"model\":\"RS-1\",\"created_at\":1}\n\n \t\r\n" + "[" +
                     device_line("b", kSecretA) + "," + device_line("c", kSecretB) + "]\r\n";
  auto devices = parse(text);
  REQUIRE(devices.size() == 3);
  CHECK(devices[0].device_id == "a");
  CHECK(devices[1].device_id == "b");
  CHECK(devices[2].device_id == "c");
  CHECK(devices[2].secret == kSecretB);
  // A brace inside a string does not end the document early.
  auto tricky = parse("{\"note\":\"} {\\\"\",\"device_id\":\"d\",\"secret\":\"" + kSecretA + "\"}");
  CHECK(tricky.at(0).device_id == "d");
  // Several on one line, and a byte order mark in front.
  auto packed = parse("\xEF\xBB\xBF" + device_line("e", kSecretA) + device_line("f", kSecretA));
  REQUIRE(packed.size() == 2);
  CHECK(packed[1].device_id == "f");
}

TEST_CASE("sim devices file: every defect is refused naming its line", "[sim]") {
  const std::string ok = device_line("a", kSecretA) + "\n";
  using Row = std::tuple<std::string, std::string>;
  auto [text, expected] = GENERATE_COPY(table<std::string, std::string>({
      Row{ok + "{\"device_id\":\"b\"}\n", "line 2: no \"secret\" string"},
      Row{ok + "{\"secret\":\"" + kSecretA + "\"}\n", "line 2: no \"device_id\" string"},
      Row{ok + "{\"device_id\":7,\"secret\":\"" + kSecretA + "\"}\n",
          "line 2: no \"device_id\" string"},
      Row{ok + "{\"device_id\":\"b\",\"secret\":\"" + kSecretA + "\",}\n", "line 2: invalid JSON"},
      // Inside a pretty-printed document: the line of the error itself.
      Row{ok + "{\n  \"device_id\": \"b\",\n  \"secret\": nope\n}\n", "line 4: invalid JSON"},
      Row{ok + "{\"device_id\":\"b\",\"secret\":\"" + kSecretA + "\"\n",
          "line 2: the JSON document does not end"},
      Row{ok + "sim-2 " + kSecretA + "\n", "line 2: expected a JSON object or array"},
      // A number past a double, which the JSON parser refuses with another
      // exception than for a syntax error (found by fuzz.devices_file).
      Row{ok + "[1e400]", "line 2: invalid JSON (a number out of range)"},
      Row{ok + "{\"device_id\":\"b/c\",\"secret\":\"" + kSecretA + "\"}\n",
          "line 2: invalid device id \"b/c\""},
      Row{ok + "{\"device_id\":\"\",\"secret\":\"" + kSecretA + "\"}\n",
          "line 2: invalid device id \"\""},
      Row{ok + device_line(std::string(65, 'x'), kSecretA) + "\n",
          "line 2: invalid device id \"" + std::string(65, 'x') + "\""},
      Row{ok + device_line("b", std::string(64, 'A')) + "\n",
          "line 2: the secret of b is not 64 lowercase hex characters"},
      Row{ok + device_line("b", "abc") + "\n",
          "line 2: the secret of b is not 64 lowercase hex characters"},
      Row{ok + device_line("b", std::string(63, 'a') + "g") + "\n",
          "line 2: the secret of b is not 64 lowercase hex characters"},
      Row{ok + "\n\n" + ok, "line 4: device a appears twice"},
      Row{ok + "[1]\n", "line 2: not a JSON object"},
      // An array's element is named by its own line.
      Row{ok + "[\n  " + device_line("b", kSecretA) + ",\n  {\"device_id\":\"c\"}\n]\n",
          "line 4: no \"secret\" string"},
      Row{ok + "[\n" + device_line("b", kSecretA) + ",\n" + ok + "]\n",
          "line 4: device a appears twice"},
      Row{"\n  \n", "no devices in the file"},
      Row{"[]", "no devices in the file"},
  }));
  CAPTURE(text);
  CHECK(error_of(text) == expected);
}

TEST_CASE("sim devices file: ten thousand devices, and an error on the last line", "[sim]") {
  std::string text;
  for (int i = 0; i < 10000; ++i) {
    text += "{\n  \"device_id\": \"sim-" + std::to_string(i) + "\",\n  \"secret\": \"" + kSecretA +
            "\"\n}\n";
  }
  auto devices = parse(text);
  CHECK(devices.size() == 10000);
  CHECK(devices.back().device_id == "sim-9999");
  // And an error near the end still names its line.
  CHECK(error_of(text + "{\"device_id\":\"x\"}\n") == "line 40001: no \"secret\" string");
}

TEST_CASE("sim devices file: a file that cannot be read is named", "[sim]") {
  try {
    rs1::sim::read_devices_file("/nonexistent/devices.ndjson");
    FAIL("no error");
  } catch (const DevicesFileError& e) {
    CHECK(std::string(e.what()) ==
          "cannot read /nonexistent/devices.ndjson: No such file or directory");
  }
  try {
    rs1::sim::read_devices_file("/tmp");
    FAIL("no error");
  } catch (const DevicesFileError& e) {
    CHECK(std::string(e.what()) == "cannot read /tmp: it is a directory");
  }
}
