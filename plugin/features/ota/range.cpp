#include "features/ota/range.hpp"

#include <limits>
#include <optional>

#include "core/text.hpp"

namespace rs1 {
namespace {

// Digits only, no sign. A number past 18 digits is well-formed (RFC 9110
// puts no bound on it) and larger than any file: it saturates.
std::optional<std::int64_t> number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  constexpr std::int64_t kHuge = std::numeric_limits<std::int64_t>::max();
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v > (kHuge - 9) / 10 ? kHuge : v * 10 + (c - '0');
  }
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

ByteRange parse_range(std::string_view header, std::int64_t size) {
  ByteRange whole;
  header = trim_blanks(header);
  if (header.empty()) return whole;
  auto eq = header.find('=');
  if (eq == std::string_view::npos || !iequals(trim_blanks(header.substr(0, eq)), "bytes"))
    return whole;
  std::string_view spec = trim_blanks(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return whole;  // multiple ranges: served whole
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view a = trim_blanks(spec.substr(0, dash));
  std::string_view b = trim_blanks(spec.substr(dash + 1));
  ByteRange r;
  r.kind = ByteRange::Kind::partial;
  if (a.empty()) {  // suffix: the last n bytes
    auto n = number(b);
    if (!n) return whole;
    if (*n == 0 || size == 0) return ByteRange{ByteRange::Kind::unsatisfiable, 0, 0};
    r.first = *n >= size ? 0 : size - *n;
    r.last = size - 1;
    return r;
  }
  auto first = number(a);
  if (!first) return whole;
  std::optional<std::int64_t> last;
  if (!b.empty()) {
    last = number(b);
    if (!last || *last < *first) return whole;  // invalid: ignored
  }
  if (*first >= size) return ByteRange{ByteRange::Kind::unsatisfiable, 0, 0};
  r.first = *first;
  r.last = last && *last < size ? *last : size - 1;
  return r;
}

}  // namespace rs1
