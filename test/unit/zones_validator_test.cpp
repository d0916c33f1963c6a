// SPEC §6 zone config rules: every rule with the pointer and sentence it
// reports, all errors of a config at once, strict parsing, and the exact
// simple-polygon check against the shapes that fool naive ones.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "features/zones/zone_config.hpp"

using namespace rs1;
using nlohmann::json;

namespace {

// A valid config with one zone whose fields the table overrides.
json base_zone() {
  return json{{"id", 1},
              {"name", "Sofa"},
              {"type", "detect"},
              {"points", json::array({json::array({-1000, 500}), json::array({1000, 500}),
                                      json::array({0, 2000})})}};
}

json config_with(const json& zone) { return json{{"zones", json::array({zone})}}; }

std::string errors_text(const std::vector<FieldError>& errors) {
  return describe_field_errors(errors);
}

std::vector<ZonePoint> pts(std::vector<std::pair<int, int>> xy) {
  std::vector<ZonePoint> out;
  for (auto [x, y] : xy) out.push_back(ZonePoint{x, y});
  return out;
}

}  // namespace

TEST_CASE("zones: valid configs pass", "[zones]") {
  auto text = GENERATE(
      as<std::string>{}, R"({"zones":[]})", R"({"zones":[],"sensitivity":1})",
      R"({"zones":[],"sensitivity":10})",
      R"({"zones":[{"id":1,"name":"Sofa","type":"detect","points":[[0,0],[100,0],[0,100]]}],"sensitivity":5})",
      // An exclude zone inside a detect zone: overlap is no error.
      R"({"zones":[{"id":1,"name":"Room","type":"detect","points":[[-6000,0],[6000,0],[6000,6000],[-6000,6000]]},
                                    {"id":255,"name":"Fan","type":"exclude","points":[[-100,1000],[100,1000],[100,1200],[-100,1200]]}]})",
      // 32 characters, counted as characters (ä is two bytes).
      R"({"zones":[{"id":2,"name":"ääääääääääääääääääääääääääääääää","type":"exclude","points":[[0,0],[10,0],[0,10]]}]})");
  CAPTURE(text);
  ZoneConfigCheck check = check_zone_config(text);
  CHECK_FALSE(check.malformed);
  CHECK(errors_text(check.errors) == "");
  CHECK(check.ok());
}

