#include "core/time_parse.hpp"

#include <cctype>
#include <limits>
#include <string>

namespace rs1 {
namespace {

bool read_digits(std::string_view s, std::size_t& i, std::size_t n, std::int64_t& out) {
  if (i + n > s.size()) return false;
  out = 0;
  for (std::size_t k = 0; k < n; ++k) {
    char c = s[i + k];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  i += n;
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

std::optional<std::int64_t> parse_iso(std::string_view s) {
  std::size_t i = 0;
  std::int64_t year, month, day, hour = 0, minute = 0, second = 0;
  if (!read_digits(s, i, 4, year) || i >= s.size() || s[i++] != '-') return std::nullopt;
  if (!read_digits(s, i, 2, month) || i >= s.size() || s[i++] != '-') return std::nullopt;
  if (!read_digits(s, i, 2, day)) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, static_cast<unsigned>(month))) {
    return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (i < s.size()) {
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return std::nullopt;
    ++i;
    if (!read_digits(s, i, 2, hour) || i >= s.size() || s[i++] != ':') return std::nullopt;
    if (!read_digits(s, i, 2, minute)) return std::nullopt;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!read_digits(s, i, 2, second)) return std::nullopt;
      if (i < s.size() && s[i] == '.') {
        ++i;
        std::size_t start = i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
        if (i == start) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    if (i < s.size()) {
      if (s[i] == 'Z' || s[i] == 'z') {
        ++i;
      } else if (s[i] == '+' || s[i] == '-') {
        int sign = s[i] == '-' ? -1 : 1;
        ++i;
        std::int64_t oh, om = 0;
        if (!read_digits(s, i, 2, oh)) return std::nullopt;
        if (i < s.size() && s[i] == ':') ++i;
        if (i < s.size() && !read_digits(s, i, 2, om)) return std::nullopt;
        if (oh > 23 || om > 59) return std::nullopt;
        offset_s = sign * (oh * 3600 + om * 60);
      }
    }
    if (i != s.size()) return std::nullopt;
  }
  std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<std::int64_t> parse_time(std::string_view text, std::int64_t now_s) {
  if (text.empty() || text.size() > 40) return std::nullopt;
  if (all_digits(text)) {
    if (text.size() > 12) return std::nullopt;
    return std::stoll(std::string(text));
  }
  char unit = text.back();
  std::string_view amount = text.substr(0, text.size() - 1);
  if (all_digits(amount) && amount.size() <= 9) {
    std::int64_t n = std::stoll(std::string(amount));
    switch (unit) {
      case 's':
        return now_s - n;
      case 'm':
        return now_s - n * 60;
      case 'h':
        return now_s - n * 3600;
      case 'd':
        return now_s - n * 86400;
      default:
        break;
    }
  }
  return parse_iso(text);
}

}  // namespace rs1
