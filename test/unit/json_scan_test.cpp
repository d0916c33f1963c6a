// json_scan: the hot-path validator that decides whether a device payload is
// "a JSON object" (SPEC §5). Strict RFC 8259, valid UTF-8, bounded depth; the
// samples are cross-checked against nlohmann::json, the DOM parser the rest
// of the product uses.
#include "core/json_scan.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "unit_support.hpp"

using rs1::is_json_object;

namespace {

// What nlohmann::json says about the same text: one document, an object.
bool nlohmann_says_object(const std::string& text) {
  if (!nlohmann::json::accept(text)) return false;
  return nlohmann::json::parse(text).is_object();
}

std::string nested_objects(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  for (int i = 0; i < depth; ++i) s += "}";
  return s;
}

std::string nested_arrays_in_object(int arrays) {
  return "{\"a\":" + std::string(static_cast<std::size_t>(arrays), '[') +
         std::string(static_cast<std::size_t>(arrays), ']') + "}";
}

// Printable form of a sample for failure messages.
std::string escaped(const std::string& s) {
  std::string out;
  static const char digits[] = "0123456789abcdef";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
  }
  return out;
}

}  // namespace

TEST_CASE("json_scan: accepts valid objects", "[json_scan]") {
  auto [what, text] = GENERATE(table<std::string, std::string>({
      {"empty object", "{}"},
      {"white space around and inside", " \t\r\n{ \"a\" : 1 , \"b\" :\n2 }\r\n "},
      {"every literal", R"({"t":true,"f":false,"n":null})"},
      {"nested objects and arrays", R"({"a":{"b":[1,2,{"c":null}],"d":[]},"e":{}})"},
      {"empty key", R"({"":1})"},
      {"duplicate keys", R"({"a":1,"a":2})"},
      {"every simple escape", R"({"s":"\"\\\/\b\f\n\r\t"})"},
      {"\\u escape", R"({"s":"\u00e9\u20AC"})"},
      {"escaped NUL", R"({"s":"\u0000"})"},
      {"surrogate pair escape", R"({"s":"\ud83d\ude00"})"},
      {"surrogate pair upper case", R"({"s":"\uD83D\uDE00"})"},
      {"2-byte UTF-8", "{\"s\":\"d\xC3\xA9j\xC3\xA0\"}"},
      {"3-byte UTF-8", "{\"s\":\"\xE2\x82\xAC\"}"},
      {"4-byte UTF-8", "{\"s\":\"\xF0\x9F\x98\x80\"}"},
      {"largest code point", "{\"s\":\"\xF4\x8F\xBF\xBF\"}"},
      {"UTF-8 in a key", "{\"t\xC3\xA9mp\":1}"},
      {"DEL is not a control character", "{\"s\":\"\x7F\"}"},
      {"zero", R"({"n":0})"},
      {"minus zero", R"({"n":-0})"},
      {"exponent", R"({"n":1e5})"},
      {"fraction and signed exponent", R"({"n":1.5E-3})"},
      {"plus exponent", R"({"n":-12.5e+10})"},
      {"zero fraction", R"({"n":0.0})"},
      {"big integer", R"({"n":123456789012345678901234567890})"},
      {"numbers in an array", R"({"n":[0,-1,2.5,3e-7,-0.0]})"},
  }));
  CAPTURE(what, escaped(text));
  CHECK(is_json_object(text));
  CHECK(nlohmann_says_object(text));
}

