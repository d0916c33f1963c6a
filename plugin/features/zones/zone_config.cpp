#include "features/zones/zone_config.hpp"

#include <limits>
#include <map>
#include <set>
#include <utility>

namespace rs1 {
namespace {

using nlohmann::json;

// The integer value of a JSON number that is an integer (not 1.0): a value
// beyond int64 becomes the nearest int64, which is out of every range here.
std::optional<std::int64_t> integer_of(const json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::numeric_limits<std::int64_t>::max();
    }
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return std::nullopt;
}

// Unicode characters of valid UTF-8 (the parser has checked it).
std::size_t utf8_chars(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
  return std::to_string(lo) + ".." + std::to_string(hi);
}

class Checker {
 public:
  std::vector<FieldError> errors;

  void error(std::string pointer, std::string detail) {
    errors.push_back(FieldError{std::move(pointer), std::move(detail)});
  }

  void check_config(const json& config) {
    if (!config.is_object()) {
      error("", "a zone config must be a JSON object {\"zones\":[…],\"sensitivity\":N}");
      return;
    }
    for (const auto& [key, value] : config.items()) {
      if (key != "zones" && key != "sensitivity") {
        error("/" + json_pointer_token(key),
              "unknown key (a zone config has zones and sensitivity)");
      }
    }
    auto zones = config.find("zones");
    if (zones == config.end()) {
      error("/zones", "zones is required (an array of 0 to 16 zones)");
    } else if (!zones->is_array()) {
      error("/zones", "zones must be an array of 0 to 16 zones");
    } else {
      if (zones->size() > kMaxZones) {
        error("/zones",
              "at most 16 zones are allowed (there are " + std::to_string(zones->size()) + ")");
      }
      std::map<std::int64_t, std::size_t> ids;  // id -> first zone with it
      for (std::size_t i = 0; i < zones->size(); ++i) check_zone((*zones)[i], i, ids);
    }
    auto sensitivity = config.find("sensitivity");
    if (sensitivity != config.end()) {
      auto s = integer_of(*sensitivity);
      if (!s || *s < kMinSensitivity || *s > kMaxSensitivity) {
        error("/sensitivity", "sensitivity must be an integer within " +
                                  range_text(kMinSensitivity, kMaxSensitivity));
      }
    }
  }

 private:
  // True when `v` is an integer within lo..hi; otherwise says why at `pointer`.
  bool coordinate(const json& v, const std::string& pointer, const char* axis, std::int64_t lo,
                  std::int64_t hi) {
    const std::optional<std::int64_t> n = integer_of(v);
    if (!n) {
      error(pointer, std::string(axis) + " must be an integer (millimetres)");
      return false;
    }
    if (*n < lo || *n > hi) {
      error(pointer, std::string(axis) + " must be within " + range_text(lo, hi));
      return false;
    }
    return true;
  }

