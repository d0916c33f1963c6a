// Times given to rs1ctl and the API (core/time_parse, SPEC §8 "T"): unix
// seconds, durations back from now, ISO-8601. The calendar arithmetic is
// checked against the C library's timegm(); every answer of a form that
// is unambiguous against its meaning.
#include <ctime>
#include <string>

#include "core/time_parse.hpp"
#include "fuzz_support.hpp"

namespace {

std::int64_t reference_days(std::int64_t y, unsigned m, unsigned d) {
  std::tm tm{};
  tm.tm_year = static_cast<int>(y - 1900);
  tm.tm_mon = static_cast<int>(m) - 1;
  tm.tm_mday = static_cast<int>(d);
  tm.tm_hour = 12;  // away from any edge
  return (static_cast<std::int64_t>(timegm(&tm)) - 12 * 3600) / 86400;
}

bool digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  rs1::fuzz::Input in(data, size);
  const std::string_view whole(reinterpret_cast<const char*>(data), size);

  // A civil date from the first bytes: days_from_civil against timegm.
  const std::int64_t year = (in.byte() | (in.byte() << 8)) % 10000;
  const unsigned month = in.byte() % 12 + 1;
  const unsigned day = in.byte() % 28 + 1;
  const std::int64_t days = rs1::days_from_civil(year, month, day);
  check(days == reference_days(year, month, day), "days_from_civil against timegm", whole,
        std::to_string(days), std::to_string(reference_days(year, month, day)));

  const std::int64_t now = 1700000000;
  const std::string_view text = in.rest();
  const std::optional<std::int64_t> t = rs1::parse_time(text, now);
  if (text.size() <= 12 && digits(text)) {
    check(t == std::stoll(std::string(text)), "unix seconds", whole,
          t ? std::to_string(*t) : "none", std::string(text));
  }
  if (text.size() >= 2 && text.size() <= 10 && digits(text.substr(0, text.size() - 1))) {
    const std::int64_t n = std::stoll(std::string(text.substr(0, text.size() - 1)));
    std::optional<std::int64_t> expected;
    switch (text.back()) {
      case 's':
        expected = now - n;
        break;
      case 'm':
        expected = now - n * 60;
        break;
      case 'h':
        expected = now - n * 3600;
        break;
      case 'd':
        expected = now - n * 86400;
        break;
      default:
        break;
    }
    if (expected) {
      check(t == expected, "a duration back from now", whole, t ? std::to_string(*t) : "none",
            std::to_string(*expected));
    }
  }
  // YYYY-MM-DD alone: midnight UTC of that day, when it is a day.
  if (text.size() == 10 && text[4] == '-' && text[7] == '-' && digits(text.substr(0, 4)) &&
      digits(text.substr(5, 2)) && digits(text.substr(8, 2)) && t) {
    const std::int64_t y = std::stoll(std::string(text.substr(0, 4)));
    const auto m = static_cast<unsigned>(std::stoi(std::string(text.substr(5, 2))));
    const auto d = static_cast<unsigned>(std::stoi(std::string(text.substr(8, 2))));
    check(*t == reference_days(y, m, d) * 86400, "an ISO date", whole, std::to_string(*t),
          std::to_string(reference_days(y, m, d) * 86400));
  }
  return 0;
}
