// The device reports of SPEC §5: ota/status and config/status payloads
// (core/payload), the uplink decision that carries them
// (features/devices/uplink) and what a config/status becomes
// (features/zones: the recorded ack, its effect). Input: a byte that
// chooses the topic and the store's state, then the payload. Every report
// parsed is checked against the schema read again from nlohmann's DOM.
#include <nlohmann/json.hpp>

#include "core/payload.hpp"
#include "features/devices/uplink.hpp"
#include "features/zones/zones.hpp"
#include "fuzz_support.hpp"

namespace {

// A cut error never ends inside a UTF-8 sequence.
bool ends_on_character(const std::string& s) {
  std::size_t i = s.size();
  std::size_t back = 0;
  while (i > 0 && back < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++back;
  }
  if (i == 0) return back == 0;
  const auto lead = static_cast<unsigned char>(s[i - 1]);
  const std::size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  return back == len - 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  rs1::fuzz::Input in(data, size);
  const std::uint8_t choice = in.byte();
  const std::string_view payload = in.rest();
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  nlohmann::json doc = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);

  if (auto r = rs1::parse_ota_status(payload)) {
    const bool ok =
        doc.is_object() && doc["rollout_id"].is_number_integer() &&
        doc["rollout_id"].get<std::int64_t>() == r->rollout_id && r->rollout_id >= 0 &&
        doc["version"] == r->version && !r->version.empty() && r->version.size() <= 64 &&
        doc["status"] == r->status &&
        (r->status == "downloading" || r->status == "verifying" || r->status == "installing" ||
         r->status == "success" || r->status == "failed") &&
        doc["progress"] == r->progress && r->progress >= 0 && r->progress <= 100 &&
        (r->error ? doc["error"] == *r->error : !doc.contains("error") || doc["error"].is_null());
    check(ok, "parse_ota_status against the schema", whole, "a report", "no report");
  }
  if (auto r = rs1::parse_config_status(payload)) {
    const bool ok =
        doc.is_object() && doc["version"].is_number_integer() &&
        doc["version"].get<std::int64_t>() == r->version && r->version >= 1 &&
        doc["status"] == r->status && (r->status == "applied" || r->status == "rejected") &&
        (r->error ? doc["error"] == *r->error : !doc.contains("error") || doc["error"].is_null());
    check(ok, "parse_config_status against the schema", whole, "a report", "no report");

    const rs1::ZoneAck ack = rs1::zone_ack_of("dev-1", *r, 1700000000);
    check(!ack.error || (ack.error->size() <= rs1::kMaxZoneErrorBytes &&
                         r->error->compare(0, ack.error->size(), *ack.error) == 0 &&
                         ends_on_character(*ack.error)),
          "zone_ack_of cuts the error to a UTF-8 prefix", whole,
          ack.error ? std::to_string(ack.error->size()) + " bytes" : "none", "a prefix");
    rs1::ZoneAckState state;
    if (choice & 0x10) state.desired_version = (choice >> 5) + 1;
    if (choice & 0x04) state.applied_version = (choice >> 6) + 1;
    state.version_kept = (choice & 0x08) != 0;
    const rs1::ZoneAckEffect effect = rs1::decide_zone_ack(state, ack);
    check(!effect.applied_version ||
              (ack.status == "applied" && *effect.applied_version == ack.version),
          "decide_zone_ack moves the applied version only to an applied one", whole,
          effect.applied_version ? std::to_string(*effect.applied_version) : "none",
          std::to_string(ack.version));
    rs1::zone_ack_settles(state.desired_version.value_or(0), *r);
  }

  static constexpr rs1::DeviceTopic kKinds[] = {
      rs1::DeviceTopic::state,        rs1::DeviceTopic::telemetry,
      rs1::DeviceTopic::ota_status,   rs1::DeviceTopic::config_status,
      rs1::DeviceTopic::ota_trigger,  rs1::DeviceTopic::config_update,
      rs1::DeviceTopic::diag_request,
  };
  const rs1::ParsedTopic topic{"dev-1", kKinds[choice % 7], "temperature"};
  const rs1::UplinkDecision d = rs1::decide_uplink(7, topic, payload, 1700000000000, 65536);
  const bool accepted = !d.drop;
  check(accepted == (d.row || d.update || d.ota_status || d.config_status), "decide_uplink", whole,
        accepted ? "accepted" : rs1::drop_reason_name(*d.drop), "one outcome");
  return 0;
}
