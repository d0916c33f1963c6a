// HTTP Range for firmware downloads: single ranges (a-b, a-, -n) of a file
// of known size; 416 when nothing of the file is selected; what we ignore.
#include <catch2/catch.hpp>
#include <string>

#include "features/ota/range.hpp"

using namespace rs1;
using K = ByteRange::Kind;

TEST_CASE("ota range: single ranges, suffixes, unsatisfiable and ignored ones", "[ota]") {
  auto [header, size, kind, first, last] =
      GENERATE(table<std::string, std::int64_t, K, std::int64_t, std::int64_t>({
          {"", 100, K::whole, 0, 0},
          {"bytes=0-9", 100, K::partial, 0, 9},
          {"bytes=10-", 100, K::partial, 10, 99},
          {"bytes=-10", 100, K::partial, 90, 99},
          {"bytes=-1000", 100, K::partial, 0, 99},  // longer than the file: all of it
          {"bytes=99-99", 100, K::partial, 99, 99},
          {"bytes=50-1000", 100, K::partial, 50, 99},  // last clipped to the file
          {"BYTES = 1-2", 100, K::partial, 1, 2},
          {"bytes=100-", 100, K::unsatisfiable, 0, 0},  // first byte past the end
          {"bytes=100-200", 100, K::unsatisfiable, 0, 0},
          {"bytes=-0", 100, K::unsatisfiable, 0, 0},
          {"bytes=0-", 0, K::unsatisfiable, 0, 0},  // an empty file has no byte 0
          {"bytes=-5", 0, K::unsatisfiable, 0, 0},
          {"bytes=5-2", 100, K::whole, 0, 0},      // invalid: ignored
          {"bytes=0-1,5-6", 100, K::whole, 0, 0},  // several: served whole
          {"items=0-1", 100, K::whole, 0, 0},
          {"bytes=a-b", 100, K::whole, 0, 0},
          {"bytes=-", 100, K::whole, 0, 0},
          {"bytes=+1-2", 100, K::whole, 0, 0},
          {"bytes=99999999999999999999-", 100, K::unsatisfiable, 0, 0},  // past any file
          {"bytes=0-99999999999999999999", 100, K::partial, 0, 99},
          {"bytes=-99999999999999999999", 100, K::partial, 0, 99},
          {"bytes=abc", 100, K::whole, 0, 0},
          {"bytes=", 100, K::whole, 0, 0},
          {"bytes=1-2-3", 100, K::whole, 0, 0},
          {"bytes 0-1", 100, K::whole, 0, 0},
      }));
  CAPTURE(header, size);
  ByteRange r = parse_range(header, size);
  CHECK(r.kind == kind);
  if (kind == K::partial) {
    CHECK(r.first == first);
    CHECK(r.last == last);
  }
}