  void check_zone(const json& zone, std::size_t index, std::map<std::int64_t, std::size_t>& ids) {
    const std::string at = "/zones/" + std::to_string(index);
    if (!zone.is_object()) {
      error(at, "a zone must be a JSON object {\"id\",\"name\",\"type\",\"points\"}");
      return;
    }
    for (const auto& [key, value] : zone.items()) {
      if (key != "id" && key != "name" && key != "type" && key != "points") {
        error(at + "/" + json_pointer_token(key),
              "unknown key (a zone has id, name, type and points)");
      }
    }

    auto id = zone.find("id");
    if (id == zone.end()) {
      error(at + "/id", "id is required (an integer within 1..255)");
    } else {
      auto v = integer_of(*id);
      if (!v || *v < kMinZoneId || *v > kMaxZoneId) {
        error(at + "/id", "id must be an integer within " + range_text(kMinZoneId, kMaxZoneId));
      } else {
        auto [first, fresh] = ids.emplace(*v, index);
        if (!fresh) {
          error(at + "/id", "id " + std::to_string(*v) + " is already used by /zones/" +
                                std::to_string(first->second));
        }
      }
    }

    auto name = zone.find("name");
    if (name == zone.end()) {
      error(at + "/name", "name is required (1 to 32 characters)");
    } else if (!name->is_string()) {
      error(at + "/name", "name must be a string of 1 to 32 characters");
    } else {
      std::size_t chars = utf8_chars(name->get_ref<const std::string&>());
      if (chars < kMinZoneNameChars || chars > kMaxZoneNameChars) {
        error(at + "/name",
              "name must be 1 to 32 characters (it has " + std::to_string(chars) + ")");
      }
    }

    auto type = zone.find("type");
    if (type == zone.end()) {
      error(at + "/type", "type is required (\"detect\" or \"exclude\")");
    } else if (!type->is_string() || (*type != "detect" && *type != "exclude")) {
      error(at + "/type", "type must be \"detect\" or \"exclude\"");
    }

    auto points = zone.find("points");
    if (points == zone.end()) {
      error(at + "/points", "points is required (3 to 16 [x,y] vertices)");
      return;
    }
    if (!points->is_array()) {
      error(at + "/points", "points must be an array of 3 to 16 [x,y] vertices");
      return;
    }
    bool usable = true;
    if (points->size() < kMinZonePoints || points->size() > kMaxZonePoints) {
      error(at + "/points",
            "a zone needs 3 to 16 points (it has " + std::to_string(points->size()) + ")");
      usable = false;
    }
    std::vector<ZonePoint> polygon;
    for (std::size_t k = 0; k < points->size(); ++k) {
      const json& p = (*points)[k];
      const std::string pat = at + "/points/" + std::to_string(k);
      if (!p.is_array() || p.size() != 2) {
        error(pat, "a point must be an array [x, y] of two integers (millimetres)");
        usable = false;
        continue;
      }
      const bool x_ok = coordinate(p[0], pat + "/0", "x", kMinX, kMaxX);
      const bool y_ok = coordinate(p[1], pat + "/1", "y", kMinY, kMaxY);
      if (!x_ok || !y_ok) {
        usable = false;
        continue;
      }
      polygon.push_back(ZonePoint{integer_of(p[0]).value_or(0), integer_of(p[1]).value_or(0)});
    }
    // The shape is judged only once every vertex is one.
    if (!usable) return;
    for (const auto& problem : simple_polygon_problems(polygon)) {
      error(problem.vertex == PolygonProblem::kWholePolygon
                ? at + "/points"
                : at + "/points/" + std::to_string(problem.vertex),
            problem.detail);
    }
  }
};

// --- exact geometry -------------------------------------------------------

std::int64_t cross(const ZonePoint& o, const ZonePoint& a, const ZonePoint& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

int orientation(const ZonePoint& a, const ZonePoint& b, const ZonePoint& c) {
  std::int64_t v = cross(a, b, c);
  return v > 0 ? 1 : v < 0 ? -1 : 0;
}

// p, known to be collinear with segment ab, lies on it (endpoints included).
bool within(const ZonePoint& a, const ZonePoint& b, const ZonePoint& p) {
  return std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x) && std::min(a.y, b.y) <= p.y &&
         p.y <= std::max(a.y, b.y);
}

bool on_segment(const ZonePoint& a, const ZonePoint& b, const ZonePoint& p) {
  return orientation(a, b, p) == 0 && within(a, b, p);
}

std::string point_name(std::size_t i) { return "point " + std::to_string(i); }
std::string edge_name(std::size_t i, std::size_t n) {
  return "the edge from point " + std::to_string(i) + " to point " + std::to_string((i + 1) % n);
}

}  // namespace

