// The zone config rules of SPEC §6, in one place for every front end
// (rs1ctl zone set, the HTTP API's PUT …/zones, the console's checks):
// parse the text strictly, then check every rule and report every error as
// a JSON pointer into the config plus a sentence, so an editor can mark all
// of them at once. Pure: no I/O, no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rs1 {

// SPEC §6 bounds.
constexpr std::size_t kMaxZones = 16;
constexpr std::int64_t kMinZoneId = 1, kMaxZoneId = 255;
constexpr std::size_t kMinZoneNameChars = 1, kMaxZoneNameChars = 32;
constexpr std::size_t kMinZonePoints = 3, kMaxZonePoints = 16;
constexpr std::int64_t kMinX = -6000, kMaxX = 6000;  // millimetres, right of the sensor
constexpr std::int64_t kMinY = 0, kMaxY = 6000;      // millimetres, away from the sensor
constexpr std::int64_t kMinSensitivity = 1, kMaxSensitivity = 10, kDefaultSensitivity = 5;
// A config is a few kilobytes at most; text beyond this is not one.
constexpr std::size_t kMaxZoneConfigBytes = 256 * 1024;

// One broken rule: where (an RFC 6901 pointer into the config, "" for the
// whole document) and what, as a sentence. The shape of an RFC 9457
// `errors` member: {"pointer","detail"}.
struct FieldError {
  std::string pointer;
  std::string detail;
  bool operator==(const FieldError& o) const { return pointer == o.pointer && detail == o.detail; }
};

// What checking a config's text found: `malformed` when it is not JSON at
// all (HTTP 400), else `errors` for every broken rule (HTTP 422), else the
// config is valid and `config` holds it.
struct ZoneConfigCheck {
  std::optional<std::string> malformed;
  std::vector<FieldError> errors;
  nlohmann::json config;  // the parsed document, when not malformed
  bool ok() const { return !malformed && errors.empty(); }
};

// Strict JSON (RFC 8259, no duplicate keys, at most kMaxZoneConfigBytes),
// then validate_zone_config.
ZoneConfigCheck check_zone_config(std::string_view text);

// Every broken rule of SPEC §6, in document order; empty when valid.
std::vector<FieldError> validate_zone_config(const nlohmann::json& config);

// The form a valid config is stored and sent in: compact JSON.
std::string canonical_zone_config(const nlohmann::json& config);

// [{"pointer","detail"}, …], for an API's problem document.
nlohmann::json field_errors_json(const std::vector<FieldError>& errors);
// "/zones/0/id: id must be …; /zones/1/name: …", for a one-line message.
std::string describe_field_errors(const std::vector<FieldError>& errors);

// One reference token of a JSON pointer: "~" as "~0", "/" as "~1".
std::string json_pointer_token(std::string_view key);

// A polygon vertex in millimetres.
struct ZonePoint {
  std::int64_t x = 0;
  std::int64_t y = 0;
  bool operator==(const ZonePoint& o) const { return x == o.x && y == o.y; }
};

// Why a polygon is not simple: at which vertex (kWholePolygon when no one
// vertex is to blame) and a sentence naming the points involved.
struct PolygonProblem {
  static constexpr std::size_t kWholePolygon = static_cast<std::size_t>(-1);
  std::size_t vertex = kWholePolygon;
  std::string detail;
};

// Exact (integer arithmetic) check that the closed polygon through `points`
// is simple: no repeated vertex, not all on one line (zero area), no edge
// turning back along the previous one, no two non-adjacent edges sharing a
// point (crossing, touching at a vertex, or overlapping). A vertex in the
// straight middle of two collinear edges is allowed; either winding is.
// Coordinates must be within ±2^30 (the zone bounds are far inside).
std::vector<PolygonProblem> simple_polygon_problems(const std::vector<ZonePoint>& points);

}  // namespace rs1
