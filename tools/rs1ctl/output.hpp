// How rs1ctl shows things: the JSON documents of SPEC §8 (made in
// plugin/documents, shared with the Device API) and aligned text tables.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "documents/json.hpp"

namespace rs1ctl {

using rs1::doc::dump_json;
using rs1::doc::format_time;
using rs1::doc::format_time_ms;
using rs1::doc::is_raw_json;
using rs1::doc::Json;
using rs1::doc::object_or_null;
using rs1::doc::raw_json_text;
using rs1::doc::raw_object_or_null;
using rs1::doc::string_member;
using rs1::doc::value_or_null;

// Columns padded to their widest cell; the last one is not padded, so no line
// ends in blanks. Without headers it lays out "name  value" lines.
class Table {
 public:
  explicit Table(std::vector<std::string> headers = {});
  void add_row(std::vector<std::string> cells);
  // `when_empty` is printed instead of a table with no rows.
  std::string str(std::string_view when_empty = "") const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace rs1ctl
