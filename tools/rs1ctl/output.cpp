#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace rs1ctl {
namespace {

// Seconds and the milliseconds within them, rounding towards the past so
// that -1 ms is 1969-12-31T23:59:59.999Z.
std::string format_utc(std::int64_t unix_s, std::optional<int> millis) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  char buf[64];
  if (gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return std::to_string(unix_s);
  }
  std::string out(buf);
  if (millis) {
    std::snprintf(buf, sizeof buf, ".%03d", *millis);
    out += buf;
  }
  return out + "Z";
}

}  // namespace

std::string dump_json(const Json& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

Json object_or_null(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, false);
  return parsed.is_object() ? parsed : Json(nullptr);
}

Json object_or_null(const std::optional<std::string>& text) {
  return text ? object_or_null(*text) : Json(nullptr);
}

std::string format_time(std::int64_t unix_s) { return format_utc(unix_s, std::nullopt); }

std::string format_time_ms(std::int64_t unix_ms) {
  std::int64_t millis = ((unix_ms % 1000) + 1000) % 1000;
  return format_utc((unix_ms - millis) / 1000, static_cast<int>(millis));
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

std::string Table::str(std::string_view when_empty) const {
  if (rows_.empty()) return when_empty.empty() ? std::string() : std::string(when_empty) + "\n";
  std::vector<const std::vector<std::string>*> lines;
  if (!headers_.empty()) lines.push_back(&headers_);
  for (const auto& row : rows_) lines.push_back(&row);

  std::vector<std::size_t> widths;
  for (const auto* line : lines) {
    if (widths.size() < line->size()) widths.resize(line->size(), 0);
    for (std::size_t i = 0; i < line->size(); ++i)
      widths[i] = std::max(widths[i], (*line)[i].size());
  }
  std::string out;
  for (const auto* line : lines) {
    for (std::size_t i = 0; i < line->size(); ++i) {
      const std::string& cell = (*line)[i];
      out += cell;
      if (i + 1 < line->size()) out.append(widths[i] - cell.size() + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

}  // namespace rs1ctl