std::string json_pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<PolygonProblem> simple_polygon_problems(const std::vector<ZonePoint>& p) {
  std::vector<PolygonProblem> problems;
  const std::size_t n = p.size();
  if (n < 3) {
    problems.push_back({PolygonProblem::kWholePolygon, "a polygon needs at least 3 points"});
    return problems;
  }
  // A repeated vertex makes a zero-length edge or a pinch: say that, and
  // nothing that follows from it.
  for (std::size_t j = 1; j < n; ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (p[i] == p[j]) {
        problems.push_back({j, point_name(j) + " repeats " + point_name(i)});
        break;
      }
    }
  }
  if (!problems.empty()) return problems;

  bool all_collinear = true;
  for (std::size_t k = 2; k < n && all_collinear; ++k)
    all_collinear = orientation(p[0], p[1], p[k]) == 0;
  if (all_collinear) {
    problems.push_back(
        {PolygonProblem::kWholePolygon, "all points lie on one line: the zone has zero area"});
    return problems;
  }

  // Adjacent edges share their common vertex and nothing else: collinear
  // edges that go on straight are fine, a spike that turns back is not.
  for (std::size_t i = 0; i < n; ++i) {
    const ZonePoint& a = p[(i + n - 1) % n];
    const ZonePoint& b = p[i];
    const ZonePoint& c = p[(i + 1) % n];
    const std::int64_t dot = (a.x - b.x) * (c.x - b.x) + (a.y - b.y) * (c.y - b.y);
    if (orientation(a, b, c) == 0 && dot > 0) {
      problems.push_back(
          {i, point_name(i) + " turns back along the edge it came from (the edges overlap)"});
    }
  }

  // Non-adjacent edges share no point at all.
  std::set<std::pair<std::size_t, std::size_t>> touching;  // (vertex, edge), reported once
  auto touch = [&](std::size_t vertex, std::size_t edge) {
    if (touching.emplace(vertex, edge).second) {
      problems.push_back({vertex, point_name(vertex) + " lies on " + edge_name(edge, n)});
    }
  };
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 2; j < n; ++j) {
      if (i == 0 && j == n - 1) continue;  // adjacent through the closing edge
      const std::size_t i2 = (i + 1) % n, j2 = (j + 1) % n;
      const ZonePoint &a = p[i], &b = p[i2], &c = p[j], &d = p[j2];
      const int o1 = orientation(a, b, c), o2 = orientation(a, b, d);
      const int o3 = orientation(c, d, a), o4 = orientation(c, d, b);
      if (o1 != 0 && o2 != 0 && o3 != 0 && o4 != 0) {
        if (o1 != o2 && o3 != o4) {
          problems.push_back({i, edge_name(i, n) + " crosses " + edge_name(j, n)});
        }
        continue;
      }
      if (on_segment(a, b, c)) touch(j, i);
      if (on_segment(a, b, d)) touch(j2, i);
      if (on_segment(c, d, a)) touch(i, j);
      if (on_segment(c, d, b)) touch(i2, j);
    }
  }
  return problems;
}

std::vector<FieldError> validate_zone_config(const nlohmann::json& config) {
  Checker checker;
  checker.check_config(config);
  return std::move(checker.errors);
}

ZoneConfigCheck check_zone_config(std::string_view text) {
  ZoneConfigCheck result;
  if (text.size() > kMaxZoneConfigBytes) {
    result.malformed = "larger than " + std::to_string(kMaxZoneConfigBytes / 1024) +
                       " KiB (a zone config is a few kilobytes)";
    return result;
  }
  // Duplicate keys are refused, not silently resolved: the config shown
  // later must be the one that was meant.
  std::vector<std::set<std::string>> keys;
  std::optional<std::string> duplicate;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second && !duplicate) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    result.config = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, …",
    // "[json.exception.out_of_range.406] number overflow parsing '1e400'":
    // the part a person reads.
    auto bracket = what.find("] ");
    result.malformed =
        "not JSON: " + (bracket == std::string::npos ? what : what.substr(bracket + 2));
    return result;
  }
  if (duplicate) {
    result.malformed =
        "not JSON we accept: the key \"" + *duplicate + "\" appears twice in one object";
    return result;
  }
  result.errors = validate_zone_config(result.config);
  return result;
}

std::string canonical_zone_config(const nlohmann::json& config) {
  return config.dump(-1, ' ', false, json::error_handler_t::replace);
}

nlohmann::json field_errors_json(const std::vector<FieldError>& errors) {
  json out = json::array();
  for (const auto& e : errors) out.push_back({{"pointer", e.pointer}, {"detail", e.detail}});
  return out;
}

std::string describe_field_errors(const std::vector<FieldError>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += (e.pointer.empty() ? std::string("(the document)") : e.pointer) + ": " + e.detail;
  }
  return out;
}

}  // namespace rs1
