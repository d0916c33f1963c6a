#include "documents/json.hpp"

#include <cstdio>
#include <ctime>

#include "core/json_scan.hpp"

namespace rs1::doc {
namespace {

// Marks our binary values as raw JSON text ('J'); a binary from anywhere
// else (there is none) would be written by nlohmann as usual.
constexpr std::uint64_t kRawJsonSubtype = 0x4a;

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_json_space(std::string_view text) {
  while (!text.empty() && is_json_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_json_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string dump_scalar(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// nlohmann's own layout (the same bytes value.dump(indent) gives), with raw
// values spliced in as their text.
void write_json(std::string& out, const Json& value, int indent, int depth) {
  const bool pretty = indent >= 0;
  auto newline = [&](int level) {
    if (!pretty) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
  };
  if (is_raw_json(value)) {
    out += raw_json_text(value);
  } else if (value.is_object()) {
    if (value.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      out += dump_scalar(Json(it.key()));
      out += pretty ? ": " : ":";
      write_json(out, it.value(), indent, depth + 1);
    }
    newline(depth);
    out += '}';
  } else if (value.is_array()) {
    if (value.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const Json& element : value) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      write_json(out, element, indent, depth + 1);
    }
    newline(depth);
    out += ']';
  } else {
    out += dump_scalar(value);
  }
}

// A cursor over text known to be valid JSON (is_json_object said so), for
// string_member: it only has to find where tokens end.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : text_(text) {}

  void skip_space() {
    while (at_ < text_.size() && is_json_space(text_[at_])) ++at_;
  }
  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
  void advance() { ++at_; }

  // The string token here, quotes included.
  std::string_view string_token() {
    std::size_t start = at_++;
    while (at_ < text_.size() && text_[at_] != '"') at_ += text_[at_] == '\\' ? 2 : 1;
    ++at_;  // closing quote
    return text_.substr(start, at_ - start);
  }

  void skip_value() {
    char c = peek();
    if (c == '"') {
      string_token();
    } else if (c == '{' || c == '[') {
      int depth = 0;
      do {
        c = peek();
        if (c == '"') {
          string_token();
          continue;
        }
        if (c == '{' || c == '[') ++depth;
        if (c == '}' || c == ']') --depth;
        advance();
      } while (depth > 0);
    } else {
      while (at_ < text_.size() && text_[at_] != ',' && text_[at_] != '}' && text_[at_] != ']' &&
             !is_json_space(text_[at_])) {
        ++at_;
      }
    }
  }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

// A string token decoded (escapes, \u sequences); strings never overflow.
std::optional<std::string> decode_string(std::string_view token) {
  Json parsed = Json::parse(std::string(token), nullptr, false);
  if (!parsed.is_string()) return std::nullopt;
  return parsed.get<std::string>();
}

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
  std::string out;
  write_json(out, value, indent, 0);
  return out;
}

Json raw_object_or_null(std::string_view text) {
  if (!rs1::is_json_object(text)) return Json(nullptr);
  std::string_view object = trim_json_space(text);
  return Json::binary(Json::binary_t::container_type(object.begin(), object.end()),
                      kRawJsonSubtype);
}

Json raw_object_or_null(const std::string& text) {
  return raw_object_or_null(std::string_view(text));
}

Json raw_object_or_null(const std::optional<std::string>& text) {
  return text ? raw_object_or_null(std::string_view(*text)) : Json(nullptr);
}

bool is_raw_json(const Json& value) {
  return value.is_binary() && value.get_binary().has_subtype() &&
         value.get_binary().subtype() == kRawJsonSubtype;
}

std::string_view raw_json_text(const Json& value) {
  if (!is_raw_json(value)) return {};
  const auto& bytes = value.get_binary();
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::optional<std::string> string_member(std::string_view object_text, std::string_view key) {
  if (!rs1::is_json_object(object_text)) return std::nullopt;
  JsonCursor cursor(object_text);
  cursor.skip_space();
  cursor.advance();  // '{'
  std::optional<std::string> found;
  for (;;) {
    cursor.skip_space();
    if (cursor.peek() != '"') break;  // '}'
    std::optional<std::string> name = decode_string(cursor.string_token());
    cursor.skip_space();
    cursor.advance();  // ':'
    cursor.skip_space();
    if (name && *name == key) {
      // A later member of the same name wins, as in nlohmann and JavaScript.
      if (cursor.peek() == '"') {
        found = decode_string(cursor.string_token());
      } else {
        found.reset();
        cursor.skip_value();
      }
    } else {
      cursor.skip_value();
    }
    cursor.skip_space();
    if (cursor.peek() != ',') break;
    cursor.advance();
  }
  return found;
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

}  // namespace rs1::doc
