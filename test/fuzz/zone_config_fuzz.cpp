// The zone config rules of SPEC §6 (features/zones/zone_config) on any
// text: never a crash, every error a pointer into the document with a
// sentence in valid UTF-8, and a valid config's canonical form valid and
// canonical again.
#include "features/zones/zone_config.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const rs1::ZoneConfigCheck result = rs1::check_zone_config(text);
  check(!result.malformed || result.errors.empty(), "a malformed config has no field errors", text,
        std::to_string(result.errors.size()) + " errors", "0 errors");
  for (const rs1::FieldError& e : result.errors) {
    check(e.pointer.empty() || e.pointer[0] == '/', "an error's pointer", text, e.pointer,
          "\"\" or /…");
    check(!e.detail.empty(), "an error's detail", text, "\"\"", "a sentence");
  }
  // The API's problem document and rs1ctl's one-line message; the
  // sentences quote only what the parser already checked, so they are
  // UTF-8 and a strict dump() must not throw.
  const std::string problem = rs1::field_errors_json(result.errors).dump();
  rs1::describe_field_errors(result.errors);
  if (result.ok()) {
    const std::string canonical = rs1::canonical_zone_config(result.config);
    const rs1::ZoneConfigCheck again = rs1::check_zone_config(canonical);
    check(again.ok(), "the canonical form of a valid config is valid", text,
          again.malformed ? *again.malformed : rs1::describe_field_errors(again.errors), "valid");
    check(rs1::canonical_zone_config(again.config) == canonical, "canonical form is stable", text,
          rs1::canonical_zone_config(again.config), canonical);
  }
  return 0;
}
