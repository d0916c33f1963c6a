// A strict RFC 8259 validator for the hot path: telemetry and state payloads
// only need to be "a JSON object", and building a DOM for each message would
// cost more than the rest of the broker's work on it.
#pragma once

#include <string_view>

namespace rs1 {

// True when `text` is exactly one JSON object (surrounding white space
// allowed), every string is valid UTF-8, and nesting is at most `max_depth`.
bool is_json_object(std::string_view text, int max_depth = 64);

}  // namespace rs1
