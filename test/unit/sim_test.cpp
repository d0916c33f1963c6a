// rs1-sim's bench: its telemetry payload. (The fleet's devices file and
// device messages have their own files: sim_devices_file_test.cpp,
// sim_device_messages_test.cpp.)
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/json_scan.hpp"
#include "rs1-sim/bench.hpp"

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
