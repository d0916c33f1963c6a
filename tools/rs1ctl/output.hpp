// How rs1ctl shows things: JSON documents that never throw on bad UTF-8,
// times people can read, and aligned text tables.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rs1ctl {

// Keys stay in the order they were written: the order of SPEC §8 for our
// documents, the device's own order for stored payloads.
using Json = nlohmann::ordered_json;

// Invalid UTF-8 (a model name given on a command line) is replaced, never
// thrown: the output of a command that already changed the database must not
// be lost to a formatting error.
std::string dump_json(const Json& value, int indent);

// Parses stored JSON object text (device state, telemetry payload, event
// details); anything that is not an object gives null rather than failing
// the whole listing.
Json object_or_null(const std::string& text);
Json object_or_null(const std::optional<std::string>& text);

template <typename T>
Json value_or_null(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

// ISO-8601 in UTC: 2024-05-01T12:00:00Z, and with milliseconds.
std::string format_time(std::int64_t unix_s);
std::string format_time_ms(std::int64_t unix_ms);

// Columns padded to their widest cell; the last one is not padded, so no line
// ends in blanks. Without headers it lays out "name  value" lines.
class Table {
 public:
  explicit Table(std::vector<std::string> headers = {});
  void add_row(std::vector<std::string> cells);
  // `when_empty` is printed instead of a table with no rows.
  std::string str(std::string_view when_empty = "") const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace rs1ctl
