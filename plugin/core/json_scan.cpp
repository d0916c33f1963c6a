#include "core/json_scan.hpp"

#include <cstdint>
#include <cstring>

namespace rs1 {
namespace {

class Scanner {
 public:
  Scanner(std::string_view text, int max_depth) : p_(text.data()), end_(p_ + text.size()), max_depth_(max_depth) {}

  bool document() {
    skip_ws();
    if (p_ == end_ || *p_ != '{') return false;
    if (!value(0)) return false;
    skip_ws();
    return p_ == end_;
  }

 private:
  const char* p_;
  const char* end_;
  int max_depth_;

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size()) return false;
    if (std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  bool value(int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  bool object(int depth) {
    if (depth > max_depth_) return false;
    ++p_;  // '{'
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (p_ == end_ || *p_ != '"' || !string()) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_ws();
      if (!value(depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      return false;
    }
  }

  bool array(int depth) {
    if (depth > max_depth_) return false;
    ++p_;  // '['
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (!value(depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return false;
    }
  }

  static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  // Reads "uXXXX" at p_ (p_ on the 'u') into `unit`.
  bool hex4(std::uint32_t& unit) {
    if (end_ - p_ < 5) return false;
    unit = 0;
    for (int i = 1; i <= 4; ++i) {
      char c = p_[i];
      if (!is_hex(c)) return false;
      unit = unit * 16 + static_cast<std::uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    p_ += 5;
    return true;
  }

  // One UTF-8 sequence starting at p_ (already known to be >= 0x80).
  bool utf8_sequence() {
    auto b0 = static_cast<std::uint8_t>(*p_);
    int len;
    std::uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07;
    } else {
      return false;
    }
    if (end_ - p_ < len) return false;
    for (int i = 1; i < len; ++i) {
      auto b = static_cast<std::uint8_t>(p_[i]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p_ += len;
    return true;
  }

  // The high bit of each byte of `w` that is a quote, a backslash, a
  // control character or not ASCII: the bytes string() looks at one by one.
  // The lowest bit set is exact (a borrow only follows a true hit), which is
  // all skip_plain() uses.
  static std::uint64_t special_bytes(std::uint64_t w) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    const std::uint64_t q = w ^ (ones * '"');
    const std::uint64_t b = w ^ (ones * '\\');
    const std::uint64_t zero_q = (q - ones) & ~q;
    const std::uint64_t zero_b = (b - ones) & ~b;
    const std::uint64_t control = (w - ones * 0x20) & ~w;
    return (zero_q | zero_b | control | w) & highs;
  }

  // Moves p_ to the next byte string() must look at, 8 bytes at a time: the
  // padding and the readings of a telemetry payload are most of its bytes.
  void skip_plain() {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end_ - p_ >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p_, sizeof w);
      if (const std::uint64_t special = special_bytes(w)) {
        p_ += __builtin_ctzll(special) / 8;  // memcpy loads little-endian here
        return;
      }
      p_ += 8;
    }
#endif  // elsewhere string() looks at every byte
  }

  bool string() {
    ++p_;  // opening quote
    for (;;) {
      skip_plain();
      if (p_ == end_) return false;
      auto c = static_cast<std::uint8_t>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++p_;
        if (p_ == end_) return false;
        switch (*p_) {
          case '"':
          case '\\':
          case '/':
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
            ++p_;
            break;
          case 'u': {
            std::uint32_t unit;
            if (!hex4(unit)) return false;
            if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // lone low surrogate
            if (unit >= 0xD800 && unit <= 0xDBFF) {
              // A high surrogate must be followed by an escaped low one.
              if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
              ++p_;
              if (!hex4(unit) || unit < 0xDC00 || unit > 0xDFFF) return false;
            }
            break;
          }
          default:
            return false;
        }
        continue;
      }
      if (c >= 0x80) {
        if (!utf8_sequence()) return false;
        continue;
      }
      ++p_;
    }
  }

  bool digits() {
    const char* start = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ != start;
  }

  bool number() {
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (!digits()) {
      return false;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
    }
    return true;
  }
};

}  // namespace

bool is_json_object(std::string_view text, int max_depth) {
  return Scanner(text, max_depth).document();
}

}  // namespace rs1
