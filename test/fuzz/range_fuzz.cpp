// The Range header of firmware downloads (features/ota/range, RFC 9110
// §14): whatever the header, the answer is the whole file, a range inside
// it, or unsatisfiable; and a well-formed single range means what the RFC
// says. Input: 8 bytes of file size, then the header's value.
#include <optional>
#include <string>

#include "features/ota/range.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::ByteRange;
  using rs1::fuzz::check;
  rs1::fuzz::Input in(data, size);
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  std::uint64_t raw = 0;
  for (int i = 0; i < 8; ++i) raw = raw << 8 | in.byte();
  // Mostly small files (where the edges are), sometimes any size at all.
  const std::int64_t file_size =
      static_cast<std::int64_t>((raw >> 63) ? raw & 0x7fffffffffffffffULL : raw % 4096);
  const std::string_view header = in.rest();

  const ByteRange r = rs1::parse_range(header, file_size);
  const std::string answer = r.kind == ByteRange::Kind::whole ? "whole"
                             : r.kind == ByteRange::Kind::partial
                                 ? std::to_string(r.first) + "-" + std::to_string(r.last)
                                 : "unsatisfiable";
  if (r.kind == ByteRange::Kind::partial) {
    check(r.first >= 0 && r.first <= r.last && r.last < file_size, "a range inside the file", whole,
          answer, "0 <= first <= last < " + std::to_string(file_size));
  }
  // "bytes=A-B" with plain small numbers: what RFC 9110 §14.1.2 says.
  const std::string h(header);
  if (h.rfind("bytes=", 0) == 0 && h.size() <= 20) {
    const std::string spec = h.substr(6);
    const std::size_t dash = spec.find('-');
    auto number = [](const std::string& s) -> std::optional<std::int64_t> {
      if (s.empty() || s.size() > 15) return std::nullopt;
      for (char c : s)
        if (c < '0' || c > '9') return std::nullopt;
      return std::stoll(s);
    };
    if (dash != std::string::npos) {
      const auto a = number(spec.substr(0, dash));
      const auto b = number(spec.substr(dash + 1));
      std::string expected;
      if (a && b && *b >= *a) {
        expected = *a >= file_size
                       ? "unsatisfiable"
                       : std::to_string(*a) + "-" + std::to_string(std::min(*b, file_size - 1));
      } else if (a && dash + 1 == spec.size()) {
        expected = *a >= file_size ? "unsatisfiable"
                                   : std::to_string(*a) + "-" + std::to_string(file_size - 1);
      } else if (!a && dash == 0 && b) {
        expected = (*b == 0 || file_size == 0)
                       ? "unsatisfiable"
                       : std::to_string(*b >= file_size ? 0 : file_size - *b) + "-" +
                             std::to_string(file_size - 1);
      } else if (a && b) {
        expected = "whole";  // last < first: invalid, ignored
      }
      if (!expected.empty()) check(answer == expected, "bytes=A-B", whole, answer, expected);
    }
  }
  return 0;
}