TEST_CASE("zones: every rule names its field as a JSON pointer", "[zones]") {
  using Row = std::tuple<std::string, std::string, std::string>;  // config, pointer, detail
  auto [text, pointer, detail] = GENERATE(table<std::string, std::string, std::string>({
      Row{R"([])", "", "a zone config must be a JSON object {\"zones\":[…],\"sensitivity\":N}"},
      Row{R"({})", "/zones", "zones is required (an array of 0 to 16 zones)"},
      Row{R"({"zones":{}})", "/zones", "zones must be an array of 0 to 16 zones"},
      Row{R"({"zones":[],"colour":"red"})", "/colour",
          "unknown key (a zone config has zones and sensitivity)"},
      Row{R"({"zones":[],"a/b~c":1})", "/a~1b~0c",
          "unknown key (a zone config has zones and sensitivity)"},
      Row{R"({"zones":[],"sensitivity":0})", "/sensitivity",
          "sensitivity must be an integer within 1..10"},
      Row{R"({"zones":[],"sensitivity":11})", "/sensitivity",
          "sensitivity must be an integer within 1..10"},
      Row{R"({"zones":[],"sensitivity":5.5})", "/sensitivity",
          "sensitivity must be an integer within 1..10"},
      Row{R"({"zones":[],"sensitivity":"5"})", "/sensitivity",
          "sensitivity must be an integer within 1..10"},
      Row{R"({"zones":[7]})", "/zones/0",
          "a zone must be a JSON object {\"id\",\"name\",\"type\",\"points\"}"},
      Row{R"({"zones":[{"name":"A","type":"detect","points":[[0,0],[9,0],[0,9]]}]})", "/zones/0/id",
          "id is required (an integer within 1..255)"},
      Row{R"({"zones":[{"id":0,"name":"A","type":"detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/id", "id must be an integer within 1..255"},
      Row{R"({"zones":[{"id":256,"name":"A","type":"detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/id", "id must be an integer within 1..255"},
      Row{R"({"zones":[{"id":1.5,"name":"A","type":"detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/id", "id must be an integer within 1..255"},
      Row{R"({"zones":[{"id":18446744073709551615,"name":"A","type":"detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/id", "id must be an integer within 1..255"},
      Row{R"({"zones":[{"id":1,"type":"detect","points":[[0,0],[9,0],[0,9]]}]})", "/zones/0/name",
          "name is required (1 to 32 characters)"},
      Row{R"({"zones":[{"id":1,"name":"","type":"detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/name", "name must be 1 to 32 characters (it has 0)"},
      Row{R"({"zones":[{"id":1,"name":"123456789012345678901234567890123","type":"detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/name", "name must be 1 to 32 characters (it has 33)"},
      Row{R"({"zones":[{"id":1,"name":3,"type":"detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/name", "name must be a string of 1 to 32 characters"},
      Row{R"({"zones":[{"id":1,"name":"A","points":[[0,0],[9,0],[0,9]]}]})", "/zones/0/type",
          "type is required (\"detect\" or \"exclude\")"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"Detect","points":[[0,0],[9,0],[0,9]]}]})",
          "/zones/0/type", "type must be \"detect\" or \"exclude\""},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect"}]})", "/zones/0/points",
          "points is required (3 to 16 [x,y] vertices)"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":{}}]})", "/zones/0/points",
          "points must be an array of 3 to 16 [x,y] vertices"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0]]}]})",
          "/zones/0/points", "a zone needs 3 to 16 points (it has 2)"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0]]}]})",
          "/zones/0/points/2", "a point must be an array [x, y] of two integers (millimetres)"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0,9,9]]}]})",
          "/zones/0/points/2", "a point must be an array [x, y] of two integers (millimetres)"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0.5,9]]}]})",
          "/zones/0/points/2/0", "x must be an integer (millimetres)"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0,"9"]]}]})",
          "/zones/0/points/2/1", "y must be an integer (millimetres)"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[-6001,9]]}]})",
          "/zones/0/points/2/0", "x must be within -6000..6000"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[6001,0],[0,9]]}]})",
          "/zones/0/points/1/0", "x must be within -6000..6000"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,-1],[9,0],[0,9]]}]})",
          "/zones/0/points/0/1", "y must be within 0..6000"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0,6001]]}]})",
          "/zones/0/points/2/1", "y must be within 0..6000"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,0],[0,9]],"colour":1}]})",
          "/zones/0/colour", "unknown key (a zone has id, name, type and points)"},
      Row{R"({"zones":[{"id":1,"name":"A","type":"detect","points":[[0,0],[9,9],[9,0],[0,9]]}]})",
          "/zones/0/points/0",
          "the edge from point 0 to point 1 crosses the edge from point 2 to point 3"},
  }));
  CAPTURE(text);
  ZoneConfigCheck check = check_zone_config(text);
  REQUIRE_FALSE(check.malformed);
  REQUIRE(check.errors.size() == 1);
  CHECK(check.errors[0].pointer == pointer);
  CHECK(check.errors[0].detail == detail);
}

TEST_CASE("zones: more than 16 zones, and 17 points", "[zones]") {
  json zones = json::array();
  for (int i = 1; i <= 17; ++i) {
    json z = base_zone();
    z["id"] = i;
    zones.push_back(z);
  }
  auto errors = validate_zone_config(json{{"zones", zones}});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == FieldError{"/zones", "at most 16 zones are allowed (there are 17)"});

  json z = base_zone();
  z["points"] = json::array();
  for (int i = 0; i < 17; ++i) z["points"].push_back(json::array({i * 10, i * i}));
  errors = validate_zone_config(config_with(z));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == FieldError{"/zones/0/points", "a zone needs 3 to 16 points (it has 17)"});
  // 16 on a convex curve are fine.
  z["points"].erase(16);
  CHECK(validate_zone_config(config_with(z)).empty());
}

TEST_CASE("zones: a duplicate id names the zone that has it first", "[zones]") {
  json a = base_zone(), b = base_zone(), c = base_zone();
  b["id"] = 2;
  c["id"] = 1;
  auto errors = validate_zone_config(json{{"zones", {a, b, c}}});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == FieldError{"/zones/2/id", "id 1 is already used by /zones/0"});
}

