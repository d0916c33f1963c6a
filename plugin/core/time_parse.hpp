// Times given on the command line (SPEC §8 "T"): unix seconds, ISO-8601, or a
// duration back from now (15m, 2h, 7d).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rs1 {

// Unix seconds, or nothing when `text` is none of the accepted forms.
// ISO-8601: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.fff]] with Z, ±HH:MM or no
// zone (taken as UTC).
std::optional<std::int64_t> parse_time(std::string_view text, std::int64_t now_s);

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

}  // namespace rs1
