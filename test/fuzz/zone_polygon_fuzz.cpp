// The simple-polygon rule of SPEC §6 (features/zones/zone_config:
// simple_polygon_problems) against a brute-force reference: every pair of
// edges intersected exactly, adjacent ones allowed their shared vertex and
// nothing more. Input: a byte for the coordinate scale (a small grid finds
// the collinear and touching cases, a wide one the large products), then
// two bytes per coordinate.
#include <vector>

#include "features/zones/zone_config.hpp"
#include "fuzz_support.hpp"

namespace {

using rs1::ZonePoint;

std::int64_t cross(const ZonePoint& o, const ZonePoint& a, const ZonePoint& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

int sign(std::int64_t v) { return (v > 0) - (v < 0); }

// p on the closed segment ab.
bool on(const ZonePoint& a, const ZonePoint& b, const ZonePoint& p) {
  return cross(a, b, p) == 0 && std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x) &&
         std::min(a.y, b.y) <= p.y && p.y <= std::max(a.y, b.y);
}

// The closed segments ab and cd share at least one point.
bool intersect(const ZonePoint& a, const ZonePoint& b, const ZonePoint& c, const ZonePoint& d) {
  const int d1 = sign(cross(c, d, a)), d2 = sign(cross(c, d, b));
  const int d3 = sign(cross(a, b, c)), d4 = sign(cross(a, b, d));
  if (d1 * d2 < 0 && d3 * d4 < 0) return true;
  return on(c, d, a) || on(c, d, b) || on(a, b, c) || on(a, b, d);
}

bool reference_simple(const std::vector<ZonePoint>& p) {
  const std::size_t n = p.size();
  if (n < 3) return false;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      if (p[i] == p[j]) return false;
  bool area = false;
  for (std::size_t k = 2; k < n; ++k) area = area || cross(p[0], p[1], p[k]) != 0;
  if (!area) return false;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const ZonePoint &a = p[i], &b = p[(i + 1) % n], &c = p[j], &d = p[(j + 1) % n];
      if (j == i + 1 || (i == 0 && j == n - 1)) {
        // Adjacent: the shared vertex, and not one point more.
        const ZonePoint& shared = j == i + 1 ? b : a;
        const ZonePoint& x = j == i + 1 ? a : b;  // the far end of edge i
        const ZonePoint& y = j == i + 1 ? d : c;  // the far end of edge j
        if (on(shared, x, y) || on(shared, y, x)) return false;
        continue;
      }
      if (intersect(a, b, c, d)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rs1::fuzz::Input in(data, size);
  const std::uint8_t scale = in.byte();
  auto coordinate = [&]() -> std::int64_t {
    const auto v = static_cast<std::int16_t>(in.byte() | (in.byte() << 8));
    switch (scale % 3) {
      case 0:
        return v % 7;  // a 13x13 grid: collinear, touching, overlapping
      case 1:
        return v;  // within the zone bounds' order of magnitude
      default:
        return static_cast<std::int64_t>(v) * (1 << 14);  // near the ±2^30 the rule allows
    }
  };
  std::vector<ZonePoint> points;
  while (!in.empty() && points.size() < 24) {
    const std::int64_t x = coordinate();
    const std::int64_t y = coordinate();
    points.push_back({x, y});
  }
  const auto problems = rs1::simple_polygon_problems(points);
  const bool ours = problems.empty();
  const bool reference = reference_simple(points);
  auto shape = [&] {
    std::string out;
    for (const auto& p : points) out += "(" + std::to_string(p.x) + "," + std::to_string(p.y) + ")";
    return out;
  };
  if (ours != reference) {
    rs1::fuzz::check(false, "simple_polygon_problems against brute force", shape(),
                     ours ? "simple" : "not simple: " + problems.front().detail,
                     reference ? "simple" : "not simple");
  }
  for (const auto& p : problems) {
    if (p.vertex != rs1::PolygonProblem::kWholePolygon && p.vertex >= points.size()) {
      rs1::fuzz::check(false, "a problem's vertex", shape(), std::to_string(p.vertex), "a vertex");
    }
  }
  return 0;
}
