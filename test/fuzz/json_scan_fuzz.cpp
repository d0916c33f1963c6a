// The hot path's JSON object scanner (core/json_scan) against nlohmann's
// strict parser as the reference, and the uplink payload rules
// (core/payload) on the same text. The reference: one JSON object at the
// top, at most 64 deep; the scanner alone also takes a number nlohmann
// cannot hold (1e400), which SPEC §5 calls JSON all the same.
#include <nlohmann/json.hpp>

#include "core/json_scan.hpp"
#include "core/payload.hpp"
#include "fuzz_support.hpp"

namespace {

// The nesting depth of well-formed JSON text: brackets outside strings.
int depth_of(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  using rs1::fuzz::yes_no;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const bool ours = rs1::is_json_object(text);
  bool reference = false;
  bool overflow = false;
  try {
    const nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end());
    // nlohmann takes a NUL byte for the end of the input; outside a string
    // it is not JSON, inside one it is an unescaped control character.
    reference =
        doc.is_object() && depth_of(text) <= 64 && text.find('\0') == std::string_view::npos;
  } catch (const nlohmann::json::out_of_range& e) {  // 406: a number past a double
    overflow = true;
  } catch (const nlohmann::json::parse_error&) {
  }
  check(ours == reference || (ours && overflow), "is_json_object against nlohmann::json", text,
        yes_no(ours), yes_no(reference) + (overflow ? " (number overflow)" : ""));

  // The uplink verdict agrees with the scanner and the schema parsers.
  const std::size_t limit = 1 + (size > 0 ? data[0] : 0) * 16;
  for (auto kind : {rs1::DeviceTopic::state, rs1::DeviceTopic::telemetry,
                    rs1::DeviceTopic::ota_status, rs1::DeviceTopic::config_status}) {
    const rs1::ParsedTopic topic{"dev-1", kind, kind == rs1::DeviceTopic::telemetry ? "t" : ""};
    const std::optional<rs1::DropReason> drop = rs1::check_uplink(topic, text, limit);
    std::optional<rs1::DropReason> expected;
    if (size > limit) {
      expected = rs1::DropReason::too_large;
    } else if (!ours) {
      expected = rs1::DropReason::not_json_object;
    } else if ((kind == rs1::DeviceTopic::ota_status && !rs1::parse_ota_status(text)) ||
               (kind == rs1::DeviceTopic::config_status && !rs1::parse_config_status(text))) {
      expected = rs1::DropReason::invalid_schema;
    }
    check(drop == expected, "check_uplink", text, drop ? rs1::drop_reason_name(*drop) : "accepted",
          expected ? rs1::drop_reason_name(*expected) : "accepted");
  }
  rs1::parse_state(text);
  return 0;
}
