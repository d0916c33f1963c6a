#include "devices_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/identity.hpp"

namespace rs1::sim {

namespace {

using Json = nlohmann::json;

bool is_secret(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

[[noreturn]] void fail(std::size_t line, const std::string& why) {
  throw DevicesFileError("line " + std::to_string(line) + ": " + why);
}

SimDevice device_of(const Json& j, std::size_t line) {
  if (!j.is_object()) fail(line, "not a JSON object");
  auto id = j.find("device_id");
  if (id == j.end() || !id->is_string()) fail(line, "no \"device_id\" string");
  auto secret = j.find("secret");
  if (secret == j.end() || !secret->is_string()) fail(line, "no \"secret\" string");
  SimDevice d{id->get<std::string>(), secret->get<std::string>()};
  if (!is_valid_device_id(d.device_id)) fail(line, "invalid device id \"" + d.device_id + "\"");
  if (!is_secret(d.secret))
    fail(line, "the secret of " + d.device_id + " is not 64 lowercase hex characters");
  return d;
}

// Line numbers of offsets asked for mostly in increasing order: counting
// from the last answer keeps a file of 10,000 devices linear.
class LineCounter {
 public:
  explicit LineCounter(const std::string& text) : text_(text) {}
  std::size_t line_at(std::size_t offset) {
    if (offset < offset_) {
      offset_ = 0;
      line_ = 1;
    }
    for (; offset_ < offset && offset_ < text_.size(); ++offset_) line_ += text_[offset_] == '\n';
    return line_;
  }

 private:
  const std::string& text_;
  std::size_t offset_ = 0;
  std::size_t line_ = 1;
};

// The end (one past) of the JSON object or array starting at `begin`, or
// npos when the text ends first. Strings are skipped whole, so braces in
// them do not count.
std::size_t end_of_value(const std::string& text, std::size_t begin) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = begin; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string::npos;
}

// Where each element of the JSON array text[begin, end) starts, so an
// element's error names its own line. The array is known to be valid JSON.
std::vector<std::size_t> element_starts(const std::string& text, std::size_t begin,
                                        std::size_t end) {
  std::vector<std::size_t> starts;
  int depth = 0;
  bool in_string = false;
  bool expecting = false;  // the next non-blank character at depth 1 starts an element
  for (std::size_t i = begin; i < end; ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (depth == 1 && expecting && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ']') {
      starts.push_back(i);
      expecting = false;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth == 1) expecting = true;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expecting = true;
    }
  }
  return starts;
}

}  // namespace

std::vector<SimDevice> parse_devices(std::istream& in) {
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  // A byte order mark, as some editors save UTF-8.
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.replace(0, 3, 3, ' ');
  LineCounter lines(text);
  std::vector<SimDevice> out;
  std::set<std::string> seen;
  auto add = [&](const Json& j, std::size_t line) {
    SimDevice d = device_of(j, line);
    if (!seen.insert(d.device_id).second) fail(line, "device " + d.device_id + " appears twice");
    out.push_back(std::move(d));
  };

  // A sequence of JSON documents, as `rs1ctl device add --json` prints them
  // one after another (pretty-printed or one a line); each is a device or
  // an array of devices.
  for (std::size_t pos = text.find_first_not_of(" \t\r\n"); pos != std::string::npos;
       pos = text.find_first_not_of(" \t\r\n", pos)) {
    const std::size_t line = lines.line_at(pos);
    if (text[pos] != '{' && text[pos] != '[') fail(line, "expected a JSON object or array");
    const std::size_t end = end_of_value(text, pos);
    if (end == std::string::npos) fail(line, "the JSON document does not end");
    Json doc;
    try {
      doc = Json::parse(text.begin() + static_cast<std::ptrdiff_t>(pos),
                        text.begin() + static_cast<std::ptrdiff_t>(end));
    } catch (const Json::parse_error& e) {
      // The line of the offending character, inside a pretty-printed document.
      fail(lines.line_at(pos + (e.byte > 0 ? e.byte - 1 : 0)), "invalid JSON");
    } catch (const Json::out_of_range&) {
      // A number past a double (1e400), which the parser refuses this way.
      fail(line, "invalid JSON (a number out of range)");
    }
    if (doc.is_array()) {
      auto starts = element_starts(text, pos, end);
      for (std::size_t i = 0; i < doc.size(); ++i) {
        add(doc[i], i < starts.size() ? lines.line_at(starts[i]) : line);
      }
    } else {
      add(doc, line);
    }
    pos = end;
  }
  if (out.empty()) throw DevicesFileError("no devices in the file");
  return out;
}

std::vector<SimDevice> read_devices_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw DevicesFileError("cannot read " + path + ": it is a directory");
  }
  std::ifstream in(path);
  if (!in) throw DevicesFileError("cannot read " + path + ": " + std::strerror(errno));
  try {
    return parse_devices(in);
  } catch (const DevicesFileError& e) {
    throw DevicesFileError(path + ": " + e.what());
  }
}

}  // namespace rs1::sim
