// The JSON of SPEC §8 as rs1ctl and the Device API write it: documents that
// never throw on bad UTF-8 and show stored device JSON exactly as it was
// accepted, and times people can read.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace rs1::doc {

// Keys stay in the order they were written: the order of SPEC §8 for our
// documents, the device's own order for stored payloads.
using Json = nlohmann::ordered_json;

// Invalid UTF-8 (a model name given on a command line) is replaced, never
// thrown: the output of a command that already changed the database must not
// be lost to a formatting error. Values made by raw_object_or_null are
// written as their text; everything else as nlohmann::json writes it.
std::string dump_json(const Json& value, int indent);

// Stored device JSON (telemetry payloads, device state, diag answers) as a
// value that dump_json prints byte for byte: the payload rules accept any
// RFC 8259 object, and a parse would turn 1e400 into null and round a
// 30-digit integer. Surrounding white space is dropped. Text that is not one
// JSON object (which ingest never stores) gives null. The value is held as a
// JSON binary with its own subtype, which no parsed or constructed data ever
// is, so no payload can pass for it; it is meant to be printed, not inspected.
Json raw_object_or_null(std::string_view text);
Json raw_object_or_null(const std::string& text);
Json raw_object_or_null(const std::optional<std::string>& text);
// The object text of such a value.
bool is_raw_json(const Json& value);
std::string_view raw_json_text(const Json& value);

// Parses stored JSON object text of our own making (event details); anything
// that is not an object gives null rather than failing the whole listing.
Json object_or_null(const std::string& text);
Json object_or_null(const std::optional<std::string>& text);

// The string value of the member `key` of the JSON object `object_text`
// (the last one if it repeats), read without building numbers, so it works
// on any object raw_object_or_null accepts. Nothing when there is no such
// member, it is not a string, or the text is not one JSON object.
std::optional<std::string> string_member(std::string_view object_text, std::string_view key);

template <typename T>
Json value_or_null(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

// ISO-8601 in UTC: 2024-05-01T12:00:00Z, and with milliseconds.
std::string format_time(std::int64_t unix_s);
std::string format_time_ms(std::int64_t unix_ms);

}  // namespace rs1::doc