TEST_CASE("json_scan: rejects everything else", "[json_scan]") {
  auto [what, text] = GENERATE(table<std::string, std::string>({
      // Not an object at the top.
      {"empty", ""},
      {"only white space", " \n\t "},
      {"array", "[]"},
      {"array of an object", "[{}]"},
      {"string", "\"{}\""},
      {"number", "1"},
      {"true", "true"},
      {"null", "null"},
      // Broken structure.
      {"trailing comma", R"({"a":1,})"},
      {"lone comma", "{,}"},
      {"key without value", R"({"a"})"},
      {"key and colon only", R"({"a":})"},
      {"missing colon", R"({"a" 1})"},
      {"missing comma", R"({"a":1 "b":2})"},
      {"unquoted key", "{a:1}"},
      {"single quotes", "{'a':1}"},
      {"number as key", "{1:2}"},
      {"unclosed array", R"({"a":[1,2})"},
      {"array trailing comma", R"({"a":[1,]})"},
      {"unterminated object", R"({"a":1)"},
      {"unterminated after comma", R"({"a":1,)"},
      {"unterminated string", R"({"a":"x)"},
      {"unterminated key", R"({"a)"},
      {"open brace", "{"},
      {"close brace", "}"},
      // Numbers.
      {"leading zero", R"({"a":01})"},
      {"negative leading zero", R"({"a":-01})"},
      {"bare NaN", R"({"a":NaN})"},
      {"Infinity", R"({"a":Infinity})"},
      {"minus only", R"({"a":-})"},
      {"trailing dot", R"({"a":1.})"},
      {"leading dot", R"({"a":.5})"},
      {"plus sign", R"({"a":+1})"},
      {"empty exponent", R"({"a":1e})"},
      {"exponent sign only", R"({"a":1e+})"},
      {"hex", R"({"a":0x10})"},
      {"misspelled literal", R"({"a":tru})"},
      {"capitalised literal", R"({"a":True})"},
      // Strings.
      {"raw newline in a string", "{\"a\":\"x\ny\"}"},
      {"raw tab in a string", "{\"a\":\"x\ty\"}"},
      {"raw control char", "{\"a\":\"\x01\"}"},
      {"raw NUL in a string", std::string("{\"a\":\"\0\"}", 9)},
      {"unknown escape", R"({"a":"\x41"})"},
      {"escaped single quote", R"({"a":"\'"})"},
      {"short \\u escape", R"({"a":"\u12"})"},
      {"non-hex \\u escape", R"({"a":"\uZZZZ"})"},
      {"lone high surrogate", R"({"a":"\ud800"})"},
      {"high surrogate then letter", R"({"a":"\ud800A"})"},
      {"high surrogate then non-surrogate escape", R"({"a":"\ud800\u0041"})"},
      {"two high surrogates", R"({"a":"\ud800\ud800"})"},
      {"lone low surrogate", R"({"a":"\udc00"})"},
      {"reversed surrogate pair", R"({"a":"\ude00\ud83d"})"},
      // Invalid UTF-8.
      {"lone continuation byte", "{\"a\":\"\x80\"}"},
      {"overlong slash (2 bytes)", "{\"a\":\"\xC0\xAF\"}"},
      {"overlong C1", "{\"a\":\"\xC1\xBF\"}"},
      {"overlong slash (3 bytes)", "{\"a\":\"\xE0\x80\xAF\"}"},
      {"overlong slash (4 bytes)", "{\"a\":\"\xF0\x80\x80\xAF\"}"},
      {"UTF-8 encoded high surrogate", "{\"a\":\"\xED\xA0\x80\"}"},
      {"UTF-8 encoded low surrogate", "{\"a\":\"\xED\xBF\xBF\"}"},
      {"past U+10FFFF", "{\"a\":\"\xF4\x90\x80\x80\"}"},
      {"F5 lead byte", "{\"a\":\"\xF5\x80\x80\x80\"}"},
      {"FF byte", "{\"a\":\"\xFF\"}"},
      {"truncated 2-byte sequence", "{\"a\":\"\xC3\"}"},
      {"truncated 3-byte sequence", "{\"a\":\"\xE2\x82\"}"},
      {"truncated 4-byte sequence at the end", "{\"a\":\"\xF0\x9F\x98"},
      {"invalid UTF-8 in a key", "{\"\xFF\":1}"},
      {"invalid byte outside strings", "{\xFF}"},
      // More than one document, trailing garbage.
      {"two objects", "{}{}"},
      {"two objects with space", "{} {}"},
      {"trailing garbage", "{}x"},
      {"trailing comma after object", "{},"},
      {"trailing close brace", "{}}"},
      {"comment", "{} // c"},
  }));
  CAPTURE(what, escaped(text));
  CHECK_FALSE(is_json_object(text));
  CHECK_FALSE(nlohmann_says_object(text));
}

TEST_CASE("json_scan: strict where nlohmann::json is lenient", "[json_scan]") {
  // nlohmann::json skips a UTF-8 byte order mark and stops at a NUL byte;
  // a device payload with either is not "exactly one JSON object".
  const std::string bom = "\xEF\xBB\xBF{}";
  const std::string nul_then_garbage("{}\0junk", 7);
  CHECK_FALSE(is_json_object(bom));
  CHECK_FALSE(is_json_object(nul_then_garbage));
  CHECK_FALSE(is_json_object(std::string("{}\0", 3)));
}

TEST_CASE("json_scan: nesting depth limit", "[json_scan]") {
  // The top-level object is depth 1; arrays count like objects.
  CHECK(is_json_object(nested_objects(64)));
  CHECK_FALSE(is_json_object(nested_objects(65)));
  CHECK(is_json_object(nested_arrays_in_object(63)));
  CHECK_FALSE(is_json_object(nested_arrays_in_object(64)));
  CHECK(is_json_object(nested_objects(3), 3));
  CHECK_FALSE(is_json_object(nested_objects(4), 3));
  CHECK(is_json_object("{}", 1));
  CHECK_FALSE(is_json_object("{\"a\":[]}", 1));
  // Deep enough to overflow a careless recursive parser's stack.
  CHECK_FALSE(is_json_object(nested_objects(100000)));
  CHECK_FALSE(is_json_object("{\"a\":" + std::string(100000, '[')));
}

TEST_CASE("json_scan: agrees with nlohmann::json on generated documents", "[json_scan]") {
  // Every prefix of a document exercising each construct: only the complete
  // one is an object, and both parsers must say so for every cut.
  const std::string doc =
      "{\"id\":\"dev-a\",\"n\":[0,-1,2.5e3,-0.25E-2,true,false,null],"
      "\"s\":\"esc \\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \xC3\xA9\xE2\x82\xAC"
      "\xF0\x9F\x98\x80\",\"o\":{\"p\":{},\"q\":[]}}";
  REQUIRE(is_json_object(doc));
  for (std::size_t cut = 0; cut <= doc.size(); ++cut) {
    const std::string prefix = doc.substr(0, cut);
    CAPTURE(cut, escaped(prefix));
    CHECK(is_json_object(prefix) == nlohmann_says_object(prefix));
  }
  // And every single-byte corruption with a byte that often breaks parsers.
  for (std::size_t at = 0; at < doc.size(); ++at) {
    for (char bad : {'"', '\\', ',', '}', ']', '\x01', '\x80', '\xFF', '0'}) {
      std::string mutated = doc;
      mutated[at] = bad;
      CAPTURE(at, escaped(mutated));
      CHECK(is_json_object(mutated) == nlohmann_says_object(mutated));
    }
  }
}