TEST_CASE("zones: every error of a config is reported, in document order", "[zones]") {
  const std::string text = R"({"zones":[
      {"id":1,"name":"Sofa","type":"detect","points":[[0,0],[100,0],[0,100]]},
      {"id":1,"name":"","type":"both","points":[[0,0],[100,0],[0,100]]},
      {"id":3,"name":"Desk","type":"exclude","points":[[0,0],[100,0],[0,100],[7000,-5]]}],
    "sensitivity":0,"extra":true})";
  ZoneConfigCheck check = check_zone_config(text);
  REQUIRE_FALSE(check.malformed);
  std::vector<FieldError> expected = {
      {"/extra", "unknown key (a zone config has zones and sensitivity)"},
      {"/zones/1/id", "id 1 is already used by /zones/0"},
      {"/zones/1/name", "name must be 1 to 32 characters (it has 0)"},
      {"/zones/1/type", "type must be \"detect\" or \"exclude\""},
      {"/zones/2/points/3/0", "x must be within -6000..6000"},
      {"/zones/2/points/3/1", "y must be within 0..6000"},
      {"/sensitivity", "sensitivity must be an integer within 1..10"},
  };
  CHECK(check.errors == expected);
  CHECK(field_errors_json(check.errors)[4] ==
        json{{"pointer", "/zones/2/points/3/0"}, {"detail", "x must be within -6000..6000"}});
  CHECK(describe_field_errors({expected[4]}) ==
        "/zones/2/points/3/0: x must be within -6000..6000");
}

TEST_CASE("zones: text that is not JSON is malformed, not invalid", "[zones]") {
  auto text = GENERATE(as<std::string>{}, "", "{", "{\"zones\":[]} x", "{'zones':[]}",
                       "{\"zones\":[],\"zones\":[]}", "{\"zones\":[{\"id\":1,\"id\":2}]}",
                       std::string("{\"zones\":[],\"x\":\"\xff\"}"));
  CAPTURE(text);
  ZoneConfigCheck check = check_zone_config(text);
  CHECK(check.malformed);
  CHECK_FALSE(check.ok());
  CHECK(check.errors.empty());
}

TEST_CASE("zones: a number past a double is malformed, not an exception", "[zones]") {
  // Found by fuzz.zone_config: nlohmann refuses 1e400 with out_of_range,
  // not parse_error, and it escaped check_zone_config (rs1ctl zone set
  // took it for an internal error).
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"1e400", "not JSON: number overflow parsing '1e400'"},
      {R"({"zones":[],"sensitivity":-1e400})", "not JSON: number overflow parsing '-1e400'"},
  }));
  CAPTURE(text);
  ZoneConfigCheck check = check_zone_config(text);
  CHECK(check.malformed == expected);
  CHECK(check.errors.empty());
}

TEST_CASE("zones: a config larger than the limit is refused unread", "[zones]") {
  std::string text =
      "{\"zones\":[]," + std::string("\"pad\":\"") + std::string(kMaxZoneConfigBytes, 'x') + "\"}";
  ZoneConfigCheck check = check_zone_config(text);
  REQUIRE(check.malformed);
  CHECK(*check.malformed == "larger than 256 KiB (a zone config is a few kilobytes)");
}

TEST_CASE("zones: the canonical form is compact and keeps every value", "[zones]") {
  ZoneConfigCheck check = check_zone_config(
      " {\n \"zones\" : [ "
      "{\"type\":\"detect\",\"points\":[[0,0],[10,0],[0,10]],\"name\":\"A\",\"id\":4} ],"
      "\"sensitivity\": 7 }\n");
  REQUIRE(check.ok());
  CHECK(
      canonical_zone_config(check.config) ==
      R"({"sensitivity":7,"zones":[{"id":4,"name":"A","points":[[0,0],[10,0],[0,10]],"type":"detect"}]})");
}

