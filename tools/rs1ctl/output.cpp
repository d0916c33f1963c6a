#include "output.hpp"

#include <algorithm>

namespace rs1ctl {

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
