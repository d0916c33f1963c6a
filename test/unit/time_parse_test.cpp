// Times given on the command line (SPEC §8 "T"): unix seconds, ISO-8601, or
// a duration back from now. Expected values from python3's calendar.timegm /
// datetime.fromisoformat(...).timestamp() at test-writing time.
#include "core/time_parse.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "unit_support.hpp"

using rs1::days_from_civil;
using rs1::parse_time;

namespace {
constexpr std::int64_t kParseNow = 1749601234;  // 2025-06-11T00:20:34Z
}

TEST_CASE("time_parse: accepted forms", "[time_parse]") {
  auto [text, expected] = GENERATE(table<std::string, std::int64_t>({
      // Unix seconds.
      {"1749601234", 1749601234},
      {"0", 0},
      {"86400", 86400},
      // Relative, back from now.
      {"30s", kParseNow - 30},
      {"15m", kParseNow - 15 * 60},
      {"2h", kParseNow - 2 * 3600},
      {"7d", kParseNow - 7 * 86400},
      {"0m", kParseNow},
      // ISO-8601.
      {"2025-06-11", 1749600000},
      {"2025-06-11T10:20:30Z", 1749637230},
      {"2025-06-11T10:20:30z", 1749637230},
      {"2025-06-11T10:20:30", 1749637230},  // no zone: UTC
      {"2025-06-11 10:20:30", 1749637230},
      {"2025-06-11t10:20:30Z", 1749637230},
      {"2025-06-11T10:20Z", 1749637200},
      {"2025-06-11T10:20", 1749637200},
      {"2025-06-11T10:20:30.123Z", 1749637230},
      {"2025-06-11T10:20:30.999999", 1749637230},
      {"2025-06-11T10:20:30+02:00", 1749630030},
      {"2025-06-11T10:20:30+0200", 1749630030},
      {"2025-06-11T10:20:30+02", 1749630030},
      {"2025-06-11T10:20:30-05:30", 1749657030},
      {"2025-06-11T10:20:30.5+02:00", 1749630030},
      {"2025-06-11T10:20:30+00:00", 1749637230},
      {"2024-02-29", 1709164800},
      {"2000-03-01", 951868800},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
  }));
  CAPTURE(text);
  CHECK(parse_time(text, kParseNow) == std::optional<std::int64_t>(expected));
}

TEST_CASE("time_parse: rejected forms", "[time_parse]") {
  auto text =
      GENERATE(as<std::string>{},
               // Garbage.
               "", "garbage", "now", "yesterday", " 15m", "15m ", "15x", "15M", "m", "-15m", "1.5h",
               "-5", "+5", "1e9", "1234567890123",
               // Invalid dates and times.
               "2025-02-30", "2025-02-29", "2100-02-29", "2025-13-01", "2025-00-10", "2025-06-00",
               "2025-06-31", "2025-06-11T24:00Z", "2025-06-11T10:60Z", "2025-06-11T10:20:61Z",
               // Malformed ISO-8601.
               "2025-6-11", "25-06-11", "2025/06/11", "20250611T102030Z", "2025-06-11T",
               "2025-06-11T10", "2025-06-11T10:2", "2025-06-11T10:20:3", "2025-06-11T10:20:30.",
               "2025-06-11T10:20:30.Z", "2025-06-11T10:20:30Zx", "2025-06-11T10:20:30+2",
               "2025-06-11T10:20:30+02:0", "2025-06-11T10:20:30+24:00", "2025-06-11T10:20:30+02:60",
               "2025-06-11x", "2025-06-11T10:20:30 Z");
  CAPTURE(text);
  CHECK_FALSE(parse_time(text, kParseNow));
}

TEST_CASE("time_parse: days_from_civil", "[time_parse]") {
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(1969, 12, 31) == -1);
  CHECK(days_from_civil(2000, 3, 1) == 11017);
  CHECK(days_from_civil(2025, 6, 11) == 1749600000 / 86400);
  // Consecutive days across month, leap-day and year boundaries.
  CHECK(days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28) == 2);
  CHECK(days_from_civil(2025, 3, 1) - days_from_civil(2025, 2, 28) == 1);
  CHECK(days_from_civil(2025, 1, 1) - days_from_civil(2024, 12, 31) == 1);
  CHECK(days_from_civil(2025, 1, 1) - days_from_civil(2024, 1, 1) == 366);
}