TEST_CASE("zones: simple polygon check on the tricky shapes", "[zones]") {
  using Row = std::tuple<const char*, std::vector<ZonePoint>, std::string>;  // "" = simple
  auto [what, points, problems] = GENERATE(table<const char*, std::vector<ZonePoint>, std::string>({
      Row{"triangle counter-clockwise", pts({{0, 0}, {100, 0}, {0, 100}}), ""},
      Row{"triangle clockwise", pts({{0, 0}, {0, 100}, {100, 0}}), ""},
      Row{"square counter-clockwise", pts({{0, 0}, {10, 0}, {10, 10}, {0, 10}}), ""},
      Row{"square clockwise", pts({{0, 0}, {0, 10}, {10, 10}, {10, 0}}), ""},
      Row{"concave (arrow)", pts({{0, 0}, {10, 5}, {0, 10}, {3, 5}}), ""},
      Row{"collinear consecutive points going straight on",
          pts({{0, 0}, {5, 0}, {10, 0}, {10, 10}, {0, 10}}), ""},
      Row{"the full field of view", pts({{-6000, 0}, {6000, 0}, {6000, 6000}, {-6000, 6000}}), ""},
      Row{"bow-tie", pts({{0, 0}, {10, 10}, {10, 0}, {0, 10}}),
          "0: the edge from point 0 to point 1 crosses the edge from point 2 to point 3"},
      Row{"pentagram (every pair of non-adjacent edges crosses)",
          pts({{0, 0}, {5, 10}, {10, 0}, {0, 6}, {10, 6}}),
          "0: the edge from point 0 to point 1 crosses the edge from point 2 to point 3; "
          "0: the edge from point 0 to point 1 crosses the edge from point 3 to point 4; "
          "1: the edge from point 1 to point 2 crosses the edge from point 3 to point 4; "
          "1: the edge from point 1 to point 2 crosses the edge from point 4 to point 0; "
          "2: the edge from point 2 to point 3 crosses the edge from point 4 to point 0"},
      Row{"repeated vertex (consecutive)", pts({{0, 0}, {10, 0}, {10, 0}, {0, 10}}),
          "2: point 2 repeats point 1"},
      Row{"repeated vertex (not consecutive, a pinch)",
          pts({{0, 0}, {10, 0}, {5, 5}, {10, 10}, {0, 10}, {5, 5}}), "5: point 5 repeats point 2"},
      Row{"last point repeats the first", pts({{0, 0}, {10, 0}, {0, 10}, {0, 0}}),
          "3: point 3 repeats point 0"},
      Row{"zero area: all on one line", pts({{0, 0}, {5, 5}, {10, 10}}),
          "-: all points lie on one line: the zone has zero area"},
      Row{"zero area: four on one line", pts({{0, 0}, {10, 0}, {20, 0}, {5, 0}}),
          "-: all points lie on one line: the zone has zero area"},
      Row{"spike: collinear consecutive points turning back",
          pts({{0, 0}, {10, 0}, {10, 10}, {10, 5}, {0, 10}}),
          "2: point 2 turns back along the edge it came from (the edges overlap); "
          "3: point 3 lies on the edge from point 1 to point 2"},
      Row{"vertex touching a non-adjacent edge", pts({{0, 0}, {10, 0}, {10, 10}, {5, 0}, {0, 10}}),
          "3: point 3 lies on the edge from point 0 to point 1"},
      Row{"two non-adjacent edges overlapping",
          pts({{0, 0}, {10, 0}, {10, 5}, {6, 5}, {6, 0}, {3, 0}, {3, 8}, {0, 8}}),
          "4: point 4 lies on the edge from point 0 to point 1; "
          "5: point 5 lies on the edge from point 0 to point 1"},
  }));
  CAPTURE(what);
  std::string found;
  for (const auto& p : simple_polygon_problems(points)) {
    if (!found.empty()) found += "; ";
    found +=
        (p.vertex == PolygonProblem::kWholePolygon ? std::string("-") : std::to_string(p.vertex)) +
        ": " + p.detail;
  }
  CHECK(found == problems);
}

TEST_CASE("zones: a polygon problem points at the vertex in the config", "[zones]") {
  json z = base_zone();
  z["points"] = json::array({json::array({0, 0}), json::array({10, 0}), json::array({10, 10}),
                             json::array({5, 0}), json::array({0, 10})});
  auto errors = validate_zone_config(json{{"zones", {base_zone(), z}}});
  REQUIRE(errors.size() == 2);  // the duplicate id and the shape
  CHECK(errors[1] ==
        FieldError{"/zones/1/points/3", "point 3 lies on the edge from point 0 to point 1"});
  z["points"] = json::array({json::array({0, 0}), json::array({3, 3}), json::array({6, 6})});
  z["id"] = 9;
  errors = validate_zone_config(config_with(z));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        FieldError{"/zones/0/points", "all points lie on one line: the zone has zero area"});
}
